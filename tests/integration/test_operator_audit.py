"""Issue 21 item 7 (M-25): command-line actions on personal data, cards, partners and money are in
the audit chain with the operator who ran them (CARD_OPERATOR, else the OS user), whatever the
outcome; the chain still verifies."""
from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from sqlalchemy import select

from app.card.models import Card, CarrierEvent
from app.platform.db import db
from app.service_desk.audit import verify_chain
from app.service_desk.models import AuditRecord

from ..helpers import ApiClient, roster_text
from .test_lifecycle import Story
from .test_partner_admin import cli


@pytest.fixture
def story(api: ApiClient) -> Story:
    return Story(api)


def _operator_records(api: ApiClient) -> list[AuditRecord]:
    with api.app.app_context():
        records = list(db.session.scalars(select(AuditRecord).where(AuditRecord.actor_kind == "operator")
                                          .order_by(AuditRecord.id)))
        db.session.expunge_all()
        return records


def test_a_roster_import_names_the_operator_and_the_file_not_the_people(api: ApiClient, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARD_OPERATOR", "zhang.wei")
    path = tmp_path / "roster-2026-12.csv"
    path.write_text(roster_text([("陈小明", "441900198506151235", "13800138000", "1")]), encoding="utf-8")
    assert cli(api, "roster", "import", str(path)).exit_code == 0
    [record] = _operator_records(api)
    assert (record.actor_id, record.actor_role, record.action) == ("zhang.wei", "operator", "roster_import")
    assert record.reference == "file:roster-2026-12.csv" and record.reason == "ok"
    assert record.fields == "name,id_number,phone,insured" and record.seq is not None  # sealed into the chain
    assert "陈小明" not in repr(record.__dict__) and "441900198506151235" not in repr(record.__dict__)
    with api.app.app_context():
        assert verify_chain(api.rt).ok


def test_without_card_operator_the_os_user_is_recorded_and_refusals_too(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARD_OPERATOR", raising=False)
    partner = api.partner(("transit",))
    assert cli(api, "partner", "grant", partner["partner_id"], "moon").exit_code == 2  # an unknown scene
    assert cli(api, "partner", "disable", "no-such-partner").exit_code != 0
    assert cli(api, "partner", "grant", partner["partner_id"], "medical").exit_code == 0
    records = _operator_records(api)
    assert [(r.action, r.reference) for r in records] == [("partner_grant", f"partner:{partner['partner_id']}"),
                                                         ("partner_disable", "partner:no-such-partner"),
                                                         ("partner_grant", f"partner:{partner['partner_id']}")]
    assert {r.actor_id for r in records} == {getpass.getuser()}
    assert [r.reason.split(":")[0] for r in records] == ["refused", "refused", "ok"]  # attempts are recorded too


def test_a_card_cancelled_from_the_cli_names_the_operator_in_the_card_history_and_the_trail(
        api: ApiClient, story: Story, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARD_OPERATOR", " li.na\x1b ")  # unprintable characters and spaces dropped
    story.activated()
    number = story.card_number()
    assert cli(api, "card", "cancel", number, "--reason", "holder request").exit_code == 0
    [record] = _operator_records(api)
    with api.app.app_context():
        card = db.session.scalar(select(Card).where(Card.card_number == number))
        actors = set(db.session.scalars(select(CarrierEvent.actor).where(CarrierEvent.card_id == card.id,
                                                                         CarrierEvent.to_state == "cancelled")))
        citizen_id = card.citizen_id
    assert (record.action, record.actor_id, record.citizen_id, record.reason) == ("card_cancel", "li.na", citizen_id, "ok")
    assert actors == {"operator:li.na"}
    assert number not in (record.reference or "")
