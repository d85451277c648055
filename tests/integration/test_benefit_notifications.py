"""A credited benefit is announced by a WeChat subscribe message (wechatpy, against the stand-in's
real protocol): enqueued by the crediting request, sent by the outbox runner, 43101 final,
other failures retried with backoff. Both backends."""
from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from app.cli import main
from app.integrations.wechat_messages import SubscribeMessenger
from app.money.models import Notification
from app.money.notifications import deliver_due
from app.outbox.outbox import wechat_sender
from app.platform.db import db
from standins.wechat import WeChatStandIn

from ..benefits_support import Benefits, line
from ..conftest import APP_SECRET, APPID
from ..helpers import ApiClient

TEMPLATE = "benefit-credited-dev"


@pytest.fixture
def benefits(api: ApiClient) -> Benefits:
    return Benefits(api)


@pytest.fixture
def paid(benefits: Benefits) -> dict[str, Any]:
    [holder] = benefits.holders(1)
    bank, department = benefits.bank(), benefits.department()
    benefits.open_account(bank, holder)
    return {"holder": holder, "bank": bank, "department": department}


def subscribe(benefits: Benefits, holder: Any, result: str = "accept") -> Any:
    return benefits.api.client.post("/api/mp/v1/subscriptions", json={"template_id": TEMPLATE, "result": result},
                                    headers=benefits.api.bearer(holder.token))


def credit(benefits: Benefits, paid: dict[str, Any], reference: str, amount: int = 150000) -> int:
    benefits.submit(paid["department"], reference, [line(reference, paid["holder"], amount=amount)])
    [pending] = [item for item in benefits.pending(paid["bank"]) if item["amount_fen"] == amount]
    answer = benefits.confirm(paid["bank"], (pending["disbursement_id"], "credited"))
    assert answer.json["results"][0]["result"] == "applied"
    return pending["disbursement_id"]


MESSENGERS: dict[str, SubscribeMessenger] = {}


def deliver(api: ApiClient, wechat: WeChatStandIn) -> Any:
    """One outbox run, with one messenger per stand-in (so its access token is cached between runs)."""
    messenger = MESSENGERS.setdefault(wechat.base_url, SubscribeMessenger(APPID, APP_SECRET, wechat.base_url))
    with api.app.app_context():
        return deliver_due(api.rt, {"wechat": wechat_sender(messenger)})


def outbox(api: ApiClient) -> list[tuple[str, int, str | None]]:
    with api.app.app_context():
        return [(row.status, row.attempts, row.last_error) for row in db.session.scalars(select(Notification).order_by(Notification.id))]


def test_crediting_enqueues_and_the_runner_sends_once_per_acceptance(benefits: Benefits, paid: dict[str, Any],
                                                                    wechat: WeChatStandIn) -> None:
    holder = paid["holder"]
    assert subscribe(benefits, holder).json == {"template_id": TEMPLATE, "remaining": 1}
    credit(benefits, paid, "L1", amount=150005)
    assert wechat.messages_to(holder.openid) == []  # the crediting request only enqueued
    assert outbox(benefits.api) == [("pending", 0, None)]
    report = deliver(benefits.api, wechat)
    assert (report.sent, report.failed, report.retrying) == (1, 0, 0)
    [message] = wechat.messages_to(holder.openid)
    assert message["template_id"] == TEMPLATE
    assert message["data"]["thing1"] == {"value": "养老金"} and message["data"]["amount2"] == {"value": "1500.05元"}
    credit(benefits, paid, "L2", amount=2000)  # the one acceptance is used up: no second notice
    assert deliver(benefits.api, wechat).sent == 0 and len(wechat.messages_to(holder.openid)) == 1
    assert outbox(benefits.api) == [("sent", 1, None)]


def test_no_subscription_no_notice(benefits: Benefits, paid: dict[str, Any], wechat: WeChatStandIn) -> None:
    assert subscribe(benefits, paid["holder"], "reject").json["remaining"] == 0
    credit(benefits, paid, "L1")
    assert outbox(benefits.api) == []


def test_43101_is_recorded_and_never_retried(benefits: Benefits, paid: dict[str, Any], wechat: WeChatStandIn) -> None:
    subscribe(benefits, paid["holder"])
    credit(benefits, paid, "L1")
    wechat.fail_next_message(43101)
    assert deliver(benefits.api, wechat).failed == 1
    benefits.api.clock.advance(7200)
    assert deliver(benefits.api, wechat).sent == 0
    assert outbox(benefits.api) == [("failed", 1, "wechat:43101")] and wechat.messages_to(paid["holder"].openid) == []


def test_other_failures_are_retried_with_backoff(benefits: Benefits, paid: dict[str, Any], wechat: WeChatStandIn) -> None:
    subscribe(benefits, paid["holder"])
    credit(benefits, paid, "L1")
    wechat.fail_next_message(-1, 45011)
    assert deliver(benefits.api, wechat).retrying == 1
    assert deliver(benefits.api, wechat).retrying == 0  # not due before its backoff (60 s)
    benefits.api.clock.advance(61)
    assert deliver(benefits.api, wechat).retrying == 1  # second failure: 120 s
    benefits.api.clock.advance(61)
    assert deliver(benefits.api, wechat).sent == 0
    benefits.api.clock.advance(60)
    wechat.expire_tokens()  # the cached token now answers 40001: wechatpy fetches a new one and retries once
    tokens = wechat.tokens_issued
    assert deliver(benefits.api, wechat).sent == 1
    assert wechat.tokens_issued == tokens + 1
    assert outbox(benefits.api) == [("sent", 3, None)]


def test_notify_run_command_drains_the_outbox(benefits: Benefits, paid: dict[str, Any], wechat: WeChatStandIn) -> None:
    subscribe(benefits, paid["holder"])
    credit(benefits, paid, "L1")
    result = CliRunner().invoke(main, ["notify", "run"], obj=ScriptInfo(create_app=lambda: benefits.api.app))
    assert result.exit_code == 0, result.output
    assert "sent 1, failed 0, retrying 0" in result.output
    assert len(wechat.messages_to(paid["holder"].openid)) == 1


def test_a_subscription_needs_a_known_result(benefits: Benefits, paid: dict[str, Any]) -> None:
    answer = subscribe(benefits, paid["holder"], "maybe")
    assert answer.status_code == 422 and answer.json["error"]["code"] == "validation_error"
