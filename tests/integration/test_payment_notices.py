"""Issue 22 item 6: a charge at or above CARD_CHARGE_NOTICE_FEN and every decline reach the holder
as a WeChat subscribe message and an Alipay template message, through the shared outbox
(app/outbox/outbox.py, the one the service desk uses) and the stand-ins speaking both platforms'
wire formats: one message per notice and accepted template, retried after a failure, a final
refusal never retried, never sent twice (not under 32 racing confirmations, not by 32 concurrent
runners), and carrying only what happened, the amount, the merchant's name and the time."""
from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from app.cli import main
from app.money import payment_notices
from app.money.models import PaymentNoticeMessage
from app.outbox.outbox import senders
from app.platform.db import db
from standins.alipay import AlipayStandIn
from standins.wechat import WeChatStandIn

from ..conftest import make_app
from ..helpers import ApiClient, dispose
from ..payments_support import Payments
from .test_payments import THREADS, race

TEMPLATE = "payment-notice-dev"  # the development default of CARD_WECHAT_PAYMENT_TEMPLATE and CARD_ALIPAY_PAYMENT_TEMPLATE


@pytest.fixture(params=["embedded", "production"])
def api(request: pytest.FixtureRequest, tmp_path: Any, clock: Any, wechat: WeChatStandIn,
        alipay_config: dict[str, str]) -> Iterator[ApiClient]:
    app = make_app(request.param, request, tmp_path, clock, wechat, **alipay_config)
    yield ApiClient(app, wechat, clock)
    dispose(app)


class Shop(Payments):
    """A holder bound on WeChat and on Alipay with an account at the bank, and a canteen."""

    def __init__(self, api: ApiClient, alipay: AlipayStandIn) -> None:
        super().__init__(api)
        [self.holder] = self.holders(1, start=700)
        self.alipay_openid = f"ali-pay-{secrets.token_hex(6)}"
        login = api.client.post("/api/mp/v1/auth/alipay", json={"auth_code": alipay.issue_code(open_id=self.alipay_openid)})
        self.alipay_token = login.json["token"]
        person = {"name": "居民700", "id_number": self.holder.id_number, "phone": "13900000700"}
        assert api.client.post("/api/mp/v1/binding", json=person, headers=api.bearer(self.alipay_token)).status_code == 200
        self.bank_partner, self.canteen = self.bank(), self.merchant(name="东莞理工学院第一食堂")
        assert self.open_account(self.bank_partner, self.holder).status_code == 200
        self.members(self.canteen, self.holder)
        api.app.config["CARD_CHARGE_NOTICE_FEN"] = 1000

    def accept(self, token: str, times: int = 1) -> None:
        for _ in range(times):
            answer = self.api.client.post("/api/mp/v1/subscriptions", json={"template_id": TEMPLATE, "result": "accept"},
                                          headers=self.api.bearer(token))
            assert answer.status_code == 200, answer.json

    def charged(self, amount: int) -> int:
        answer = self.charge(self.canteen, self.verified(self.canteen, self.holder), amount)
        assert answer.status_code == 200, answer.json
        return answer.json["charge_id"]

    def deliver(self) -> Any:
        with self.api.app.app_context():
            return payment_notices.deliver_due(self.api.rt, senders(self.api.rt))

    def outbox(self) -> list[tuple[str, str, int, str | None]]:
        with self.api.app.app_context():
            return sorted((m.platform, m.status, m.attempts, m.last_error)
                          for m in db.session.scalars(select(PaymentNoticeMessage).order_by(PaymentNoticeMessage.id)))


@pytest.fixture
def shop(api: ApiClient, alipay: AlipayStandIn) -> Shop:
    return Shop(api, alipay)


def _wechat_fields(message: dict[str, Any]) -> dict[str, str]:
    return {name: field["value"] for name, field in message["data"].items()}


def test_a_large_charge_and_a_decline_reach_both_apps_once_with_a_retry(shop: Shop, wechat: WeChatStandIn,
                                                                         alipay: AlipayStandIn) -> None:
    shop.accept(shop.holder.token, times=3)
    shop.accept(shop.alipay_token, times=1)  # one acceptance: the first notice only
    shop.charged(999)  # below the threshold: no notice
    large = shop.charged(1000)  # at the threshold: a notice
    assert shop.confirm_charges(shop.bank_partner, (large, "debited")).status_code == 200
    wechat.fail_next_message(-1)  # WeChat busy: retried
    report = shop.deliver()
    assert (report.sent, report.retrying, report.failed) == (1, 1, 0)
    assert shop.deliver().sent == 0  # not due before the backoff: never twice
    shop.api.clock.advance(60)
    assert shop.deliver().sent == 1
    declined = shop.charged(500)
    shop.confirm_charges(shop.bank_partner, (declined, "declined", "insufficient_funds"))
    assert shop.deliver().sent == 1  # WeChat only: the Alipay acceptance went to the large charge
    assert shop.deliver().sent == 0
    assert shop.outbox() == [("alipay", "sent", 1, None), ("wechat", "sent", 1, None), ("wechat", "sent", 2, None)]
    sent = [_wechat_fields(m) for m in wechat.messages_to(shop.holder.openid)]
    assert [(m["phrase1"], m["amount2"], m["thing3"]) for m in sent] == [
        ("大额消费提醒", "10.00元", "东莞理工学院第一食堂"), ("扣款失败", "5.00元", "东莞理工学院第一食堂")]
    assert all(set(m) == {"phrase1", "amount2", "thing3", "time4"} for m in sent)
    assert all(m["page"] == "pages/payments/index" and m["template_id"] == TEMPLATE
               for m in wechat.messages_to(shop.holder.openid))
    [alipay_message] = alipay.template_messages_to(shop.alipay_openid)
    assert alipay_message["user_template_id"] == TEMPLATE and "10.00元" in alipay_message["data"]
    everything = json.dumps([wechat.messages_to(shop.holder.openid), alipay_message], ensure_ascii=False)
    for private in (shop.holder.id_number, shop.holder.card_number, "居民700", "午餐", "13900000700"):
        assert private not in everything  # no personal data, no purchase description
    notices = {item["charge_id"]: item["notices"] for item in shop.payments(shop.holder).json["items"]}
    assert notices[large] == ["large_charge"] and notices[declined] == ["declined"]


def test_no_acceptance_no_message_and_the_notice_stays_in_the_app(shop: Shop, wechat: WeChatStandIn) -> None:
    large = shop.charged(2000)
    assert shop.deliver().sent == 0 and shop.outbox() == []
    shop.accept(shop.holder.token)  # accepting later does not send an old notice
    assert shop.deliver().sent == 0 and wechat.messages_to(shop.holder.openid) == []
    [item] = [item for item in shop.payments(shop.holder).json["items"] if item["charge_id"] == large]
    assert item["notices"] == ["large_charge"]


def test_a_final_refusal_is_not_retried(shop: Shop, wechat: WeChatStandIn, alipay: AlipayStandIn) -> None:
    shop.accept(shop.holder.token)
    shop.accept(shop.alipay_token)
    shop.charged(5000)
    alipay.fail_next(40004, "USER_NOT_SUBSCRIBE")
    wechat.fail_next_message(43101)
    report = shop.deliver()
    assert (report.sent, report.failed, report.retrying) == (0, 2, 0)
    shop.api.clock.advance(3600)
    assert shop.deliver().sent == 0
    assert shop.outbox() == [("alipay", "failed", 1, "alipay:USER_NOT_SUBSCRIBE"), ("wechat", "failed", 1, "wechat:43101")]


@pytest.mark.parametrize("api", ["production"], indirect=True)
def test_32_racing_declines_make_one_notice_and_32_runners_send_it_once(shop: Shop, wechat: WeChatStandIn,
                                                                       alipay: AlipayStandIn) -> None:
    shop.accept(shop.holder.token, times=5)
    shop.accept(shop.alipay_token, times=5)
    charge_id = shop.charged(800)  # below the threshold: only the decline makes a notice

    def decline(_: int) -> Any:
        return Payments(ApiClient(shop.api.app, shop.api.wechat, shop.api.clock)).confirm_charges(
            shop.bank_partner, (charge_id, "declined", "insufficient_funds"))

    results = [answer.json["results"][0]["result"] for answer in race(THREADS, decline)]
    assert results.count("applied") == 1
    with ThreadPoolExecutor(THREADS) as pool:
        reports = list(pool.map(lambda _n: shop.deliver(), range(THREADS)))
    assert sum(report.sent for report in reports) == 2
    assert len(wechat.messages_to(shop.holder.openid)) == 1
    assert len(alipay.template_messages_to(shop.alipay_openid)) == 1
    assert shop.outbox() == [("alipay", "sent", 1, None), ("wechat", "sent", 1, None)]
    assert shop.deliver().sent == 0


@pytest.mark.parametrize("api", ["embedded"], indirect=True)
def test_notify_run_drains_the_payments_outbox(shop: Shop, wechat: WeChatStandIn, alipay: AlipayStandIn) -> None:
    shop.accept(shop.holder.token)
    shop.accept(shop.alipay_token)
    shop.charged(1500)
    result = CliRunner().invoke(main, ["notify", "run"], obj=ScriptInfo(create_app=lambda: shop.api.app))
    assert result.exit_code == 0, result.output
    assert "payments: sent 2, failed 0, retrying 0" in result.output
    assert len(wechat.messages_to(shop.holder.openid)) == len(alipay.template_messages_to(shop.alipay_openid)) == 1
