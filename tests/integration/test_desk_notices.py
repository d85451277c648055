"""Issue 21 item 6: a staff reply and a closing reach the citizen as a WeChat subscribe message and
an Alipay template message, through the outbox (app/service_desk/notices.py) and the stand-ins
speaking both platforms' wire formats: one notice per reply or closing and accepted template,
retried after a failure with backoff, a final refusal never retried, and never sent twice (not by
a second run, not by concurrent runners)."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from app.cli import main
from app.platform.db import db
from app.service_desk import notices
from app.service_desk.models import DeskNotice
from standins.alipay import AlipayStandIn
from standins.wechat import WeChatStandIn

from ..conftest import make_app
from ..helpers import PERSON, ApiClient, Console, dispose, new_staff

TEMPLATE = "desk-reply-dev"  # the development default of CARD_WECHAT_DESK_TEMPLATE and CARD_ALIPAY_DESK_TEMPLATE


@pytest.fixture(params=["embedded", "production"])
def api(request: pytest.FixtureRequest, tmp_path: Any, clock: Any, wechat: WeChatStandIn,
        alipay_config: dict[str, str]) -> Iterator[ApiClient]:
    app = make_app(request.param, request, tmp_path, clock, wechat, **alipay_config)
    yield ApiClient(app, wechat, clock)
    dispose(app)


class Desk:
    """A citizen bound on WeChat and on Alipay, a ticket of theirs, and an agent."""

    def __init__(self, api: ApiClient, alipay: AlipayStandIn) -> None:
        self.api = api
        # the stand-ins live for the whole session: this test's own account ids
        self.wechat_openid, self.alipay_openid = f"o-desk-{secrets.token_hex(6)}", f"ali-desk-{secrets.token_hex(6)}"
        self.wechat_token = api.bound_citizen(self.wechat_openid)
        login = api.client.post("/api/mp/v1/auth/alipay", json={"auth_code": alipay.issue_code(open_id=self.alipay_openid)})
        self.alipay_token = login.json["token"]
        bound = api.client.post("/api/mp/v1/binding", json=PERSON, headers=api.bearer(self.alipay_token))
        assert bound.status_code == 200, bound.json
        filed = api.client.post("/api/mp/v1/complaints", json={"category": "code", "description": "扫码失败"},
                                headers=api.bearer(self.wechat_token))
        self.number = filed.json["ticket_number"]
        self.agent = Console(api.app, api.clock)
        assert self.agent.login("agent1", new_staff(api.app, "agent1", "agent")).status_code == 302

    def accept(self, token: str, times: int = 1) -> None:
        for _ in range(times):
            answer = self.api.client.post("/api/mp/v1/subscriptions", json={"template_id": TEMPLATE, "result": "accept"},
                                          headers=self.api.bearer(token))
            assert answer.status_code == 200, answer.json

    def act(self, action: str, **form: str) -> None:
        page = f"/console/tickets/{self.number}"
        assert self.agent.post(f"{page}/{action}", form_page=page, **form).status_code == 302

    def deliver(self) -> notices.NoticeReport:
        with self.api.app.app_context():
            return notices.deliver_due(self.api.rt, notices.senders(self.api.rt))

    def outbox(self) -> list[tuple[str, str, str, int, str | None]]:
        with self.api.app.app_context():
            return [(n.platform, n.event, n.status, n.attempts, n.last_error)
                    for n in db.session.scalars(select(DeskNotice).order_by(DeskNotice.id))]


@pytest.fixture
def desk(api: ApiClient, alipay: AlipayStandIn) -> Desk:
    return Desk(api, alipay)


def test_a_reply_and_a_closing_reach_both_apps_once_with_a_retry(desk: Desk, wechat: WeChatStandIn, alipay: AlipayStandIn) -> None:
    desk.accept(desk.wechat_token, times=2)
    desk.accept(desk.alipay_token)  # one acceptance: the reply only
    desk.act("reply", body="您好，已为您核实，请重新打开电子卡后再试。")
    assert sorted((p, e, s) for p, e, s, _a, _l in desk.outbox()) == [("alipay", "reply", "pending"), ("wechat", "reply", "pending")]
    wechat.fail_next_message(-1)  # WeChat busy: retried
    report = desk.deliver()
    assert (report.sent, report.retrying, report.failed) == (1, 1, 0)
    assert desk.deliver().sent == 0  # nothing due before the backoff: never twice
    desk.api.clock.advance(60)
    assert desk.deliver().sent == 1
    assert desk.deliver().sent == 0
    desk.act("close", note="问题已解决，工单办结。")
    assert desk.deliver().sent == 1  # WeChat only: the Alipay acceptance was used by the reply
    assert sorted(desk.outbox()) == [("alipay", "reply", "sent", 1, None), ("wechat", "closed", "sent", 1, None),
                                     ("wechat", "reply", "sent", 2, None)]
    sent = wechat.messages_to(desk.wechat_openid)
    assert [m["data"]["phrase2"]["value"] for m in sent] == ["客服已回复", "工单已办结"]
    assert {m["data"]["character_string1"]["value"] for m in sent} == {desk.number}
    assert all("核实" not in str(m) for m in sent)  # the reply's text stays in the app
    [alipay_message] = alipay.template_messages_to(desk.alipay_openid)
    assert alipay_message["user_template_id"] == TEMPLATE and desk.number in alipay_message["data"]


def test_no_acceptance_no_notice_and_internal_notes_send_nothing(desk: Desk, wechat: WeChatStandIn) -> None:
    desk.act("reply", body="您好，我们正在处理。")
    desk.accept(desk.wechat_token)
    desk.act("note", body="内部备注：等待技术部门")
    assert desk.outbox() == []
    desk.act("reply", body="已处理完毕。")
    assert [(p, e) for p, e, *_rest in desk.outbox()] == [("wechat", "reply")]


def test_a_final_refusal_is_not_retried(desk: Desk, alipay: AlipayStandIn, wechat: WeChatStandIn) -> None:
    desk.accept(desk.wechat_token)
    desk.accept(desk.alipay_token)
    desk.act("reply", body="您好，已回复。")
    alipay.fail_next(40004, "USER_NOT_SUBSCRIBE")
    wechat.fail_next_message(43101)
    report = desk.deliver()
    assert (report.sent, report.failed, report.retrying) in ((0, 2, 0),)
    desk.api.clock.advance(3600)
    assert desk.deliver().sent == 0
    assert sorted(desk.outbox()) == [("alipay", "reply", "failed", 1, "alipay:USER_NOT_SUBSCRIBE"),
                                     ("wechat", "reply", "failed", 1, "wechat:43101")]


@pytest.mark.parametrize("api", ["production"], indirect=True)
def test_32_concurrent_runners_send_each_notice_once(desk: Desk, wechat: WeChatStandIn, alipay: AlipayStandIn) -> None:
    desk.accept(desk.wechat_token, times=3)
    desk.accept(desk.alipay_token, times=3)
    for n in range(3):
        desk.act("reply", body=f"第{n + 1}次回复")
    before = len(wechat.messages_to(desk.wechat_openid))
    with ThreadPoolExecutor(32) as pool:
        reports = list(pool.map(lambda _n: desk.deliver(), range(32)))
    assert sum(r.sent for r in reports) == 6
    assert len(wechat.messages_to(desk.wechat_openid)) - before == 3
    assert len(alipay.template_messages_to(desk.alipay_openid)) == 3
    assert {status for _p, _e, status, _a, _l in desk.outbox()} == {"sent"}


@pytest.mark.parametrize("api", ["embedded"], indirect=True)
def test_notify_run_drains_the_desk_outbox(desk: Desk, wechat: WeChatStandIn, alipay: AlipayStandIn) -> None:
    desk.accept(desk.wechat_token)
    desk.accept(desk.alipay_token)
    desk.act("reply", body="您好，已回复。")
    result = CliRunner().invoke(main, ["notify", "run"], obj=ScriptInfo(create_app=lambda: desk.api.app))
    assert result.exit_code == 0, result.output
    assert "service desk: sent 2, failed 0, retrying 0" in result.output
    assert len(wechat.messages_to(desk.wechat_openid)) == len(alipay.template_messages_to(desk.alipay_openid)) == 1
