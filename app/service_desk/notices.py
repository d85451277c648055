"""Telling a citizen of a reply or a closing (issue 21 item 6; M-14): WeChat subscribe messages
and Alipay template messages, through an outbox.

The mini-program reports each template the citizen accepted (``POST /api/mp/v1/subscriptions``,
app.money.notifications.record_subscription; one acceptance allows one message) for
``CARD_WECHAT_DESK_TEMPLATE`` or ``CARD_ALIPAY_DESK_TEMPLATE``. A staff reply the citizen sees,
or the closing, *enqueues* a :class:`~app.service_desk.models.DeskNotice` per bound account of
the citizen holding an unused acceptance (taken atomically), in the reply's own transaction:
no acceptance, no notice (the citizen still reads it in the app). ``citizencard notify run``
drains the outbox apart from any request with the retry rules of app.money.notifications: each
notice is claimed first (one conditional UPDATE, a lease), so two runners never send it twice;
a final refusal (WeChat 43101, Alipay's refusals of the user or the template) ends it; other
failures are retried with backoff (1 min, 2 min, ... at most 1 h) up to ``CARD_NOTIFY_MAX_ATTEMPTS``.
The message carries the ticket number, the event and the time: never the reply's text.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from app.identity.models import MpAccount
from app.integrations.alipay_messages import AlipayTemplateMessenger, TemplateMessageFailed
from app.integrations.wechat_messages import NO_SUBSCRIPTION_LEFT, SendFailed, SubscribeMessenger
from app.money.models import Subscription
from app.money.notifications import FIRST_RETRY_SECONDS, LEASE_SECONDS, MAX_RETRY_SECONDS, use_subscription
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.runtime import Runtime
from app.service_desk.models import Complaint, ComplaintMessage, DeskNotice

PENDING, SENT, FAILED = "pending", "sent", "failed"
TEMPLATES = {"wechat": "CARD_WECHAT_DESK_TEMPLATE", "alipay": "CARD_ALIPAY_DESK_TEMPLATE"}
EVENT_WORDS = {"reply": "客服已回复", "closed": "工单已办结"}
PAGE = "pages/complaints/detail?ticket={ticket}"


class NoticeFailed(Exception):
    """A platform refused or did not answer: ``final`` ends the notice; ``code`` is kept."""

    def __init__(self, code: str, final: bool) -> None:
        super().__init__(f"notice failed: {code}")
        self.code, self.final = code, final


# platform -> send(openid, template_id, data, page); raises NoticeFailed
Sender = Callable[[str, str, dict[str, str], str], None]


def enqueue(rt: Runtime, complaint: Complaint, message: ComplaintMessage, event: str) -> int:
    """Queue a notice of ``message`` (``event`` ``reply`` or ``closed``) for each of the
    citizen's accounts holding an unused acceptance of its platform's template; inside the
    caller's transaction. Returns how many were queued."""
    now, queued = rt.clock.now(), 0
    accounts = db.session.execute(select(MpAccount.id, MpAccount.platform).where(
        MpAccount.citizen_id == complaint.citizen_id, MpAccount.platform.in_(TEMPLATES))).all()
    for account_id, platform in accounts:
        template = rt.config[TEMPLATES[platform]]
        if use_subscription(account_id, template):
            db.session.add(DeskNotice(complaint_id=complaint.id, message_id=message.id, account_id=account_id,
                                      platform=platform, template_id=template, event=event, status=PENDING, attempts=0,
                                      next_attempt_at=now, created_at=now))
            queued += 1
    return queued


@dataclass
class NoticeReport:
    sent: int = 0
    failed: int = 0
    retrying: int = 0


def deliver_due(rt: Runtime, senders: dict[str, Sender], limit: int = 100) -> NoticeReport:
    """Send the due notices of the platforms in ``senders`` (at most ``limit``), each claimed first."""
    report = NoticeReport()
    now = rt.clock.now()
    due = db.session.scalars(select(DeskNotice.id).where(DeskNotice.status == PENDING, DeskNotice.next_attempt_at <= now,
                                                         DeskNotice.platform.in_(senders))
                             .order_by(DeskNotice.next_attempt_at).limit(limit)).all()
    for notice_id in due:
        if _claim(rt, notice_id):
            _deliver(rt, senders, notice_id, report)
    return report


def _claim(rt: Runtime, notice_id: int) -> bool:
    now = rt.clock.now()
    claimed = db.session.execute(
        update(DeskNotice).where(DeskNotice.id == notice_id, DeskNotice.status == PENDING, DeskNotice.next_attempt_at <= now)
        .values(next_attempt_at=now + timedelta(seconds=LEASE_SECONDS), attempts=DeskNotice.attempts + 1)
        .returning(DeskNotice.id)).first() is not None
    db.session.commit()
    return claimed


def _deliver(rt: Runtime, senders: dict[str, Sender], notice_id: int, report: NoticeReport) -> None:
    notice, openid, complaint = db.session.execute(
        select(DeskNotice, MpAccount.openid, Complaint).join(MpAccount, MpAccount.id == DeskNotice.account_id)
        .join(Complaint, Complaint.id == DeskNotice.complaint_id).where(DeskNotice.id == notice_id)).one()
    try:
        senders[notice.platform](openid, notice.template_id, message_data(complaint, notice),
                                 PAGE.format(ticket=complaint.ticket_number))
    except NoticeFailed as exc:
        _failed(rt, notice, exc, report)
    else:
        notice.status, notice.sent_at, notice.last_error = SENT, rt.clock.now(), None
        report.sent += 1
    db.session.commit()


def _failed(rt: Runtime, notice: DeskNotice, exc: NoticeFailed, report: NoticeReport) -> None:
    notice.last_error = exc.code[:64]
    if exc.final or notice.attempts >= rt.config["CARD_NOTIFY_MAX_ATTEMPTS"]:
        notice.status = FAILED
        report.failed += 1
        return
    delay = min(FIRST_RETRY_SECONDS * 2 ** (notice.attempts - 1), MAX_RETRY_SECONDS)
    notice.next_attempt_at = rt.clock.now() + timedelta(seconds=delay)
    report.retrying += 1


def message_data(complaint: Complaint, notice: DeskNotice) -> dict[str, str]:
    """The template fields: character_string1 ticket number, phrase2 what happened, time3 when
    (Asia/Shanghai), thing4 a hint. No complaint or reply text (it may hold personal data)."""
    return {"character_string1": complaint.ticket_number, "phrase2": EVENT_WORDS[notice.event],
            "time3": notice.created_at.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M"),
            "thing4": "请在市民卡小程序中查看"}


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
                                                        config["CARD_WECHAT_API_BASE"]))}
    if rt.alipay is not None:
        found["alipay"] = alipay_sender(AlipayTemplateMessenger(rt.alipay))
    return found
