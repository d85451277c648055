"""Issue 21 item 3: callers without the app. An agent opens a phone or walk-in ticket from the ID
number the caller gives (a counted, recorded caller check), verifies the caller with an SMS code
to the card's phone (checks counted first), and then, under that ticket only, reports the cards
lost, suspends the e-card or ends a device: each a carrier event with the agent as actor, in the
audit trail and in the citizen's access log. Unbinding needs another supervisor's approval; of
concurrent decisions exactly one applies."""
from __future__ import annotations

import json
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from app.card.models import Card, CarrierEvent, Device, PhysicalCard
from app.identity.models import MpAccount
from app.integrations.sms import notice
from app.platform.db import db
from app.platform.errors import AppError
from app.service_desk import callers, lookup
from app.service_desk.audit import StaffActor
from app.service_desk.models import AuditRecord, Complaint, ComplaintQuota, Staff, StaffAlert, UnbindingRequest

from ..helpers import PERSON, ApiClient, Console, new_staff

NEW = "/console/callers/new"
REPORTS = "/api/partner/v1/bank/card-reports"
CODE = re.compile(r"验证码：(\d{6})")


def _console(api: ApiClient, username: str, role: str = "agent") -> Console:
    console = Console(api.app, api.clock)
    assert console.login(username, new_staff(api.app, username, role)).status_code == 302
    return console


def _open(agent: Console, id_number: str = PERSON["id_number"], reason: str = "来电人手机丢失，要求挂失") -> Any:
    return agent.post(NEW, form_page=NEW, channel="phone", id_number=id_number, category="code",
                      description="手机丢失，无法登录小程序，要求紧急挂失", reason=reason)


def _number(response: Any) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    return response.headers["Location"].rsplit("/", 1)[-1]


def _activated_physical(api: ApiClient, token: str) -> None:
    """The citizen applies for a physical card; the bank produces and issues it (state ``issued``)."""
    bank = api.partner((), name="Bank", roles=("bank",))
    mp = api.bearer(token)
    fee = api.client.get("/api/mp/v1/card/physical/fee", headers=mp).json["fee_fen"]
    applied = api.client.post("/api/mp/v1/card/physical", json={"bank_partner_id": bank["partner_id"], "accepted_fee_fen": fee},
                              headers=mp)
    assert applied.status_code == 201, applied.json
    for event, extra in (("produced", {"serial_number": "SN00000001"}), ("issued", {})):
        body = {"request_id": "rq-" + secrets.token_hex(6), "application_id": applied.json["application_id"], "event": event, **extra}
        assert api.signed_post(bank, json.dumps(body).encode(), path=REPORTS).status_code == 200


def _send_code(api: ApiClient, agent: Console, number: str) -> str:
    page = f"/console/callers/{number}"
    assert agent.post(f"{page}/code", form_page=page).status_code == 302
    phone, text = api.rt.sms.sent[-1]
    assert phone == PERSON["phone"]
    match = CODE.search(text)
    assert match
    assert api.rt.sms.messages[-1][1].kind == "caller_check" and api.rt.sms.messages[-1][1].params == (match.group(1), "10")
    return match.group(1)


def _verified(api: ApiClient, agent: Console) -> str:
    number = _number(_open(agent))
    code = _send_code(api, agent, number)
    page = f"/console/callers/{number}"
    assert agent.post(f"{page}/verify", form_page=page, code=code).status_code == 302
    return number


def _actor(api: ApiClient, username: str) -> StaffActor:
    with api.app.app_context():
        staff = db.session.scalars(select(Staff).where(Staff.username == username)).one()
        return StaffActor(staff.id, staff.username, staff.role, staff.department)


def _actions(api: ApiClient, number: str) -> list[tuple[str, str | None, str | None]]:
    with api.app.app_context():
        return [(r.action, r.fields, r.reason) for r in db.session.scalars(
            select(AuditRecord).where(AuditRecord.ticket_number == number).order_by(AuditRecord.id))]


@pytest.mark.parametrize("app", ["embedded", "production"], indirect=True)
def test_a_verified_caller_gets_an_emergency_loss_report_under_the_ticket(api: ApiClient) -> None:
    token = api.bound_citizen()
    _activated_physical(api, token)
    agent = _console(api, "agent1")
    wrong = _open(agent, id_number="441900199001011234")
    assert wrong.status_code == 422 and "没有与该身份证号对应的市民卡" in wrong.get_data(as_text=True)
    number = _number(_open(agent))
    page = f"/console/callers/{number}"
    early = agent.post(f"{page}/action", form_page=page, action="emergency_loss", reason="来电人要求挂失")
    assert early.status_code == 403 and "请先核验来电人身份" in early.get_data(as_text=True)
    code = _send_code(api, agent, number)
    wrong_code = agent.post(f"{page}/verify", form_page=page, code=f"{(int(code) + 1) % 10**6:06d}")
    assert wrong_code.status_code == 422 and "验证码错误或已过期" in wrong_code.get_data(as_text=True)
    assert agent.post(f"{page}/verify", form_page=page, code=code).status_code == 302
    assert agent.post(f"{page}/action", form_page=page, action="emergency_loss", reason="来电人要求挂失").status_code == 302
    shown = agent.get(page).get_data(as_text=True)
    assert "staff:agent1" in shown
    with api.app.app_context():
        card = db.session.scalars(select(Card)).one()
        assert card.status == "suspended"
        assert db.session.scalars(select(PhysicalCard.state)).one() == "suspended"
        events = db.session.execute(select(CarrierEvent.carrier, CarrierEvent.event, CarrierEvent.actor)
                                    .where(CarrierEvent.actor.like("staff:%")).order_by(CarrierEvent.id)).all()
        assert [tuple(e) for e in events] == [("ecard", "suspended", "staff:agent1"), ("physical", "loss_reported", "staff:agent1")]
        ticket = db.session.scalars(select(Complaint).where(Complaint.ticket_number == number)).one()
        assert (ticket.channel, ticket.status, ticket.caller_verified_at is not None) == ("phone", "in_progress", True)
        assert db.session.get(ComplaintQuota, ticket.citizen_id) is None  # outside the citizen's filing quota
    assert [(a, f) for a, f, _r in _actions(api, number) if a != "view"] == [
        ("lookup", "id_number"), ("caller_code", "phone"), ("caller_verify", "phone"), ("caller_verify", "phone"),
        ("card_action", "emergency_loss,ecard,physical")]
    assert [r for a, _f, r in _actions(api, number) if a == "caller_verify"] == ["wrong", "ok"]
    assert "客服已按您的来电/来访为您办理：紧急挂失" in api.rt.sms.sent[-1][1]
    assert api.rt.sms.messages[-1][1] == notice("desk_action_notice", "紧急挂失", number)
    log = api.client.get("/api/mp/v1/me/access-log", headers=api.bearer(token)).json["items"]
    assert {"card_action", "caller_verify", "lookup"} <= {item["action"] for item in log}
    assert all(number == item["purpose"] for item in log if item["action"] == "card_action")
    assert agent.post(f"{page}/action", form_page=page, action="suspend_ecard", reason="再次暂停").status_code == 409


@pytest.mark.parametrize("app", ["embedded"], indirect=True)
def test_an_agent_ends_one_device_and_actions_need_a_caller_ticket(api: ApiClient) -> None:
    token = api.bound_citizen()
    agent = _console(api, "agent1")
    number = _verified(api, agent)
    page = f"/console/callers/{number}"
    with api.app.app_context():
        device_id = db.session.scalars(select(Device.id).where(Device.revoked_at.is_(None))).one()
    assert agent.post(f"{page}/action", form_page=page, action="end_device", device_id="999999", reason="停用丢失手机").status_code == 404
    assert agent.post(f"{page}/action", form_page=page, action="end_device", device_id=str(device_id),
                      reason="停用丢失手机").status_code == 302
    with api.app.app_context():
        assert db.session.get_one(Device, device_id).revoked_at is not None
        assert db.session.scalars(select(CarrierEvent.actor).where(CarrierEvent.event == "device_ended")).one() == "staff:agent1"
    app_ticket = api.client.post("/api/mp/v1/complaints", json={"category": "code", "description": "扫码失败"},
                                 headers=api.bearer(token)).json["ticket_number"]
    refused = agent.get(f"/console/callers/{app_ticket}")
    assert refused.status_code == 409


@pytest.mark.parametrize("app", ["production"], indirect=True)
def test_32_concurrent_code_checks_are_counted_before_they_are_answered(api: ApiClient) -> None:
    api.bound_citizen()
    agent = _console(api, "agent1")
    number = _number(_open(agent))
    code = _send_code(api, agent, number)
    actor = _actor(api, "agent1")
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    def check(_n: int) -> str:
        with api.app.app_context():
            try:
                return "right" if callers.check_caller_code(api.rt, actor, number, wrong) else "wrong"
            except AppError as exc:
                return exc.code

    with ThreadPoolExecutor(32) as pool:
        answers = sorted(pool.map(check, range(32)))
    assert answers == ["caller_code_attempts"] * (32 - callers.CODE_ATTEMPTS) + ["wrong"] * callers.CODE_ATTEMPTS
    with api.app.app_context(), pytest.raises(AppError) as refused:
        callers.check_caller_code(api.rt, actor, number, code)  # even the right code: the ticket's allowance is spent
    assert refused.value.code == "caller_code_attempts"


@pytest.mark.parametrize("app", ["production"], indirect=True)
def test_unbinding_waits_for_another_supervisor_and_32_decisions_apply_once(api: ApiClient) -> None:
    token = api.bound_citizen()
    agent = _console(api, "agent1")
    number = _verified(api, agent)
    page = f"/console/callers/{number}"
    assert agent.post(f"{page}/unbinding", form_page=page, reason="手机丢失，解除原绑定").status_code == 302
    again = agent.post(f"{page}/unbinding", form_page=page, reason="手机丢失，解除原绑定")
    assert again.status_code == 409 and "已有待审批的解绑申请" in again.get_data(as_text=True)
    assert agent.get("/console/unbindings").status_code == 403
    new_staff(api.app, "sup0", "supervisor")
    sup0 = _actor(api, "sup0")
    boss = _console(api, "sup1", "supervisor")
    assert "手机丢失，解除原绑定" in boss.get("/console/unbindings").get_data(as_text=True)
    with api.app.app_context():
        request_id = db.session.scalars(select(UnbindingRequest.id)).one()

    def decide(n: int) -> str:
        with api.app.app_context():
            try:
                return callers.decide_unbinding(api.rt, sup0, request_id, approve=n % 2 == 0)
            except AppError as exc:
                return exc.code

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(decide, range(32)))
    decided = [a for a in answers if a in ("approved", "refused")]
    assert len(decided) == 1 and answers.count("unbinding_decided") == 31
    with api.app.app_context():
        request = db.session.get_one(UnbindingRequest, request_id)
        bound = db.session.scalar(select(func.count()).select_from(MpAccount).where(MpAccount.citizen_id.is_not(None)))
        assert request.status == decided[0]
        assert bound == (0 if decided[0] == "approved" else 1)
        assert request.accounts_ended == (1 if decided[0] == "approved" else 0)
    if decided[0] == "approved":
        assert api.client.get("/api/mp/v1/card/carriers", headers=api.bearer(token)).status_code in (401, 403)
    late = boss.post(f"/console/unbindings/{request_id}/approve", form_page="/console/unbindings")
    assert late.status_code == 409
    assert ("unbind_decision", "binding", decided[0]) in _actions(api, number)


@pytest.mark.parametrize("app", ["embedded"], indirect=True)
def test_a_supervisor_cannot_approve_their_own_request(api: ApiClient) -> None:
    api.bound_citizen()
    boss = _console(api, "sup1", "supervisor")
    number = _verified(api, boss)
    page = f"/console/callers/{number}"
    assert boss.post(f"{page}/unbinding", form_page=page, reason="手机丢失，解除原绑定").status_code == 302
    with api.app.app_context():
        request_id = db.session.scalars(select(UnbindingRequest.id)).one()
    assert boss.post(f"/console/unbindings/{request_id}/approve", form_page="/console/unbindings").status_code == 403
    with api.app.app_context():
        assert db.session.get_one(UnbindingRequest, request_id).status == "pending"


@pytest.mark.parametrize("app", ["production"], indirect=True)
def test_32_concurrent_caller_look_ups_are_counted_before_they_are_answered(api: ApiClient) -> None:
    """The agent's daily caller checks (20) bound the ID-number look-ups too: of 32 at once, at most
    20 are answered (found or not), the rest 429 without a look-up, and the supervisors get one alert."""
    api.bound_citizen()
    _console(api, "agent1")
    actor = _actor(api, "agent1")

    def look_up(n: int) -> str:
        with api.app.app_context():
            try:
                id_number = PERSON["id_number"] if n == 0 else f"44190019900101{n:04d}"
                callers.open_caller_ticket(api.rt, actor, "walk_in", id_number, "code", "来访", "来访人要求挂失")
                return "opened"
            except AppError as exc:
                return exc.code

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(look_up, range(32)))
    assert answers.count("caller_check_limit") == 32 - lookup.CHECKS_PER_AGENT
    assert set(answers) <= {"opened", "caller_not_found", "caller_check_limit"}
    with api.app.app_context():
        opened = db.session.scalar(select(func.count()).select_from(Complaint).where(Complaint.channel == "walk_in"))
        assert opened == answers.count("opened") <= 1
        assert db.session.scalar(select(func.count()).select_from(StaffAlert)) == 1


@pytest.mark.parametrize("app", ["embedded"], indirect=True)
def test_codes_per_ticket_and_closed_tickets_and_other_roles(api: ApiClient) -> None:
    api.bound_citizen()
    agent = _console(api, "agent1")
    number = _number(_open(agent))
    page = f"/console/callers/{number}"
    for _ in range(callers.SENDS_PER_TICKET):
        _send_code(api, agent, number)
    sent = len(api.rt.sms.sent)
    assert agent.post(f"{page}/code", form_page=page).status_code == 429
    assert len(api.rt.sms.sent) == sent  # refused before sending
    liaison = Console(api.app, api.clock)
    assert liaison.login("liaison1", new_staff(api.app, "liaison1", "liaison", "transport")).status_code == 302
    assert liaison.get(page).status_code in (403, 404)
    assert liaison.get(NEW).status_code == 403
    ticket_page = f"/console/tickets/{number}"
    assert agent.post(f"{ticket_page}/close", form_page=ticket_page, note="来电人已挂断，办结").status_code == 302
    assert agent.get(page).status_code == 409  # the purpose has ended
