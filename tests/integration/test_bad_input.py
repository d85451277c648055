"""Issue 15, item 15: no request produces a 500 (PostgreSQL + Redis, the production backend).

Found in the hostile trial: a NUL character in any text field of the mini-program, partner and
console forms and paths; pagination cursors with years 1 or 9999 and +-14:00 offsets; a 40-digit
cursor id; ``as_of`` of year 1. Each shape is sent to each field here and must be refused with
422 in the one envelope (``validation_error`` for text and instants, ``cursor_invalid`` for
cursors); the console answers its own HTML error page with 422. The checks are shared:
:mod:`app.platform.text` (text fields, path and query parameters, console forms) and
:mod:`app.platform.cursor` (cursors and instants).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from app.partners.models import PARTNER_ROLES
from app.platform.clock import FrozenClock
from app.platform.cursor import encode_cursor
from app.platform.models import Base
from scenes.registry import SCENE_NAMES
from standins.wechat import WeChatStandIn

from .. import backends
from ..conftest import APP_SECRET, APPID
from ..helpers import PERSON, ApiClient, Console, dispose, new_staff

NUL = "a\x00b"
MP = "/api/mp/v1"
PARTNER = "/api/partner/v1"
TICKET = "{ticket}"  # replaced by the world's real ticket number
LINE = {"id_number": PERSON["id_number"], "line_reference": "line-1", "benefit_type": "pension", "period": "2026-01",
        "amount_fen": 100}
MEDICAL = {"id_number": PERSON["id_number"], "balance_fen": 100, "as_of": "2026-01-01T00:00:00+08:00", "statement": []}
EVOUCHER = {"id_number": PERSON["id_number"], "evoucher": "EV4419A1B2C3D4E5F6A7B8C9", "as_of": "2026-01-01T00:00:00+08:00"}
CARD_REPORT = {"request_id": "report-0001", "application_id": "app-1", "event": "information_changed",
               "contact_phone": "13800138000"}


def _with(body: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    return {**body, field: value}


def _batch(line: dict[str, Any]) -> dict[str, Any]:
    return {"batch_reference": "b1", "lines": [line]}


# (bearer?, method, path, JSON body or None) with NUL in one text field or path parameter each.
MP_CASES = {
    "wechat login code": (False, "POST", f"{MP}/auth/wechat", {"code": NUL}),
    "alipay auth_code": (False, "POST", f"{MP}/auth/alipay", {"auth_code": NUL}),
    "binding name": (True, "POST", f"{MP}/binding", _with(PERSON, "name", "陈\x00明")),
    "binding id_number": (True, "POST", f"{MP}/binding", _with(PERSON, "id_number", "44190019850615123\x00")),
    "binding phone": (True, "POST", f"{MP}/binding", _with(PERSON, "phone", "1380013800\x00")),
    "physical bank_partner_id": (True, "POST", f"{MP}/card/physical", {"bank_partner_id": NUL, "accepted_fee_fen": 0}),
    "activation serial_number": (True, "POST", f"{MP}/card/physical/activation", {"serial_number": NUL, "pin": "394817"}),
    "phone sms_code": (True, "PUT", f"{MP}/card/phone", {"phone": "13900139000", "sms_code": "12\x0034"}),
    "complaint category": (True, "POST", f"{MP}/complaints", {"category": "card\x00", "description": "x"}),
    "complaint description": (True, "POST", f"{MP}/complaints", {"category": "card", "description": NUL}),
    "complaint verification_id": (True, "POST", f"{MP}/complaints", {"category": "card", "description": "x",
                                                                    "verification_id": NUL}),
    "follow-up body": (True, "POST", f"{MP}/complaints/{TICKET}/messages", {"body": NUL}),
    "follow-up ticket number": (True, "POST", f"{MP}/complaints/{quote(NUL)}/messages", {"body": "x"}),
    "rating comment": (True, "POST", f"{MP}/complaints/{TICKET}/rating", {"score": 4, "comment": NUL}),
    "rating ticket number": (True, "POST", f"{MP}/complaints/{quote(NUL)}/rating", {"score": 4}),
    "benefits type": (True, "GET", f"{MP}/benefits?type={quote(NUL)}", None),
    "history cursor": (True, "GET", f"{MP}/card/verifications?cursor={quote(NUL)}", None),
    "benefits cursor": (True, "GET", f"{MP}/benefits?cursor={quote(NUL)}", None),
}

PARTNER_CASES = {
    "verification code": ("POST", f"{PARTNER}/verifications", {"code": NUL, "scene": "transit", "terminal_id": "gate-1"}),
    "verification scene": ("POST", f"{PARTNER}/verifications", {"code": "x", "scene": "transit\x00", "terminal_id": "gate-1"}),
    "member id_number": ("PUT", f"{PARTNER}/members", {"members": [{"id_number": NUL, "member_id": "m1"}]}),
    "member member_id": ("PUT", f"{PARTNER}/members", {"members": [{"id_number": PERSON["id_number"], "member_id": NUL}]}),
    "card report application_id": ("POST", f"{PARTNER}/bank/card-reports", _with(CARD_REPORT, "application_id", NUL)),
    "card report contact_phone": ("POST", f"{PARTNER}/bank/card-reports", _with(CARD_REPORT, "contact_phone", NUL)),
    "card report reason": ("POST", f"{PARTNER}/bank/card-reports", _with(CARD_REPORT, "reason", NUL)),
    "batch line id_number": ("POST", f"{PARTNER}/disbursement-batches", _batch(_with(LINE, "id_number", NUL))),
    "batch line card_number": ("POST", f"{PARTNER}/disbursement-batches", {"batch_reference": "b1", "lines": [
        {**LINE, "id_number": None, "card_number": NUL}]}),
    "batch line_reference": ("POST", f"{PARTNER}/disbursement-batches", _batch(_with(LINE, "line_reference", NUL))),
    "batch line benefit_type": ("POST", f"{PARTNER}/disbursement-batches", _batch(_with(LINE, "benefit_type", NUL))),
    "batch line period": ("POST", f"{PARTNER}/disbursement-batches", _batch(_with(LINE, "period", "2026-0\x00"))),
    "batch reference path": ("GET", f"{PARTNER}/disbursement-batches/{quote(NUL)}", None),
    "confirmation reason": ("POST", f"{PARTNER}/disbursement-confirmations", {"confirmations": [
        {"disbursement_id": 1, "outcome": "returned", "reason": NUL}]}),
    "financial id_number": ("PUT", f"{PARTNER}/financial-accounts", {"id_number": NUL, "account_number": "6222020200112233"}),
    "financial card_number": ("PUT", f"{PARTNER}/financial-accounts", {"card_number": NUL, "account_number": "6222020200112233"}),
    "medical id_number": ("PUT", f"{PARTNER}/medical-insurance-accounts", _with(MEDICAL, "id_number", NUL)),
    "medical card_number": ("PUT", f"{PARTNER}/medical-insurance-accounts", {**MEDICAL, "id_number": None, "card_number": NUL}),
    "evoucher": ("PUT", f"{PARTNER}/medical-evouchers", _with(EVOUCHER, "evoucher", "EV4419A1B2C3D4E5\x00")),
    "evoucher id_number": ("PUT", f"{PARTNER}/medical-evouchers", _with(EVOUCHER, "id_number", NUL)),
    "medical statement date": ("PUT", f"{PARTNER}/medical-insurance-accounts", _with(MEDICAL, "statement", [
        {"date": "2026-01-0\x00", "description": "x", "amount_fen": 1}])),
    "medical statement description": ("PUT", f"{PARTNER}/medical-insurance-accounts", _with(MEDICAL, "statement", [
        {"date": "2026-01-01", "description": NUL, "amount_fen": 1}])),
}

# as_of: years outside 1970..9000 and extreme offsets (the hostile trial's year 1).
AS_OF = {
    "year 1": "0001-01-01T00:00:00+00:00",
    "year 1 +14:00": "0001-01-01T00:00:00+14:00",
    "year 9999 -14:00": "9999-12-31T23:59:59-14:00",
    "year 1969": "1969-12-31T23:59:59+00:00",
    "offset +15:00": "2026-01-01T00:00:00+15:00",
}

UTC = UTC
CURSORS = {
    "year 1": encode_cursor(datetime(1, 1, 1, tzinfo=UTC), 1),
    "year 9999": encode_cursor(datetime(9999, 12, 31, 23, 59, tzinfo=UTC), 1),
    "year 1 +14:00": encode_cursor(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), 1),
    "year 9999 -14:00": encode_cursor(datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-14))), 1),
    "year 1 -14:00": encode_cursor(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=-14))), 1),
    "year 9999 +14:00": encode_cursor(datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=14))), 1),
    "40-digit id": encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), "9" * 40),
    "NUL id": encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), NUL),
    "offset +23:59": encode_cursor(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=23, minutes=59))), 1),
    "offset -14:01": encode_cursor(datetime(2026, 1, 1, tzinfo=timezone(-timedelta(hours=14, minutes=1))), 1),
}
CURSOR_PATHS = {"history": f"{MP}/card/verifications", "benefits": f"{MP}/benefits"}

# Console: (path, form or None for a GET); each carries NUL in one form field, query or path.
CONSOLE_CASES = {
    "log-in username": ("/console/login", {"username": NUL, "password": "x", "otp": "123456"}),
    "log-in password": ("/console/login", {"username": "agent1", "password": NUL, "otp": "123456"}),
    "log-in otp": ("/console/login", {"username": "agent1", "password": "x", "otp": "12\x003456"}),
    "search": (f"/console/?q={quote(NUL)}", None),
    "queue view": (f"/console/?view={quote(NUL)}", None),
    "ticket path": (f"/console/tickets/{quote(NUL)}", None),
    "citizen path": (f"/console/tickets/{quote(NUL)}/citizen", None),
    "action path": (f"/console/tickets/{TICKET}/{quote(NUL)}", {}),
    "reply body": (f"/console/tickets/{TICKET}/reply", {"body": NUL}),
    "reply ticket path": (f"/console/tickets/{quote(NUL)}/reply", {"body": "x"}),
    "transfer department": (f"/console/tickets/{TICKET}/transfer", {"department": NUL, "note": "x"}),
    "transfer note": (f"/console/tickets/{TICKET}/transfer", {"department": "hrss", "note": NUL}),
    "close note": (f"/console/tickets/{TICKET}/close", {"note": NUL}),
    "reassign username": (f"/console/tickets/{TICKET}/reassign", {"username": NUL}),
    "unmask reason": (f"/console/tickets/{TICKET}/citizen/unmask", {"field": "phone", "reason": NUL}),
    "unmask field": (f"/console/tickets/{TICKET}/citizen/unmask", {"field": NUL, "reason": "caller asked"}),
    "look-up query": (f"/console/tickets/{TICKET}/citizen/lookup", {"query": NUL}),
    "look-up ticket path": (f"/console/tickets/{quote(NUL)}/citizen/lookup", {"query": "13800138000"}),
}


class World:
    """One bound citizen with a ticket, a partner with every scene and role, a console agent."""

    def __init__(self, app: Any, wechat: WeChatStandIn, clock: FrozenClock) -> None:
        self.api = ApiClient(app, wechat, clock)
        self.bearer = self.api.bearer(self.api.bound_citizen())
        filed = self.api.client.post(f"{MP}/complaints", json={"category": "card", "description": "lost"}, headers=self.bearer)
        assert filed.status_code == 201, filed.json
        self.ticket = filed.json["ticket_number"]
        self.partner = self.api.partner(SCENE_NAMES, roles=PARTNER_ROLES)
        self.console = Console(app, clock)
        self.console.login("agent1", new_staff(app, "agent1", "agent"))
        self.console.post(f"/console/tickets/{self.ticket}/claim")

    def mp(self, bearer: bool, method: str, path: str, body: Any) -> Any:
        return self.api.client.open(path.replace(TICKET, self.ticket), method=method, json=body,
                                    headers=self.bearer if bearer else {})

    def signed(self, method: str, path: str, body: Any) -> Any:
        raw = b"" if body is None else json.dumps(body).encode()
        return self.api.signed_post(self.partner, raw, path, method=method)


@pytest.fixture(scope="module")
def world(wechat: WeChatStandIn, pg_url: str, worker_id: str) -> Iterator[World]:
    """Built once for the module (the cases only read or are refused): PostgreSQL + Redis."""
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(t.name for t in Base.metadata.sorted_tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    clock = FrozenClock((int(datetime.now(UTC).timestamp()) // 30) * 30 + 5)
    app = create_app({"TESTING": True, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET,
                      "CARD_WECHAT_API_BASE": wechat.base_url, "SQLALCHEMY_DATABASE_URI": pg_url,
                      "REDIS_URL": backends.redis_url(worker_id)}, clock=clock)
    yield World(app, wechat, clock)
    dispose(app)


def _refused(response: Any, code: str = "validation_error") -> None:
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.json["error"]["code"] == code, response.json


@pytest.mark.parametrize("case", MP_CASES.values(), ids=MP_CASES.keys())
def test_a_control_character_in_a_mini_program_field_is_refused_not_a_500(world: World, case: tuple) -> None:
    _refused(world.mp(*case))


@pytest.mark.parametrize("case", PARTNER_CASES.values(), ids=PARTNER_CASES.keys())
def test_a_control_character_in_a_partner_field_is_refused_not_a_500(world: World, case: tuple) -> None:
    _refused(world.signed(*case))


@pytest.mark.parametrize("as_of", AS_OF.values(), ids=AS_OF.keys())
def test_an_as_of_outside_the_supported_years_is_refused_not_a_500(world: World, as_of: str) -> None:
    _refused(world.signed("PUT", f"{PARTNER}/medical-insurance-accounts", _with(MEDICAL, "as_of", as_of)))


@pytest.mark.parametrize("where", CURSOR_PATHS.values(), ids=CURSOR_PATHS.keys())
@pytest.mark.parametrize("cursor", CURSORS.values(), ids=CURSORS.keys())
def test_a_forged_cursor_is_refused_not_a_500(world: World, where: str, cursor: str) -> None:
    _refused(world.mp(True, "GET", f"{where}?cursor={cursor}", None), "cursor_invalid")


@pytest.mark.parametrize("case", CONSOLE_CASES.values(), ids=CONSOLE_CASES.keys())
def test_a_control_character_in_a_console_form_is_refused_not_a_500(world: World, case: tuple) -> None:
    path, form = case
    path = path.replace(TICKET, world.ticket)
    if form is None:
        response = world.console.get(path)
    elif path == "/console/login":
        response = world.console.client.post(path, data={"csrf_token": world.console.csrf(), **form})
    else:
        response = world.console.post(path, **form)
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True)[:300])
    assert "validation_error" in response.get_data(as_text=True)


def test_multi_line_text_keeps_its_line_breaks_and_tabs(world: World) -> None:
    body = "第一行\n第二行\r\n\t缩进"
    response = world.mp(True, "POST", f"{MP}/complaints/{TICKET}/messages", {"body": body})
    assert response.status_code in (200, 201), response.json
    assert response.json["messages"][-1]["body"] == body
    reply = world.console.post(f"/console/tickets/{world.ticket}/reply", body="您好，\n已处理。")
    assert reply.status_code == 302


def test_a_single_line_field_refuses_a_line_break(world: World) -> None:
    _refused(world.mp(True, "POST", f"{MP}/complaints", {"category": "card\n", "description": "x"}))
