"""Issue 15 item 8 through gunicorn (3 worker processes): 40 simultaneous filings by one citizen
make exactly 5 tickets; the rest are refused 429, counted before anything is written."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from standins.wechat import WeChatStandIn

from .desk import bound_citizen, desk_server
from .test_gunicorn import Server

pytestmark = pytest.mark.e2e
__all__ = ["desk_server"]


def test_forty_simultaneous_filings_through_gunicorn_make_five_tickets(desk_server: Server, wechat: WeChatStandIn) -> None:
    bearer = bound_citizen(desk_server, wechat)
    url = desk_server.base + "/api/mp/v1/complaints"

    def attempt(n: int) -> tuple[int, str]:
        answer = requests.post(url, json={"category": "code", "description": f"第{n}次"}, headers=bearer, timeout=60)
        return answer.status_code, answer.json()["error"]["code"] if answer.status_code != 201 else ""

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(attempt, range(40)))
    assert sorted(status for status, _ in answers) == [201] * 5 + [429] * 35, answers
    assert {code for status, code in answers if status == 429} <= {"complaint_daily_limit", "complaint_open_limit"}
    listed = requests.get(url, headers=bearer, timeout=30).json()["items"]
    assert len(listed) == 5
