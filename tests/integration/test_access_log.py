"""Issue 15 item 5: a citizen sees every access to their data. ``GET /me/access-log`` is paged
with an opaque cursor, and consecutive views by one staff member on one ticket are one item with
a count, so page views cannot crowd an unmask or a look-up out of sight. An unmask or a look-up
is never folded."""
from __future__ import annotations

import base64
from typing import Any

import pytest

from ..helpers import PERSON, ApiClient, Console, new_staff

LOG = "/api/mp/v1/me/access-log"
SECOND = {"name": "李建国", "id_number": "441900195008281658", "phone": "13800138488"}


def _setup(api: ApiClient) -> tuple[str, str]:
    token = api.bound_citizen()
    number = api.client.post("/api/mp/v1/complaints", json={"category": "privacy", "description": "谁看了我的信息"},
                             headers=api.bearer(token)).json["ticket_number"]
    return token, number


def _staff(api: ApiClient, username: str) -> Console:
    console = Console(api.app, api.clock)
    assert console.login(username, new_staff(api.app, username, "agent")).status_code == 302
    return console


def _view(api: ApiClient, agent: Console, number: str) -> None:
    api.clock.advance(1)
    assert agent.get(f"/console/tickets/{number}/citizen").status_code == 200


def _unmask(api: ApiClient, agent: Console, number: str, field: str = "phone") -> None:
    api.clock.advance(1)
    page = f"/console/tickets/{number}/citizen"
    assert agent.post(f"{page}/unmask", form_page=page, field=field, reason="市民来电核对身份").status_code == 200


def _page(api: ApiClient, token: str, query: str = "") -> Any:
    answer = api.client.get(f"{LOG}{query}", headers=api.bearer(token))
    assert answer.status_code == 200, answer.json
    return answer.json


def _all(api: ApiClient, token: str, limit: int) -> list[dict]:
    items, cursor = [], None
    while True:
        page = _page(api, token, f"?limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_a_hundred_views_cannot_push_an_unmask_out_of_sight(api: ApiClient) -> None:
    token, number = _setup(api)
    agent = _staff(api, "nosy.agent")
    _unmask(api, agent, number)  # opening the form is a view, and so is the page that shows the value
    for _ in range(100):
        _view(api, agent, number)
    first = _page(api, token)
    assert "unmask" in [item["action"] for item in first["items"]]  # today: the newest 100 records are all views
    actions = [(item["action"], item["count"]) for item in first["items"]]
    assert actions == [("view", 101), ("unmask", 1), ("view", 1)], actions
    assert first["next_cursor"] is None
    views = first["items"][0]
    assert views["first_accessed_at"] < views["accessed_at"] and views["purpose"] == number
    assert "nosy" not in str(first)


def test_an_unmask_or_a_look_up_is_never_folded(api: ApiClient) -> None:
    token, number = _setup(api)
    agent = _staff(api, "agent1")
    for _ in range(3):
        _unmask(api, agent, number)
    page = f"/console/tickets/{number}/citizen"
    agent.post(f"{page}/lookup", form_page=page, query=PERSON["phone"], reason="来电核对身份")
    items = _page(api, token)["items"]
    actions = [item["action"] for item in items]
    assert actions.count("unmask") == 3 and actions.count("lookup") == 1
    assert all(item["count"] == 1 for item in items if item["action"] != "view")


def test_views_by_another_staff_member_or_on_another_ticket_are_separate(api: ApiClient) -> None:
    token, number = _setup(api)
    one, two = _staff(api, "agent1"), _staff(api, "agent2")
    second = api.client.post("/api/mp/v1/complaints", json={"category": "code", "description": "又一个"},
                             headers=api.bearer(token)).json["ticket_number"]
    for agent, ticket in ((one, number), (one, number), (two, number), (one, number), (one, second)):
        _view(api, agent, ticket)
    items = _page(api, token)["items"]
    assert [(item["purpose"], item["count"]) for item in items] == [(second, 1), (number, 1), (number, 1), (number, 2)]


def test_the_log_is_paged_with_a_cursor_and_nothing_is_lost_or_repeated(api: ApiClient) -> None:
    token, number = _setup(api)
    agent = _staff(api, "agent1")
    for n in range(25):
        _unmask(api, agent, number, ("phone", "name", "id_number")[n % 3])
        for _ in range(n % 4):
            _view(api, agent, number)
    everything = _all(api, token, 100)
    assert sum(item["count"] for item in everything) == 25 * 3 + sum(n % 4 for n in range(25))  # an unmask: form, unmask, page
    paged = _all(api, token, 7)
    assert paged == everything
    first = _page(api, token, "?limit=7")
    _unmask(api, agent, number)  # newer records do not shift the pages still to come
    rest = _all_from(api, token, first["next_cursor"])
    assert first["items"] + rest == everything


def _all_from(api: ApiClient, token: str, cursor: str | None) -> list[dict]:
    items = []
    while cursor:
        page = _page(api, token, f"?limit=7&cursor={cursor}")
        items, cursor = items + page["items"], page["next_cursor"]
    return items


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("query", ["?cursor=bm9wZQ", "?cursor=%25%25", "?limit=0", "?limit=101", "?limit=x",
                                   "?cursor=" + _cursor("2026-01-01T00:00:00+00:00|" + "9" * 40),
                                   "?cursor=" + _cursor("0001-01-01T00:00:00+14:00|5"),
                                   "?cursor=" + _cursor("9999-12-31T23:59:59-14:00|5"),
                                   "?cursor=" + _cursor("2026-01-01T00:00:00+00:00|x")])
def test_a_bad_query_is_422(api: ApiClient, query: str) -> None:
    token, _ = _setup(api)
    answer = api.client.get(f"{LOG}{query}", headers=api.bearer(token))
    assert answer.status_code == 422 and answer.json["error"]["code"] in ("cursor_invalid", "validation_error")
