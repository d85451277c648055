"""Telling the holder of a large charge or a decline (issue 22 item 6; M-14, M-23.7): WeChat
subscribe messages and Alipay template messages through the shared outbox (app.outbox.outbox).

A charge at or above ``CARD_CHARGE_NOTICE_FEN`` and a bank's decline record a
:class:`~app.money.models.PaymentNotice` in the charge's or the confirmation's own statement
(once per charge and kind: app.money.charges.add_notice, app.money.charge_write). Sending is apart
from any request, in ``citizencard notify run``: :func:`queue_new` claims each new notice (one
conditional ``UPDATE ... WHERE queued_at IS NULL``: of racing runners one wins) and, in the same
transaction, queues one :class:`~app.money.models.PaymentNoticeMessage` per bound account of the
holder that holds an unused acceptance of ``CARD_WECHAT_PAYMENT_TEMPLATE`` or
``CARD_ALIPAY_PAYMENT_TEMPLATE`` (no acceptance, no message: the notice still shows in
``GET /api/mp/v1/payments``); :func:`deliver_due` then sends them with the outbox's claim,
retry and final-refusal rules. The message carries what happened, the amount, the merchant's
name and the time: never the card number, an ID number, the holder's name or the merchant's
description of the purchase.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from app.money.models import Charge, PaymentNotice, PaymentNoticeMessage
from app.money.notifications import format_yuan
from app.outbox import outbox
from app.partners.models import Partner
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.runtime import Runtime

TEMPLATES = {"wechat": "CARD_WECHAT_PAYMENT_TEMPLATE", "alipay": "CARD_ALIPAY_PAYMENT_TEMPLATE"}
KIND_WORDS = {"large_charge": "大额消费提醒", "declined": "扣款失败"}
PAGE = "pages/payments/index"
MERCHANT_CHARACTERS = 20  # a WeChat ``thing`` field holds at most 20 characters


def queue_new(rt: Runtime, limit: int = 100) -> int:
    """Put the messages of up to ``limit`` notices not yet queued in the outbox, each notice
    claimed first; returns how many messages were queued."""
    waiting = db.session.scalars(select(PaymentNotice.id).where(PaymentNotice.queued_at.is_(None))
                                 .order_by(PaymentNotice.id).limit(limit)).all()
    return sum(_queue(rt, notice_id) for notice_id in waiting)


def _queue(rt: Runtime, notice_id: int) -> int:
    now = rt.clock.now()
    citizen_id = db.session.execute(
        update(PaymentNotice).where(PaymentNotice.id == notice_id, PaymentNotice.queued_at.is_(None))
        .values(queued_at=now).returning(PaymentNotice.citizen_id).execution_options(synchronize_session=False)).scalar()
    if citizen_id is None:  # another runner queued it
        db.session.rollback()
        return 0
    taken = outbox.take_acceptances(rt, citizen_id, TEMPLATES)
    for account_id, platform, template in taken:
        db.session.add(PaymentNoticeMessage(notice_id=notice_id, account_id=account_id, platform=platform,
                                            template_id=template, status=outbox.PENDING, attempts=0,
                                            next_attempt_at=now, created_at=now))
    db.session.commit()
    return len(taken)


def deliver_due(rt: Runtime, senders: dict[str, outbox.Sender], limit: int = 100) -> outbox.NoticeReport:
    """Queue the new notices' messages (:func:`queue_new`), then send the due ones on the
    platforms of ``senders`` (at most ``limit``), each claimed first (app.outbox.outbox)."""
    queue_new(rt, limit)
    return outbox.deliver_due(rt, PaymentNoticeMessage, _render, senders, limit)


def _render(message: PaymentNoticeMessage) -> tuple[dict[str, str], str]:
    notice, charge, merchant = db.session.execute(
        select(PaymentNotice, Charge, Partner.name).join(Charge, Charge.id == PaymentNotice.charge_id)
        .join(Partner, Partner.id == Charge.merchant_partner_id).where(PaymentNotice.id == message.notice_id)).one()
    return message_data(notice.kind, charge.amount_fen, merchant, charge.created_at), PAGE


def message_data(kind: str, amount_fen: int, merchant: str, charged_at: datetime) -> dict[str, str]:
    """The template fields: phrase1 what happened (大额消费提醒 or 扣款失败), amount2 the amount
    (``12.50元``, from integer fen), thing3 the merchant's registered name (at most 20
    characters), time4 when the charge was made (Asia/Shanghai, minutes). Nothing else: no card
    or ID number, no name, no purchase description."""
    return {"phrase1": KIND_WORDS[kind], "amount2": format_yuan(amount_fen), "thing3": merchant[:MERCHANT_CHARACTERS],
            "time4": charged_at.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M")}
