"""Issue 17 item 6: cancelling the mini-program account, closing the card, and the retention job
leaving exactly what the table of docs/operations.md says, table by table."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.card.models import BankReport, Card, CarrierEvent
from app.identity.models import AuthToken, MpAccount
from app.outbox.models import Subscription
from app.platform.db import db
from app.scanning.models import Verification
from app.service_desk.audit import record_account_event
from app.service_desk.models import AuditRecord

from ..helpers import ApiClient
from .test_login import error_code
from .test_partner_admin import cli

PASSWORD = "305172"
DAY = 86400


def _count(api: ApiClient, model: Any) -> int:
    with api.app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_cancelling_an_account_erases_it_at_once(api: ApiClient) -> None:
    token = api.login("o-leaving")
    assert api.client.delete("/api/mp/v1/account", json={}, headers=api.bearer(token)).status_code == 204
    assert error_code(api.client.get("/api/mp/v1/card/code", headers=api.bearer(token))) == "token_invalid"
    with api.app.app_context():
        account = db.session.scalars(select(MpAccount)).one()
        assert account.openid.startswith("cancelled:") and account.cancelled_at is not None
        assert db.session.scalar(select(func.count()).select_from(AuthToken)) == 0
    again = api.client.post("/api/mp/v1/auth/wechat", json={"code": api.wechat.issue_code(openid="o-leaving")}).json
    assert again["bound"] is False and again["binding_ended"] is None  # a new account
    assert _count(api, MpAccount) == 2


def test_a_bound_account_is_cancelled_after_reauthentication_and_the_card_stays(api: ApiClient) -> None:
    token = api.bound_citizen("o-holder")
    assert error_code(api.client.delete("/api/mp/v1/account", json={}, headers=api.bearer(token))) == "reauthentication_required"
    assert api.client.put("/api/mp/v1/card/password", json={"password": PASSWORD}, headers=api.bearer(token)).status_code == 204
    assert api.client.delete("/api/mp/v1/account", json={"password": PASSWORD}, headers=api.bearer(token)).status_code == 204
    assert api.bind(api.login("o-new")).status_code == 200  # the card is still the citizen's
    assert _count(api, Card) == 1


def test_closing_the_card_cancels_it_and_ends_the_binding(api: ApiClient) -> None:
    token = api.bound_citizen("o-holder")
    assert api.client.put("/api/mp/v1/card/password", json={"password": PASSWORD}, headers=api.bearer(token)).status_code == 204
    assert api.client.post("/api/mp/v1/card/closure", json={"password": PASSWORD}, headers=api.bearer(token)).status_code == 204
    assert error_code(api.client.get("/api/mp/v1/card/code", headers=api.bearer(token))) == "not_bound"
    with api.app.app_context():
        assert db.session.scalars(select(Card.status)).one() == "cancelled"


def _run(api: ApiClient) -> dict[str, int]:
    result = cli(api, "retention", "run")
    assert result.exit_code == 0, result.output
    return {table: int(count) for table, count in (line.split("\t") for line in result.output.strip().splitlines())}


def test_the_retention_job_keeps_exactly_what_the_table_says(api: ApiClient) -> None:
    token = api.bound_citizen("o-holder")
    metro = api.partner(("transit",))
    assert api.verify(metro, api.code(token)).json["accepted"] is True
    leaving = api.login("o-leaving")
    template = api.app.config["CARD_WECHAT_BENEFIT_TEMPLATE"]
    subscribed = api.client.post("/api/mp/v1/subscriptions", json={"template_id": template, "result": "accept"},
                                 headers=api.bearer(leaving))
    assert subscribed.status_code == 200 and _count(api, Subscription) == 1
    assert api.client.delete("/api/mp/v1/account", json={}, headers=api.bearer(leaving)).status_code == 204
    with api.app.app_context():
        db.session.add(BankReport(partner_id=1, request_id="rq-0000001", digest="", answer="{}", created_at=api.rt.clock.now()))
        db.session.commit()
        citizen_id = db.session.scalars(select(Card.citizen_id)).one()
        record_account_event(api.rt, "binding_evicted", 1, citizen_id, "a test record")
    tokens, audit, events = _count(api, AuthToken), _count(api, AuditRecord), _count(api, CarrierEvent)
    assert (tokens, _count(api, Verification), _count(api, BankReport)) == (1, 1, 1)

    api.clock.advance(29 * DAY)  # the live token expired 28 days ago; the tombstone is 29 days old
    assert _run(api)["auth_tokens"] == 0 and _count(api, MpAccount) == 2
    api.clock.advance(3 * DAY)
    deleted = _run(api)
    assert deleted["auth_tokens"] == 1 and deleted["mp_accounts"] == 1 and _count(api, Subscription) == 0
    assert _count(api, MpAccount) == 1 and _count(api, Verification) == 1 and _count(api, BankReport) == 1
    api.clock.advance(340 * DAY)
    assert _run(api)["bank_reports"] == 1 and _count(api, Verification) == 1
    api.clock.advance(3 * 365 * DAY)  # past CARD_VERIFICATION_RETENTION_MONTHS (36 whole months) of the record's step
    refused = cli(api, "retention", "run")  # not yet sealed into the audit chain: kept, exit 1
    assert refused.exit_code == 1 and "audit seal" in refused.output and _count(api, Verification) == 1
    assert cli(api, "audit", "seal").exit_code == 0
    deleted = _run(api)
    # PostgreSQL drops the record's whole monthly partition (and the empty ones after it); SQLite deletes the row
    assert deleted["verification_partitions"] + deleted["verifications"] >= 1 and _count(api, Verification) == 0
    # kept: the audit trail (plus the sealed copy of the record), the card's history, the citizen's card and account
    assert (_count(api, AuditRecord), _count(api, CarrierEvent), _count(api, Card)) == (audit + 1, events, 1)
    with api.app.app_context():  # the holder's account is never deleted by the job
        assert db.session.scalars(select(MpAccount.citizen_id)).one() is not None


def test_the_verification_period_is_whole_months_from_the_setting(api: ApiClient) -> None:
    """CARD_VERIFICATION_RETENTION_MONTHS=1: a record of two months ago goes, one of this month stays."""
    token = api.bound_citizen("o-holder")
    metro = api.partner(("transit",))
    assert api.verify(metro, api.code(token)).json["accepted"] is True
    api.app.config["CARD_VERIFICATION_RETENTION_MONTHS"] = 1
    api.clock.advance(20 * DAY)
    assert cli(api, "audit", "seal").exit_code == 0
    deleted = _run(api)  # its month is this one or the last whole one
    assert (deleted["verification_partitions"], deleted["verifications"]) == (0, 0) and _count(api, Verification) == 1
    api.clock.advance(45 * DAY)
    deleted = _run(api)
    assert deleted["verification_partitions"] + deleted["verifications"] >= 1 and _count(api, Verification) == 0
