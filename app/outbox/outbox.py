"""The outbox of messages to citizens (M-14; issue 21 item 6, issue 22 item 6): WeChat subscribe
messages and Alipay template messages, sent apart from any request, retried, never twice.

A domain keeps its own outbox table (app.money.models.Notification for benefits credited,
app.service_desk.models.DeskNotice, app.money.models.PaymentNoticeMessage) with the columns this
module drives: ``id``,
``account_id`` (mp_accounts), ``platform`` (``wechat``/``alipay``), ``template_id``, ``status``
(:data:`PENDING` -> :data:`SENT`, or :data:`FAILED`, final), ``attempts``, ``last_error``
(≤64 characters, a platform's code, never message text), ``next_attempt_at``, ``sent_at``.

A row is queued only after :func:`take_acceptances` took one of the citizen's acceptances of the
template (one conditional UPDATE per account: two events cannot both take the last one); no
acceptance, no message. :func:`deliver_due` claims each due row first (one conditional UPDATE,
a lease of :data:`LEASE_SECONDS`), so two runners never send it twice; a final refusal (WeChat
43101, Alipay's refusals of the user or the template) ends it; other failures are retried with
backoff (1 min, 2 min, ... at most 1 h) up to ``CARD_NOTIFY_MAX_ATTEMPTS``. The domain renders
the template fields (:data:`Render`) when the row is sent, from its own tables.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from app.identity.models import MpAccount
from app.integrations.alipay_messages import AlipayTemplateMessenger, TemplateMessageFailed
from app.integrations.wechat_messages import NO_SUBSCRIPTION_LEFT, SendFailed, SubscribeMessenger
from app.outbox.models import Subscription
from app.platform.db import db
from app.runtime import Runtime

PENDING, SENT, FAILED = "pending", "sent", "failed"
FIRST_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 3600
LEASE_SECONDS = 120  # a claimed message is not picked up by another runner for this long


class NoticeFailed(Exception):
    """A platform refused or did not answer: ``final`` ends the message; ``code`` is kept."""

    def __init__(self, code: str, final: bool) -> None:
        super().__init__(f"notice failed: {code}")
        self.code, self.final = code, final


# platform -> send(openid, template_id, data, page); raises NoticeFailed
Sender = Callable[[str, str, dict[str, str], str], None]
# an outbox row -> (its template fields, the mini-program page it opens)
Render = Callable[[Any], tuple[dict[str, str], str]]


def use_subscription(account_id: int, template_id: str) -> bool:
    """Take one allowed message of ``template_id``, atomically (two events cannot both take the last one)."""
    return db.session.execute(
        update(Subscription).where(Subscription.account_id == account_id, Subscription.template_id == template_id,
                                   Subscription.remaining > 0)
        .values(remaining=Subscription.remaining - 1).returning(Subscription.id)
    ).first() is not None


def take_acceptances(rt: Runtime, citizen_id: int, templates: dict[str, str]) -> list[tuple[int, str, str]]:
    """For each bound account of ``citizen_id`` on a platform of ``templates`` (platform -> the
    setting naming its template id), take one acceptance of that template; inside the caller's
    transaction. Returns (account id, platform, template id) of the accounts that had one."""
    accounts = db.session.execute(select(MpAccount.id, MpAccount.platform).where(
        MpAccount.citizen_id == citizen_id, MpAccount.platform.in_(templates)).order_by(MpAccount.id)).all()
    taken = []
    for account_id, platform in accounts:
        template = rt.config[templates[platform]]
        if use_subscription(account_id, template):
            taken.append((account_id, platform, template))
    return taken


@dataclass
class NoticeReport:
    sent: int = 0
    failed: int = 0
    retrying: int = 0


def deliver_due(rt: Runtime, model: Any, render: Render, senders: dict[str, Sender], limit: int = 100) -> NoticeReport:
    """Send the due rows of the outbox table ``model`` on the platforms of ``senders`` (at most
    ``limit``), each claimed first; ``render`` makes each one's template fields."""
    report = NoticeReport()
    now = rt.clock.now()
    due = db.session.scalars(select(model.id).where(model.status == PENDING, model.next_attempt_at <= now,
                                                    model.platform.in_(senders))
                             .order_by(model.next_attempt_at, model.id).limit(limit)).all()
    for notice_id in due:
        if _claim(rt, model, notice_id):
            _deliver(rt, model, render, senders, notice_id, report)
    return report


def _claim(rt: Runtime, model: Any, notice_id: int) -> bool:
    now = rt.clock.now()
    claimed = db.session.execute(
        update(model).where(model.id == notice_id, model.status == PENDING, model.next_attempt_at <= now)
        .values(next_attempt_at=now + timedelta(seconds=LEASE_SECONDS), attempts=model.attempts + 1)
        .returning(model.id)).first() is not None
    db.session.commit()
    return claimed


def _deliver(rt: Runtime, model: Any, render: Render, senders: dict[str, Sender], notice_id: int,
             report: NoticeReport) -> None:
    notice, openid = db.session.execute(
        select(model, MpAccount.openid).join(MpAccount, MpAccount.id == model.account_id).where(model.id == notice_id)).one()
    data, page = render(notice)
    try:
        senders[notice.platform](openid, notice.template_id, data, page)
    except NoticeFailed as exc:
        _failed(rt, notice, exc, report)
    else:
        notice.status, notice.sent_at, notice.last_error = SENT, rt.clock.now(), None
        report.sent += 1
    db.session.commit()


def _failed(rt: Runtime, notice: Any, exc: NoticeFailed, report: NoticeReport) -> None:
    notice.last_error = exc.code[:64]
    if exc.final or notice.attempts >= rt.config["CARD_NOTIFY_MAX_ATTEMPTS"]:
        notice.status = FAILED
        report.failed += 1
        return
    delay = min(FIRST_RETRY_SECONDS * 2 ** (notice.attempts - 1), MAX_RETRY_SECONDS)
    notice.next_attempt_at = rt.clock.now() + timedelta(seconds=delay)
    report.retrying += 1


def pending_subscriptions(account_id: int, template_id: str) -> int:
    """Messages the account still allows for ``template_id`` (tests, support)."""
    return db.session.scalar(select(Subscription.remaining).where(Subscription.account_id == account_id,
                                                                  Subscription.template_id == template_id)) or 0


def wechat_sender(messenger: SubscribeMessenger) -> Sender:
    """A :data:`Sender` over WeChat subscribe messages: 43101 (no subscription left) is final."""
    def send(openid: str, template_id: str, data: dict[str, str], page: str) -> None:
        try:
            messenger.send(openid, template_id, data, page=page)
        except SendFailed as exc:
            raise NoticeFailed(f"wechat:{exc.errcode}", exc.errcode == NO_SUBSCRIPTION_LEFT) from None
    return send


def alipay_sender(messenger: AlipayTemplateMessenger) -> Sender:
    """A :data:`Sender` over Alipay template messages (app.integrations.alipay_messages.FINAL_SUB_CODES are final)."""
    def send(openid: str, template_id: str, data: dict[str, str], page: str) -> None:
        try:
            messenger.send(openid, template_id, data, page=page)
        except TemplateMessageFailed as exc:
            raise NoticeFailed(f"alipay:{exc.code}", exc.final) from None
    return send


def senders(rt: Runtime) -> dict[str, Sender]:
    """The senders this deployment has: WeChat always (its base URL is configured), Alipay when its keys are."""
    config = rt.config
    found = {"wechat": wechat_sender(SubscribeMessenger(config["CARD_WECHAT_APPID"], config["CARD_WECHAT_SECRET"],
                                                        config["CARD_WECHAT_API_BASE"], tokens=rt.wechat_tokens))}
    if rt.alipay is not None:
        found["alipay"] = alipay_sender(AlipayTemplateMessenger(rt.alipay))
    return found
