"""The hash-chained audit trail (M-25): staff access sealed at once, partner verifications
sealed by the job, and any edited, deleted or reordered record detected and named."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DatabaseError

from app.cli import main
from app.platform.db import db
from app.service_desk.audit import SETTLE_SECONDS, StaffActor, record_staff_access, seal_pending, verify_chain
from app.service_desk.models import AuditChainHead, AuditRecord

from ..helpers import ApiClient

AGENT = StaffActor(1, "agent1", "agent", None)


def _records(api: ApiClient, count: int) -> None:
    with api.app.app_context():
        for n in range(count):
            record_staff_access(api.rt, AGENT, "view", 7, f"CS20261129-{n:06d}", ["name_masked", "card_status"])
            api.clock.advance(1)


def _verify(api: ApiClient) -> Any:
    with api.app.app_context():
        return verify_chain()


# What someone with DDL rights could do; the chain must still show the tampering. PostgreSQL's
# trigger is enabled again in the same transaction (the database outlives the test); SQLite's
# database is the test's own file.
BYPASS_TRIGGERS = {
    "postgresql": (["ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only"],
                   ["ALTER TABLE audit_records ENABLE TRIGGER audit_records_append_only"]),
    "sqlite": (["DROP TRIGGER audit_records_no_delete", "DROP TRIGGER audit_records_sealed"], []),
}


def _tamper(api: ApiClient, *statements: Any) -> None:
    """Run ``statements`` (SQL statements, or callables) past the append-only triggers; commit."""
    with api.app.app_context():
        bypass, restore = BYPASS_TRIGGERS[db.engine.dialect.name]
        for ddl in bypass:
            db.session.execute(text(ddl))
        for statement in statements:
            statement() if callable(statement) else db.session.execute(statement)
        db.session.flush()
        for ddl in restore:
            db.session.execute(text(ddl))
        db.session.commit()


def test_an_untouched_chain_verifies(api: ApiClient) -> None:
    _records(api, 5)
    report = _verify(api)
    assert report.ok and report.checked == 5 and report.pending == 0
    with api.app.app_context():
        head = db.session.get(AuditChainHead, 1)
        assert (head.seq, head.hash) == (5, report.head_hash)


@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_database_refuses_to_change_a_sealed_record(api: ApiClient, change: str) -> None:
    _records(api, 2)
    table = AuditRecord.__table__
    statement = (update(table).where(table.c.seq == 1).values(reason="x") if change == "update"
                 else table.delete().where(table.c.seq == 1))
    with api.app.app_context():
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(statement)
        db.session.rollback()
    assert _verify(api).ok


def test_an_edited_record_is_named(api: ApiClient) -> None:
    _records(api, 5)
    _tamper(api, update(AuditRecord).where(AuditRecord.seq == 3).values(fields="name_masked"))
    report = _verify(api)
    assert not report.ok and report.first_bad.startswith("seq 3 ") and "edited" in report.first_bad


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(api: ApiClient) -> None:
    from app.service_desk.audit import record_hash

    _records(api, 5)

    def forge() -> None:
        record = db.session.scalars(select(AuditRecord).where(AuditRecord.seq == 2)).one()
        record.ticket_number = "CS20261129-FORGED"
        record.hash = record_hash(record.seq, record.prev_hash, record)

    _tamper(api, forge)
    report = _verify(api)
    assert report.first_bad.startswith("seq 3 ") and "prev_hash" in report.first_bad


def test_a_deleted_record_is_named(api: ApiClient) -> None:
    _records(api, 5)
    _tamper(api, AuditRecord.__table__.delete().where(AuditRecord.seq == 2))
    assert _verify(api).first_bad.startswith("seq 3 ")


def test_a_deleted_tail_is_detected_by_the_head(api: ApiClient) -> None:
    _records(api, 5)
    _tamper(api, AuditRecord.__table__.delete().where(AuditRecord.seq == 5))
    report = _verify(api)
    assert not report.ok and report.first_bad.startswith("seq 5:") and "tail" in report.first_bad


def test_reordered_records_are_named(api: ApiClient) -> None:
    _records(api, 5)
    _tamper(api, update(AuditRecord).where(AuditRecord.seq == 2).values(seq=-2),
            update(AuditRecord).where(AuditRecord.seq == 3).values(seq=2),
            update(AuditRecord).where(AuditRecord.seq == -2).values(seq=3))
    report = _verify(api)
    assert report.first_bad.startswith("seq 2 ") and "prev_hash" in report.first_bad


def test_the_cli_exits_1_and_names_the_record(api: ApiClient) -> None:
    _records(api, 3)
    runner = api.app.test_cli_runner()
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0 and "ok: 3 records" in ok.output
    _tamper(api, update(AuditRecord).where(AuditRecord.seq == 1).values(actor_id="someone"))
    bad = runner.invoke(main, ["audit", "verify"])
    assert bad.exit_code == 1 and "TAMPERED: seq 1 " in bad.output


@pytest.mark.parametrize("kind", ["organisation", "government"])
def test_partner_verifications_are_copied_into_the_chain_once_settled(api: ApiClient, kind: str) -> None:
    token = api.bound_citizen()
    scenes = ("government",) if kind == "government" else ("transit",)
    partner = api.partner(scenes=scenes, kind=kind)
    accepted_id = api.verify(partner, api.code(token), scene=scenes[0]).json["verification_id"]
    assert api.verify(partner, "DGC1.not-a-code", scene=scenes[0]).json["reason"] == "code_invalid"
    _records(api, 1)  # staff access between: sealed at once, ahead of the verifications
    report = _verify(api)
    assert report.ok and report.checked == 1 and report.pending == 2
    with api.app.app_context():
        assert seal_pending(api.rt) == 0  # not settled yet: an INSERT may still be committing
    api.clock.advance(SETTLE_SECONDS + 1)
    with api.app.app_context():
        assert seal_pending(api.rt) == 2
        assert seal_pending(api.rt) == 0  # nothing is copied twice
        records = db.session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        assert [r.seq for r in records] == [1, 2, 3] and records[0].actor_kind == "staff"
        by_reference = {r.reference: r for r in records[1:]}
        accepted = by_reference.pop(accepted_id)
        assert accepted.actor_kind == "partner" and accepted.actor_id == partner["partner_id"]
        assert accepted.action == ("disclosure" if kind == "government" else "verification")
        assert accepted.citizen_id is not None and accepted.fields
        (refused,) = by_reference.values()
        assert refused.citizen_id is None and refused.reason.endswith(":code_invalid")
    assert _verify(api).ok and _verify(api).checked == 3 and _verify(api).pending == 0
    api.verify(partner, "DGC1.still-not-a-code", scene=scenes[0])
    assert _verify(api).pending == 1
