"""The staff console (M-19, M-25): log-in with a second factor, session and CSRF protection,
roles, and purpose binding: a citizen's data is reachable only through an open ticket."""
from __future__ import annotations

import json
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from app.platform.db import db
from app.service_desk.models import AuditRecord

from ..helpers import PERSON, ApiClient, Console, new_staff
from .test_lifecycle import Story
from .test_partner_admin import cli

SECOND = {"name": "李建国", "id_number": "441900195008281658", "phone": "13800138488"}


def _ticket(api: ApiClient, second_citizen: bool = False) -> str:
    if second_citizen:
        token = api.login("second")
        assert api.bind(token, SECOND).status_code == 200
    else:
        token = api.bound_citizen()
    created = api.client.post("/api/mp/v1/complaints", json={"category": "code", "description": "扫码失败"},
                              headers=api.bearer(token))
    return created.json["ticket_number"]


def _staff(api: ApiClient, username: str, role: str, department: str | None = None) -> Console:
    console = Console(api.app, api.clock)
    assert console.login(username, new_staff(api.app, username, role, department)).status_code == 302
    return console


def _audit_count(api: ApiClient) -> int:
    with api.app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.actor_kind == "staff"))


def _page(response: Any) -> str:
    return response.get_data(as_text=True)


# --- log-in and session security -----------------------------------------------------------

def test_log_in_needs_the_password_and_a_fresh_second_factor(api: ApiClient) -> None:
    seed = new_staff(api.app, "agent1", "agent")
    console = Console(api.app, api.clock)
    assert console.login("agent1", seed, otp="000000" if pyotp.TOTP(seed).now() != "000000" else "111111").status_code == 401
    assert console.login("agent1", seed, password="wrong password!").status_code == 401
    assert console.get("/console/").status_code == 302  # not logged in: to the log-in page
    assert console.login("agent1", seed).status_code == 302
    assert console.get("/console/").status_code == 200
    replay = Console(api.app, api.clock)
    assert replay.login("agent1", seed).status_code == 401  # the same code, the same step: used once


def test_failed_log_ins_are_throttled(api: ApiClient) -> None:
    seed = new_staff(api.app, "agent1", "agent")
    console = Console(api.app, api.clock)
    for _ in range(5):
        assert console.login("agent1", seed, password="not the password").status_code == 401
    throttled = console.login("agent1", seed)
    assert throttled.status_code == 429 and "稍后" in _page(throttled)
    other_seed = new_staff(api.app, "agent2", "agent")  # the same address, another account: not locked
    assert Console(api.app, api.clock).login("agent2", other_seed).status_code == 302


def test_the_session_cookie_is_scoped_and_hardened(api: ApiClient) -> None:
    seed = new_staff(api.app, "agent1", "agent")
    console = Console(api.app, api.clock)
    cookie = console.login("agent1", seed).headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Set-Cookie" not in api.client.get("/api/openapi.json").headers  # the APIs issue no cookie


def test_a_form_without_the_csrf_token_is_refused(api: ApiClient) -> None:
    number = _ticket(api)
    console = _staff(api, "agent1", "agent")
    refused = console.client.post(f"/console/tickets/{number}/reply", data={"body": "hello"})
    assert refused.status_code == 400 and "csrf_failed" in _page(refused)
    assert console.post(f"/console/tickets/{number}/reply", body="hello").status_code == 302


def test_an_idle_session_ends(api: ApiClient) -> None:
    console = _staff(api, "agent1", "agent")
    api.clock.advance(14 * 60)
    assert console.get("/console/").status_code == 200
    api.clock.advance(16 * 60)
    timed_out = console.get("/console/")
    assert timed_out.status_code == 302 and timed_out.headers["Location"].endswith("/console/login")
    assert console.get("/console/").status_code == 302  # the session was cleared


def _cookie(console: Console) -> str:
    cookie = console.client.get_cookie("cc_console", path="/console")
    assert cookie is not None
    return cookie.value


def _replay(api: ApiClient, cookie: str) -> Any:
    """A saved copy of a session cookie, sent from another client."""
    thief = Console(api.app, api.clock)
    thief.client.set_cookie("cc_console", cookie, path="/console")
    return thief.get("/console/")


def _to_login(response: Any) -> bool:
    return response.status_code == 302 and response.headers["Location"].endswith("/console/login")


def test_log_out_ends_every_copy_of_the_session(api: ApiClient) -> None:
    console = _staff(api, "agent1", "agent")
    assert console.get("/console/").status_code == 200
    saved = _cookie(console)
    assert _replay(api, saved).status_code == 200  # the copy works while the session lives
    assert _to_login(console.post("/console/logout"))
    assert _to_login(_replay(api, saved))
    assert _to_login(console.get("/console/"))
    api.clock.advance(30)  # a new TOTP step
    assert console.login_again().status_code == 302 and console.get("/console/").status_code == 200
    assert _to_login(_replay(api, saved))  # a new log-in does not revive the old session


def test_a_session_has_a_maximum_life_however_active(api: ApiClient) -> None:
    console = _staff(api, "agent1", "agent")
    saved = _cookie(console)
    for _ in range(51):  # 51 x 14 min = 11 h 54 min, never idle for 15 minutes
        api.clock.advance(14 * 60)
        assert console.get("/console/").status_code == 200
    api.clock.advance(14 * 60)
    assert _to_login(console.get("/console/"))
    assert _to_login(_replay(api, saved))


def test_a_disabled_account_is_logged_out_and_cannot_log_in(api: ApiClient) -> None:
    console = _staff(api, "agent1", "agent")
    liaison = _staff(api, "li.metro", "liaison", "transport")
    saved = _cookie(console)
    disabled = cli(api, "staff", "disable", "agent1")
    assert (disabled.exit_code, disabled.output) == (0, "agent1: disabled\n")
    assert cli(api, "staff", "disable", "agent1").output == "agent1: already disabled\n"
    assert _to_login(console.get("/console/"))  # the live session ends at its next request
    assert liaison.get("/console/").status_code == 200  # other accounts are untouched
    api.clock.advance(30)
    assert console.login_again().status_code == 401
    listed = cli(api, "staff", "list")
    assert listed.output == "agent1\tagent\t-\tdisabled\nli.metro\tliaison\ttransport\tactive\n"
    assert cli(api, "staff", "enable", "agent1").output == "agent1: active\n"
    api.clock.advance(30)
    assert console.login_again().status_code == 302 and console.get("/console/").status_code == 200
    assert _to_login(_replay(api, saved))  # enabling again does not revive sessions from before
    assert cli(api, "staff", "disable", "nobody").exit_code == 2


def test_the_staff_list_never_shows_secrets(api: ApiClient) -> None:
    seed = new_staff(api.app, "agent1", "agent")
    listed = cli(api, "staff", "list", "--json")
    assert listed.exit_code == 0
    assert json.loads(listed.output) == [{"username": "agent1", "display_name": "agent1", "role": "agent",
                                          "department": None, "state": "active"}]
    for output in (listed.output, cli(api, "staff", "list").output):
        assert seed not in output and "argon2" not in output


# --- purpose binding ---------------------------------------------------------------------------

def test_an_agent_reaches_a_citizen_only_through_an_open_ticket(api: ApiClient) -> None:
    number = _ticket(api)
    agent = _staff(api, "agent1", "agent")
    for path in ("/console/tickets/CS00000000-XXXXXX/citizen", "/console/citizens/1", "/console/?q=" + PERSON["phone"],
                 "/console/?q=" + PERSON["id_number"]):
        page = agent.get(path)
        assert PERSON["phone"][-4:] + "<" not in _page(page) and "陈" not in _page(page), path
    assert agent.get("/console/tickets/CS00000000-XXXXXX/citizen").status_code == 404
    assert agent.get("/console/?q=" + PERSON["phone"]).status_code == 200  # search finds tickets only: nothing
    assert _audit_count(api) == 0
    page = agent.get(f"/console/tickets/{number}/citizen")
    assert page.status_code == 200 and "陈**" in _page(page) and "441900********1235" in _page(page)
    assert PERSON["id_number"] not in _page(page) and PERSON["phone"] not in _page(page)
    assert _audit_count(api) == 1
    agent.post(f"/console/tickets/{number}/close", note="done")
    closed = agent.get(f"/console/tickets/{number}/citizen")
    assert closed.status_code == 409 and _audit_count(api) == 1  # the purpose has ended


def test_unmasking_a_field_needs_a_reason_and_is_recorded(api: ApiClient) -> None:
    number = _ticket(api)
    agent = _staff(api, "agent1", "agent")
    page = f"/console/tickets/{number}/citizen"
    no_reason = agent.post(f"{page}/unmask", form_page=page, field="id_number", reason="")
    assert no_reason.status_code == 422 and PERSON["id_number"] not in _page(no_reason)
    shown = agent.post(f"{page}/unmask", form_page=page, field="id_number", reason="市民来电核对身份")
    assert shown.status_code == 200 and PERSON["id_number"] in _page(shown) and PERSON["phone"] not in _page(shown)
    with api.app.app_context():
        record = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "unmask")).one()
        assert (record.actor_id, record.ticket_number, record.fields, record.reason) == ("agent1", number, "id_number", "市民来电核对身份")


def test_a_caller_is_checked_against_the_ticket_only(api: ApiClient) -> None:
    number = _ticket(api)
    agent = _staff(api, "agent1", "agent")
    page = f"/console/tickets/{number}/citizen"
    assert "与本工单市民一致" in _page(agent.post(f"{page}/lookup", form_page=page, query=PERSON["phone"], reason="来电核对身份"))
    assert "与本工单市民一致" in _page(agent.post(f"{page}/lookup", form_page=page, query=PERSON["id_number"], reason="来电核对身份"))
    assert "不一致" in _page(agent.post(f"{page}/lookup", form_page=page, query="13900139000", reason="来电核对身份"))


def test_the_citizen_page_shows_the_physical_card_and_its_history(api: ApiClient) -> None:
    story = Story(api)
    agent = _staff(api, "agent1", "agent")
    number = story.mp("POST", "/complaints", {"category": "code", "description": "卡丢了"}).json["ticket_number"]
    page = _page(agent.get(f"/console/tickets/{number}/citizen"))
    assert "未申领实体卡" in page
    story.activated(serial="SN20261129")
    assert story.mp("POST", "/card/physical/loss-report").status_code == 200
    page = _page(agent.get(f"/console/tickets/{number}/citizen"))
    assert "已挂失" in page and "挂失于" in page and "****1129" in page and "SN20261129" not in page and "Bank" in page
    for event in ("申领", "制卡", "发卡", "启用", "挂失"):
        assert f"<td>{event}</td>" in page, event
    with api.app.app_context():
        fields = db.session.scalars(select(AuditRecord.fields).where(AuditRecord.action == "view")).all()
    assert len(fields) == 2 and all("physical_card" in f.split(",") and "carrier_events" in f.split(",") for f in fields)
    english = agent.client.get(f"/console/tickets/{number}/citizen", headers={"Accept-Language": "en"})
    assert "Reported lost" in _page(english)


@pytest.mark.parametrize("role", ["liaison", "auditor"])
def test_liaisons_and_auditors_cannot_open_citizen_data(api: ApiClient, role: str) -> None:
    number = _ticket(api)
    agent = _staff(api, "agent1", "agent")
    agent.post(f"/console/tickets/{number}/transfer", department="hrss", note="请答复")
    other = _staff(api, "other", role, "hrss" if role == "liaison" else None)
    assert other.get(f"/console/tickets/{number}/citizen").status_code == 403
    assert _audit_count(api) == 0


# --- departments and roles ---------------------------------------------------------------------

def test_a_liaison_sees_only_tickets_transferred_to_their_department(api: ApiClient) -> None:
    to_transport, to_hrss = _ticket(api), _ticket(api, second_citizen=True)
    agent = _staff(api, "agent1", "agent")
    agent.post(f"/console/tickets/{to_transport}/transfer", department="transport", note="公交")
    agent.post(f"/console/tickets/{to_hrss}/transfer", department="hrss", note="社保")
    liaison = _staff(api, "hr.liaison", "liaison", "hrss")
    queue = _page(liaison.get("/console/"))
    assert to_hrss in queue and to_transport not in queue
    assert liaison.get(f"/console/tickets/{to_transport}").status_code == 404
    searched = _page(liaison.get(f"/console/?q={to_transport}"))
    assert "没有这个工单" in searched and f"/console/tickets/{to_transport}" not in searched
    refused = liaison.post(f"/console/tickets/{to_transport}/reply", body="x")
    assert refused.status_code == 404
    assert liaison.post(f"/console/tickets/{to_hrss}/close", note="x").status_code == 403
    assert liaison.post(f"/console/tickets/{to_hrss}/reply", body="社保卡已补办").status_code == 302
    assert "部门已答复" in _page(agent.get(f"/console/tickets/{to_hrss}"))


def test_supervisors_see_breaches_and_reassign(api: ApiClient) -> None:
    number = _ticket(api)
    supervisor = _staff(api, "boss", "supervisor")
    agent = _staff(api, "agent1", "agent")
    assert number not in _page(supervisor.get("/console/breaches"))
    api.clock.advance(4 * 86400)  # past one working day whatever the weekday
    supervisor.login_again()
    agent.login_again()
    assert number in _page(supervisor.get("/console/breaches"))
    assert agent.get("/console/breaches").status_code == 403
    assert supervisor.post(f"/console/tickets/{number}/reassign", username="agent1").status_code == 302
    assert number in _page(agent.get("/console/?view=mine"))
    assert agent.post(f"/console/tickets/{number}/reassign", username="boss").status_code == 403


def test_the_auditor_reads_the_trail_without_personal_data(api: ApiClient) -> None:
    number = _ticket(api)
    agent = _staff(api, "agent1", "agent")
    page = f"/console/tickets/{number}/citizen"
    agent.post(f"{page}/unmask", form_page=page, field="name", reason="称呼市民")
    auditor = _staff(api, "audit1", "auditor")
    trail = auditor.get("/console/audit")
    assert trail.status_code == 200 and number in _page(trail) and "agent1" in _page(trail)
    for value in PERSON.values():
        assert value not in _page(trail)
    assert "审计链完整" in _page(auditor.post("/console/audit", form_page="/console/audit"))
    assert auditor.get(f"/console/tickets/{number}").status_code == 403


def test_the_interface_is_chinese_with_an_english_fallback(api: ApiClient) -> None:
    assert "登录" in _page(api.client.get("/console/login"))
    english = api.client.get("/console/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Log in" in _page(english) and "登录" not in _page(english)


def test_a_claimed_ticket_cannot_be_claimed_by_another_agent(api: ApiClient) -> None:
    number = _ticket(api)
    first, second = _staff(api, "agent1", "agent"), _staff(api, "agent2", "agent")
    assert first.post(f"/console/tickets/{number}/claim").status_code == 302
    taken = second.post(f"/console/tickets/{number}/claim")
    assert taken.status_code == 409 and "其他客服" in _page(taken) and "already_claimed" in _page(taken)
    assert number in _page(first.get("/console/?view=mine")) and number not in _page(second.get("/console/?view=mine"))
