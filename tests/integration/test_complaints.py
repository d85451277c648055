"""Complaints from the mini-program (M-14) and the citizen's access log (M-25), on both backends."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.service_desk.working_days import add_working_days

from ..helpers import ApiClient, Console, new_staff

COMPLAINTS = "/api/mp/v1/complaints"


def _file(api: ApiClient, token: str, **body: Any) -> Any:
    return api.client.post(COMPLAINTS, json={"category": "code", "description": "闸机扫码失败", **body},
                           headers=api.bearer(token))


def test_a_citizen_files_and_lists_a_complaint_with_deadlines(api: ApiClient) -> None:
    token = api.bound_citizen()
    created = _file(api, token)
    assert created.status_code == 201, created.json
    ticket = created.json
    assert ticket["status"] == "new" and ticket["ticket_number"].startswith("CS") and ticket["messages"] == []
    filed = datetime.fromisoformat(ticket["created_at"])
    assert datetime.fromisoformat(ticket["first_response_due"]) == add_working_days(filed, 1)
    assert datetime.fromisoformat(ticket["resolution_due"]) == add_working_days(filed, 5)
    listed = api.client.get(COMPLAINTS, headers=api.bearer(token)).json["items"]
    assert [item["ticket_number"] for item in listed] == [ticket["ticket_number"]]


def test_categories_come_from_configuration(api: ApiClient) -> None:
    keys = [item["key"] for item in api.client.get("/api/mp/v1/complaint-categories").json]
    assert "code" in keys and "privacy" in keys
    refused = _file(api, api.bound_citizen(), category="weather")
    assert refused.status_code == 422 and refused.json["error"]["code"] == "category_unknown"


def test_a_verification_must_be_the_citizens_own(api: ApiClient) -> None:
    token = api.bound_citizen()
    partner = api.partner()
    verification_id = api.verify(partner, api.code(token)).json["verification_id"]
    assert _file(api, token, verification_id=verification_id).status_code == 201
    other = api.login("someone-else")
    api.import_roster("name,id_number,phone,insured\n李四,11010519491231002X,13900139000,1\n")
    assert api.bind(other, {"name": "李四", "id_number": "11010519491231002X", "phone": "13900139000"}).status_code == 200
    refused = _file(api, other, verification_id=verification_id)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "verification_unknown"


def test_follow_up_and_rating_follow_the_ticket_state(api: ApiClient) -> None:
    token = api.bound_citizen()
    number = _file(api, token).json["ticket_number"]
    follow_up = api.client.post(f"{COMPLAINTS}/{number}/messages", json={"body": "补充：在东城站"}, headers=api.bearer(token))
    assert follow_up.status_code == 200 and follow_up.json["messages"][0] == {
        "author": "citizen", "body": "补充：在东城站", "created_at": follow_up.json["messages"][0]["created_at"]}
    early = api.client.post(f"{COMPLAINTS}/{number}/rating", json={"score": 5}, headers=api.bearer(token))
    assert early.status_code == 409 and early.json["error"]["code"] == "complaint_open"
    console = Console(api.app, api.clock)
    console.login("agent1", new_staff(api.app, "agent1", "agent"))
    assert console.post(f"/console/tickets/{number}/close", note="已修复闸机").status_code == 302
    rated = api.client.post(f"{COMPLAINTS}/{number}/rating", json={"score": 4, "comment": "快"}, headers=api.bearer(token))
    assert rated.status_code == 200 and rated.json["rating"] == 4 and rated.json["status"] == "closed"
    assert rated.json["messages"][-1]["author"] == "agent" and rated.json["messages"][-1]["body"] == "已修复闸机"
    again = api.client.post(f"{COMPLAINTS}/{number}/rating", json={"score": 1}, headers=api.bearer(token))
    assert again.status_code == 409 and again.json["error"]["code"] == "already_rated"
    closed = api.client.post(f"{COMPLAINTS}/{number}/messages", json={"body": "?"}, headers=api.bearer(token))
    assert closed.status_code == 409 and closed.json["error"]["code"] == "complaint_closed"


def test_another_citizens_ticket_is_not_found(api: ApiClient) -> None:
    number = _file(api, api.bound_citizen()).json["ticket_number"]
    other = api.login("someone-else")
    api.import_roster("name,id_number,phone,insured\n李四,11010519491231002X,13900139000,1\n")
    api.bind(other, {"name": "李四", "id_number": "11010519491231002X", "phone": "13900139000"})
    answer = api.client.post(f"{COMPLAINTS}/{number}/messages", json={"body": "x"}, headers=api.bearer(other))
    assert answer.status_code == 404 and answer.json["error"]["code"] == "complaint_not_found"


def test_the_access_log_shows_role_time_and_ticket_but_no_staff_name(api: ApiClient) -> None:
    token = api.bound_citizen()
    number = _file(api, token).json["ticket_number"]
    assert api.client.get("/api/mp/v1/me/access-log", headers=api.bearer(token)).json["items"] == []
    console = Console(api.app, api.clock)
    console.login("wang.agent", new_staff(api.app, "wang.agent", "agent"))
    assert console.get(f"/console/tickets/{number}/citizen").status_code == 200
    items = api.client.get("/api/mp/v1/me/access-log", headers=api.bearer(token)).json["items"]
    assert len(items) == 1
    assert items[0]["role"] == "agent" and items[0]["purpose"] == number and items[0]["action"] == "view"
    assert "wang" not in str(items)


def test_working_days_skip_weekends() -> None:
    friday_evening = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # 18:00 in Dongguan, a Friday
    assert add_working_days(friday_evening, 1) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # Monday
    assert add_working_days(friday_evening, 5) == datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    assert add_working_days(saturday, 1) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # Tuesday 00:00 local


def test_internal_notes_reach_staff_and_never_the_citizen(api: ApiClient) -> None:
    """Issue 15 item 17: a transfer note is shown to the citizen (the form says so); an internal
    note is for staff and the department only, in every answer the citizen can get."""
    token = api.bound_citizen()
    number = _file(api, token).json["ticket_number"]
    agent = Console(api.app, api.clock)
    agent.login("agent1", new_staff(api.app, "agent1", "agent"))
    ticket_page = f"/console/tickets/{number}"
    form = agent.get(ticket_page).get_data(as_text=True)
    assert "说明（市民可见）" in form and "内部备注（市民不可见）" in form
    secret = "来电者语气激动，疑似冒用，请核实身份"
    noted = agent.post(f"{ticket_page}/note", form_page=ticket_page, body=secret)
    assert noted.status_code == 302
    assert agent.post(f"{ticket_page}/transfer", form_page=ticket_page, department="transport",
                      note="请核查东城站闸机").status_code == 302
    assert secret in agent.get(ticket_page).get_data(as_text=True)
    liaison = Console(api.app, api.clock)
    liaison.login("liaison1", new_staff(api.app, "liaison1", "liaison", "transport"))
    assert secret in liaison.get(ticket_page).get_data(as_text=True)
    mine = api.client.get(COMPLAINTS, headers=api.bearer(token))
    followed = api.client.post(f"{COMPLAINTS}/{number}/messages", json={"body": "还没好"}, headers=api.bearer(token))
    for answer in (mine, followed):
        assert answer.status_code in (200, 201) and secret not in answer.get_data(as_text=True)
    bodies = [m["body"] for m in followed.json["messages"]]
    assert any("请核查东城站闸机" in body for body in bodies)  # the transfer note: the citizen sees it, as the form says
    empty = agent.post(f"{ticket_page}/note", form_page=ticket_page, body="  ")
    assert empty.status_code == 422
