"""Issue 15 item 3 through gunicorn (3 worker processes): simultaneous caller checks on one
ticket are counted before any is answered, so no burst gets more answers than the limit."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.service_desk.lookup import CHECKS_PER_TICKET
from standins.wechat import WeChatStandIn

from .desk import bound_citizen, console_session, csrf_of, desk_server
from .test_gunicorn import Server

pytestmark = pytest.mark.e2e
__all__ = ["desk_server"]
BURST = 40


def test_simultaneous_caller_checks_are_counted_before_they_are_answered(desk_server: Server,
                                                                         wechat: WeChatStandIn) -> None:
    bearer = bound_citizen(desk_server, wechat)
    filed = requests.post(desk_server.base + "/api/mp/v1/complaints", headers=bearer, timeout=30,
                          json={"category": "code", "description": "扫码失败"})
    number = filed.json()["ticket_number"]
    agent = console_session(desk_server, "agent.e2e", "agent")
    page = f"{desk_server.base}/console/tickets/{number}/citizen"
    token, cookies = csrf_of(agent, page), agent.cookies.get_dict()
    barrier = threading.Barrier(BURST)

    def attempt(n: int) -> tuple[int, str]:
        barrier.wait()
        answer = requests.post(page + "/lookup", cookies=cookies, timeout=120, allow_redirects=False, data={
            "csrf_token": token, "query": f"1380013{n:04d}", "reason": "来电人核对手机号"})
        return answer.status_code, answer.text

    with ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(attempt, range(BURST)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * CHECKS_PER_TICKET + [429] * (BURST - CHECKS_PER_TICKET), statuses
    assert sum("与本工单市民不一致" in text for _, text in answers) == CHECKS_PER_TICKET
    boss = console_session(desk_server, "boss.e2e", "supervisor")
    alerts = boss.get(desk_server.base + "/console/alerts", timeout=30).text
    assert alerts.count('class="alert-row') == 1 and "agent.e2e" in alerts
