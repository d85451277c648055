"""Issue 15 item 8: complaint filing is limited per citizen (5 a day, 5 open at once), counted
first in one conditional statement, and the staff queue is fair: each citizen's oldest open
ticket comes before anyone's second, so one citizen's flood never hides another's complaint."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app.card.models import Card
from app.platform.db import db
from app.service_desk.models import Complaint

from ..helpers import ApiClient, Console, new_staff

COMPLAINTS = "/api/mp/v1/complaints"
SECOND = {"name": "李建国", "id_number": "441900195008281658", "phone": "13800138488"}
TICKET = re.compile(r"CS\d{8}-[0-9A-Z]{6}")


def _file(api: ApiClient, token: str, text: str = "闸机扫码失败") -> Any:
    return api.client.post(COMPLAINTS, json={"category": "code", "description": text}, headers=api.bearer(token))


def _error(response: Any) -> str:
    return response.json["error"]["code"]


def _count(api: ApiClient) -> int:
    with api.app.app_context():
        return db.session.scalar(select(func.count()).select_from(Complaint))


def _agent(api: ApiClient, username: str = "agent1") -> Console:
    console = Console(api.app, api.clock)
    assert console.login(username, new_staff(api.app, username, "agent")).status_code == 302
    return console


def test_a_citizen_files_at_most_five_complaints_a_day(api: ApiClient) -> None:
    token = api.bound_citizen("citizen")
    agent = _agent(api)
    for _ in range(5):
        number = _file(api, token).json["ticket_number"]
        assert agent.post(f"/console/tickets/{number}/close", note="已处理").status_code == 302  # none stays open
    refused = _file(api, token)
    assert refused.status_code == 429 and _error(refused) == "complaint_daily_limit"
    assert int(refused.headers["Retry-After"]) > 0 and _count(api) == 5
    api.clock.advance(24 * 3600)
    assert _file(api, api.login("citizen")).status_code == 201  # a new day (and a new log-in: tokens expire)


def test_a_citizen_has_at_most_five_open_complaints(api: ApiClient) -> None:
    token = api.bound_citizen("citizen")
    numbers = []
    for _ in range(5):
        numbers.append(_file(api, token).json["ticket_number"])
        api.clock.advance(24 * 3600)
        token = api.login("citizen")
    refused = _file(api, token)
    assert refused.status_code == 429 and _error(refused) == "complaint_open_limit"
    agent = _agent(api)
    assert agent.post(f"/console/tickets/{numbers[0]}/close", note="已处理").status_code == 302
    assert agent.post(f"/console/tickets/{numbers[0]}/close", note="again").status_code == 409  # closed once only
    assert _file(api, token).status_code == 201
    assert _error(_file(api, token)) == "complaint_open_limit"  # the second close freed nothing


def test_forty_concurrent_filings_make_at_most_five_tickets(api: ApiClient) -> None:
    token = api.bound_citizen()
    barrier = threading.Barrier(40)

    def attempt(n: int) -> tuple[int, str | None]:
        client = api.app.test_client()
        barrier.wait()
        response = client.post(COMPLAINTS, json={"category": "code", "description": f"第{n}次"}, headers=api.bearer(token))
        return response.status_code, (response.json["error"]["code"] if response.status_code != 201 else None)

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(attempt, range(40)))
    assert sorted(status for status, _ in answers) == [201] * 5 + [429] * 35, answers
    assert {code for status, code in answers if status == 429} <= {"complaint_daily_limit", "complaint_open_limit"}
    assert _count(api) == 5


def _flood(api: ApiClient, citizen_id: int, how_many: int) -> None:
    """Old tickets written straight into the table (as a flood from before the limits would be)."""
    now = api.clock.now()
    with api.app.app_context():
        for n in range(how_many):
            at = now - timedelta(days=30) + timedelta(minutes=n)
            db.session.add(Complaint(ticket_number=f"CS20260101-F{n:05d}", citizen_id=citizen_id, category="other",
                                     description="刷屏", status="new", created_at=at, first_response_due=at,
                                     resolution_due=at))
        db.session.commit()


def test_one_citizens_flood_never_hides_another_citizens_complaint(api: ApiClient) -> None:
    api.bound_citizen()
    with api.app.app_context():
        flooder_id = db.session.scalar(select(Card.citizen_id))  # the one bound card
    _flood(api, flooder_id, 250)
    victim = api.login("victim")
    assert api.bind(victim, SECOND).status_code == 200
    number = _file(api, victim, "我的卡被冒用了").json["ticket_number"]
    agent = _agent(api)
    first_page = agent.get("/console/").get_data(as_text=True)
    assert number in first_page
    seen, page = [], 1
    while True:  # every ticket is reachable, each once, by paging
        html = agent.get(f"/console/?page={page}").get_data(as_text=True)
        found = [t for t in TICKET.findall(html) if t != "CS00000000-XXXXXX"]
        found = list(dict.fromkeys(found))
        if not found:
            break
        seen += found
        page += 1
    assert len(seen) == len(set(seen)) == 251 and number in seen


def test_the_queue_gives_every_citizen_a_turn_before_anyones_second(api: ApiClient) -> None:
    flooder = api.bound_citizen()
    early = [_file(api, flooder).json["ticket_number"] for _ in range(4)]
    victim = api.login("victim")
    assert api.bind(victim, SECOND).status_code == 200
    api.clock.advance(60)
    late = _file(api, victim).json["ticket_number"]
    agent = _agent(api)
    html = agent.get("/console/").get_data(as_text=True)
    order = list(dict.fromkeys(TICKET.findall(html)))
    assert order[:2] == [early[0], late] and order[2:] == early[1:]
