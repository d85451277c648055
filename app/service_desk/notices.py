"""Telling a citizen of a reply or a closing (issue 21 item 6; M-14): WeChat subscribe messages
and Alipay template messages, through an outbox.

The mini-program reports each template the citizen accepted (``POST /api/mp/v1/subscriptions``,
app.money.notifications.record_subscription; one acceptance allows one message) for
``CARD_WECHAT_DESK_TEMPLATE`` or ``CARD_ALIPAY_DESK_TEMPLATE``. A staff reply the citizen sees,
or the closing, *enqueues* a :class:`~app.service_desk.models.DeskNotice` per bound account of
the citizen holding an unused acceptance (taken atomically), in the reply's own transaction:
no acceptance, no notice (the citizen still reads it in the app). ``citizencard notify run``
drains the outbox apart from any request through the shared outbox (app.outbox.outbox: each
notice claimed first, so two runners never send it twice; final refusals end it; other failures
retried with backoff up to ``CARD_NOTIFY_MAX_ATTEMPTS``).
The message carries the ticket number, the event and the time: never the reply's text.
"""
from __future__ import annotations

from sqlalchemy import select

from app.outbox import outbox
from app.outbox.outbox import NoticeReport, Sender, senders  # noqa: F401 (senders: the desk's callers use this name)
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.runtime import Runtime
from app.service_desk.models import Complaint, ComplaintMessage, DeskNotice

TEMPLATES = {"wechat": "CARD_WECHAT_DESK_TEMPLATE", "alipay": "CARD_ALIPAY_DESK_TEMPLATE"}
EVENT_WORDS = {"reply": "客服已回复", "closed": "工单已办结"}
PAGE = "pages/complaints/detail?ticket={ticket}"


def enqueue(rt: Runtime, complaint: Complaint, message: ComplaintMessage, event: str) -> int:
    """Queue a notice of ``message`` (``event`` ``reply`` or ``closed``) for each of the
    citizen's accounts holding an unused acceptance of its platform's template; inside the
    caller's transaction. Returns how many were queued."""
    now = rt.clock.now()
    taken = outbox.take_acceptances(rt, complaint.citizen_id, TEMPLATES)
    for account_id, platform, template in taken:
        db.session.add(DeskNotice(complaint_id=complaint.id, message_id=message.id, account_id=account_id,
                                  platform=platform, template_id=template, event=event, status=outbox.PENDING, attempts=0,
                                  next_attempt_at=now, created_at=now))
    return len(taken)


def deliver_due(rt: Runtime, by_platform: dict[str, Sender], limit: int = 100) -> NoticeReport:
    """Send the due desk notices of the platforms in ``by_platform`` (at most ``limit``), each claimed first."""
    return outbox.deliver_due(rt, DeskNotice, _render, by_platform, limit)


def _render(notice: DeskNotice) -> tuple[dict[str, str], str]:
    complaint = db.session.scalar(select(Complaint).where(Complaint.id == notice.complaint_id))
    return message_data(complaint, notice), PAGE.format(ticket=complaint.ticket_number)  # type: ignore[union-attr]


def message_data(complaint: Complaint, notice: DeskNotice) -> dict[str, str]:
    """The template fields: character_string1 ticket number, phrase2 what happened, time3 when
    (Asia/Shanghai), thing4 a hint. No complaint or reply text (it may hold personal data)."""
    return {"character_string1": complaint.ticket_number, "phrase2": EVENT_WORDS[notice.event],
            "time3": notice.created_at.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M"),
            "thing4": "请在市民卡小程序中查看"}
