"""The hash-chained audit trail (M-25): staff access sealed at once, partner verifications
sealed by the job, and any edited, deleted or reordered record detected and named."""
from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DatabaseError

from app.cli import main
from app.platform.db import db
from app.platform.errors import AppError
from app.service_desk.audit import SETTLE_SECONDS, StaffActor, record_staff_access, seal_pending, verify_chain
from app.service_desk.models import AuditChainHead, AuditRecord

from ..helpers import ApiClient

AGENT = StaffActor(1, "agent1", "agent", None)


def _records(api: ApiClient, count: int) -> None:
    with api.app.app_context():
        for n in range(count):
            record_staff_access(api.rt, AGENT, "view", 7, f"CS20261129-{n:06d}", ["name_masked", "card_status"])
            api.clock.advance(1)


def _verify(api: ApiClient, checkpoint: Any = None) -> Any:
    with api.app.app_context():
        return verify_chain(api.rt, checkpoint)


# What someone with DDL rights could do; the chain must still show the tampering. PostgreSQL's
# trigger is enabled again in the same transaction (the database outlives the test); SQLite's
# database is the test's own file.
BYPASS_TRIGGERS = {
    "postgresql": (["ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only",
                    "ALTER TABLE audit_chain_head DISABLE TRIGGER audit_chain_head_forward_only"],
                   ["ALTER TABLE audit_records ENABLE TRIGGER audit_records_append_only",
                    "ALTER TABLE audit_chain_head ENABLE TRIGGER audit_chain_head_forward_only"]),
    "sqlite": (["DROP TRIGGER audit_records_no_delete", "DROP TRIGGER audit_records_sealed",
                "DROP TRIGGER audit_chain_head_no_delete", "DROP TRIGGER audit_chain_head_forward_only"], []),
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


def _head(api: ApiClient) -> Any:
    with api.app.app_context():
        head = db.session.get(AuditChainHead, 1)
        return head.seq, head.hash, head.key_id, head.signature


def _record_hash(api: ApiClient, seq: int) -> str:
    with api.app.app_context():
        return db.session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == seq))


def test_the_head_is_signed_and_only_moves_forward(api: ApiClient) -> None:
    _records(api, 3)
    seq, _, key_id, signature = _head(api)
    assert seq == 3 and key_id == "dev1" and signature
    head = AuditChainHead.__table__
    with api.app.app_context():
        for statement in (update(head).values(seq=2, hash=_record_hash(api, 2)), update(head).values(hash="0" * 64),
                          head.delete()):
            with pytest.raises(DatabaseError, match="only moves forward"):
                db.session.execute(statement)
            db.session.rollback()
    assert _verify(api).ok


def test_a_cut_off_tail_with_the_head_moved_back_fails_verify(api: ApiClient) -> None:
    _records(api, 5)  # the newest of them, say, an unmask
    _tamper(api, AuditRecord.__table__.delete().where(AuditRecord.seq > 3),
            update(AuditChainHead).values(seq=3, hash=_record_hash(api, 3)))
    report = _verify(api)
    assert not report.ok and "not signed" in report.first_bad


def test_a_forged_append_fails_verify(api: ApiClient) -> None:
    """The inserting role, without the signing key, appends a record with a correct hash and moves
    the head forward (which the trigger allows): the head's signature gives it away, and the app
    refuses to extend a head it did not sign."""
    from app.service_desk.audit import record_hash

    _records(api, 3)
    seq, previous, _, _ = _head(api)
    with api.app.app_context():
        forged = AuditRecord(at=api.clock.now(), actor_kind="staff", actor_id="agent1", actor_role="agent", department=None,
                             action="view", citizen_id=8, ticket_number="CS20261129-000009", reference=None,
                             fields="name_masked", reason=None)
        forged.seq, forged.prev_hash = seq + 1, previous
        forged.hash = record_hash(seq + 1, previous, forged)
        db.session.add(forged)
        db.session.execute(update(AuditChainHead).values(seq=seq + 1, hash=forged.hash))
        db.session.commit()
    report = _verify(api)
    assert not report.ok and report.first_bad.startswith("head (seq 4)") and "not signed" in report.first_bad
    with api.app.app_context(), pytest.raises(AppError) as refused:
        record_staff_access(api.rt, AGENT, "view", 7, "CS20261129-000001", ["name_masked"])
    assert refused.value.code == "audit_head_unsigned" and refused.value.http_status == 503
    sealing = api.app.test_cli_runner().invoke(main, ["audit", "seal"])
    assert sealing.exit_code == 1 and "not sealed" in sealing.output
    looping = api.app.test_cli_runner().invoke(main, ["audit", "seal", "--loop", "--interval", "1"])
    assert looping.exit_code == 1 and "not sealed" in looping.output  # the service stops: its manager restarts it, visibly
    assert _head(api)[0] == 4


def test_the_seal_loop_seals_each_round(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """`audit seal --loop` (the deploy/systemd service) seals, sleeps --interval, seals again."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("time.sleep", sleep)
    result = api.app.test_cli_runner().invoke(main, ["audit", "seal", "--loop", "--interval", "7"])
    assert result.output.count("sealed 0") == 2 and sleeps == [7.0, 7.0]


def test_an_unsigned_head_is_re_signed_by_an_audited_command(api: ApiClient) -> None:
    _records(api, 2)
    _tamper(api, update(AuditChainHead).values(signature=None))
    runner = api.app.test_cli_runner()
    assert runner.invoke(main, ["audit", "verify"]).exit_code == 1
    resigned = runner.invoke(main, ["audit", "resign", "--by", "ops.wang", "--reason", "INC-42: head lost its signature"])
    assert resigned.exit_code == 0, resigned.output
    assert _verify(api).ok and _head(api)[0] == 3
    with api.app.app_context():
        record = db.session.scalars(select(AuditRecord).where(AuditRecord.seq == 3)).one()
        assert (record.actor_kind, record.actor_id, record.action) == ("operator", "ops.wang", "resign")
        assert record.reason == "INC-42: head lost its signature" and "seq 2" in record.reference
    _records(api, 1)  # appends go on
    assert _verify(api).ok and _head(api)[0] == 4


def test_resign_needs_who_and_why_and_a_signature_problem(api: ApiClient) -> None:
    _records(api, 1)
    runner = api.app.test_cli_runner()
    assert runner.invoke(main, ["audit", "resign", "--by", "ops.wang"]).exit_code != 0
    intact = runner.invoke(main, ["audit", "resign", "--by", "ops.wang", "--reason", "just because"])
    assert intact.exit_code == 1 and "signed" in intact.output
    assert _head(api)[0] == 1


def _checkpoint(api: ApiClient, path: Any) -> None:
    written = api.app.test_cli_runner().invoke(main, ["audit", "checkpoint", str(path)])
    assert written.exit_code == 0, written.output


def test_a_head_restored_from_a_backup_is_caught_by_the_checkpoint(api: ApiClient, tmp_path: Any) -> None:
    _records(api, 3)
    backup = _head(api)  # the head row as a backup (or a copy kept by the attacker) holds it
    _records(api, 2)
    _checkpoint(api, tmp_path / "checkpoint.json")
    _tamper(api, AuditRecord.__table__.delete().where(AuditRecord.seq > 3),
            update(AuditChainHead).values(seq=backup[0], hash=backup[1], key_id=backup[2], signature=backup[3]))
    assert _verify(api).ok  # a consistent, signed, older chain: only an anchor outside the database tells
    runner = api.app.test_cli_runner()
    caught = runner.invoke(main, ["audit", "verify", "--checkpoint", str(tmp_path / "checkpoint.json")])
    assert caught.exit_code == 1 and "shorter than the checkpoint" in caught.output


def test_a_checkpoint_passes_on_a_longer_chain_and_catches_a_rewrite(api: ApiClient, tmp_path: Any) -> None:
    from app.service_desk.audit import load_checkpoint

    _records(api, 3)
    _checkpoint(api, tmp_path / "checkpoint.json")
    checkpoint = load_checkpoint(api.rt, (tmp_path / "checkpoint.json").read_text())
    assert (checkpoint.seq, checkpoint.hash) == (3, _head(api)[1])
    _records(api, 2)
    assert _verify(api, checkpoint).ok
    runner = api.app.test_cli_runner()
    ok = runner.invoke(main, ["audit", "verify", "--checkpoint", str(tmp_path / "checkpoint.json")])
    assert ok.exit_code == 0 and "checkpoint seq 3: matches" in ok.output

    def rewrite_everything() -> None:  # a whole new, consistent chain from seq 1
        from app.service_desk.audit import record_hash

        previous = "0" * 64
        for record in db.session.scalars(select(AuditRecord).order_by(AuditRecord.seq)):
            record.reason = "rewritten"
            record.prev_hash, record.hash = previous, record_hash(record.seq, previous, record)
            previous = record.hash
        db.session.flush()
        db.session.execute(update(AuditChainHead).values(seq=5, hash=previous))

    _tamper(api, rewrite_everything)
    assert runner.invoke(main, ["audit", "resign", "--by", "insider", "--reason", "cover-up"]).exit_code == 0
    assert _verify(api).ok  # re-chained and re-signed by someone holding the key: the checkpoint still tells
    report = _verify(api, checkpoint)
    assert not report.ok and "seq 3 differs from the checkpoint" in report.first_bad


def test_a_forged_checkpoint_is_refused(api: ApiClient, tmp_path: Any) -> None:
    import json

    from app.service_desk.audit import load_checkpoint

    _records(api, 2)
    _checkpoint(api, tmp_path / "checkpoint.json")
    data = json.loads((tmp_path / "checkpoint.json").read_text())
    data["seq"] = 1
    with pytest.raises(ValueError, match="signature"):
        load_checkpoint(api.rt, json.dumps(data))
    with pytest.raises(ValueError):
        load_checkpoint(api.rt, "not json")
    (tmp_path / "forged.json").write_text(json.dumps(data))
    refused = api.app.test_cli_runner().invoke(main, ["audit", "verify", "--checkpoint", str(tmp_path / "forged.json")])
    assert refused.exit_code == 2 and "signature" in refused.output


def test_a_checkpoint_of_a_tampered_chain_is_not_written(api: ApiClient, tmp_path: Any) -> None:
    _records(api, 2)
    _tamper(api, update(AuditRecord).where(AuditRecord.seq == 1).values(reason="x"))
    refused = api.app.test_cli_runner().invoke(main, ["audit", "checkpoint", str(tmp_path / "checkpoint.json")])
    assert refused.exit_code == 1 and not (tmp_path / "checkpoint.json").exists()


def test_a_checkpoint_to_a_missing_directory_is_one_clear_line(api: ApiClient, tmp_path: Any) -> None:
    _records(api, 1)
    refused = api.app.test_cli_runner().invoke(main, ["audit", "checkpoint", str(tmp_path / "absent" / "cp.json")])
    assert refused.exit_code == 1 and "checkpoint not written: cannot write" in refused.output
    assert "Traceback" not in refused.output and "FileNotFoundError" not in refused.output


def test_a_head_signed_by_a_key_dropped_from_the_list_is_named_as_a_missing_key(api: ApiClient) -> None:
    """An operator who removed the old key from CARD_AUDIT_KEYS is told so, not told of tampering."""
    _records(api, 2)
    api.rt.config["CARD_AUDIT_KEYS"] = "other1:" + base64.b64encode(b"o" * 32).decode()
    report = _verify(api)
    assert not report.ok and "which CARD_AUDIT_KEYS does not list" in report.first_bad
    assert "appended" not in report.first_bad


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


def test_the_console_shows_no_personal_data_while_the_head_is_unsigned(api: ApiClient) -> None:
    from ..helpers import PERSON
    from .test_console import _staff, _ticket

    number = _ticket(api)
    agent = _staff(api, "agent1", "agent")
    assert agent.get(f"/console/tickets/{number}/citizen").status_code == 200
    _tamper(api, update(AuditChainHead).values(signature=None))
    refused = agent.get(f"/console/tickets/{number}/citizen")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 503 and "审计" in page and "陈" not in page and PERSON["phone"][-4:] not in page
