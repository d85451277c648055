"""Telling a citizen that a benefit was credited (M-23.7): WeChat subscribe messages through an outbox.

The mini-program reports each template the citizen accepted (``POST /api/mp/v1/subscriptions``);
one acceptance allows one message. Crediting a line only *enqueues* a notice (a row in
``notifications``, in the crediting transaction), when the citizen's WeChat account holds an
unused acceptance of ``CARD_WECHAT_BENEFIT_TEMPLATE``. ``citizencard notify run`` drains the outbox
apart from any request: 43101 (no subscription left) is recorded as final; other failures are
retried with exponential backoff (1 min, 2 min, ... at most 1 h) up to ``CARD_NOTIFY_MAX_ATTEMPTS``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from app.identity.models import MpAccount
from app.integrations.wechat_messages import NO_SUBSCRIPTION_LEFT, SendFailed, SubscribeMessenger
from app.money.models import Disbursement, Notification, Subscription
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.sql import upsert_insert
from app.runtime import Runtime

PENDING, SENT, FAILED = "pending", "sent", "failed"
SUBSCRIPTION_RESULTS = ("accept", "reject", "ban")
FIRST_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 3600
LEASE_SECONDS = 120  # a claimed notice is not picked up by another runner for this long
BENEFIT_LABELS = {
    "pension": "养老金", "unemployment_insurance": "失业保险金", "talent_subsidy": "人才补贴", "employment_subsidy": "就业补贴",
    "social_relief": "社会救助金", "agricultural_subsidy": "农业补贴", "disability_subsidy": "残疾人补贴", "elderly_allowance": "高龄津贴",
}


def record_subscription(rt: Runtime, account: MpAccount, template_id: str, result: str) -> int:
    """Record the citizen's answer to ``wx.requestSubscribeMessage`` for ``template_id``:
    ``accept`` adds one allowed message; ``reject``/``ban`` clears them. Returns the messages allowed now."""
    table = Subscription.__table__
    now = rt.clock.now()
    accepted = 1 if result == "accept" else 0
    statement = upsert_insert(db.engine.dialect.name, table).values(
        account_id=account.id, template_id=template_id, remaining=accepted, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.account_id, table.c.template_id],
        set_={"remaining": table.c.remaining + 1 if accepted else 0, "updated_at": now},
    ).returning(table.c.remaining)
    remaining = db.session.execute(statement).scalar_one()
    db.session.commit()
    return int(remaining)


def enqueue_credit_notices(rt: Runtime, credited: Iterable[tuple[int, int]]) -> int:
    """For each (disbursement id, citizen id) just credited, use up one acceptance of the benefit
    template and enqueue a notice. Runs inside the caller's transaction; returns how many were queued."""
    by_citizen = dict((citizen_id, disbursement_id) for disbursement_id, citizen_id in credited)
    if not by_citizen:
        return 0
    template = rt.config["CARD_WECHAT_BENEFIT_TEMPLATE"]
    candidates = db.session.execute(
        select(MpAccount.id, MpAccount.citizen_id).join(Subscription, Subscription.account_id == MpAccount.id)
        .where(MpAccount.citizen_id.in_(by_citizen), MpAccount.platform == "wechat",
               Subscription.template_id == template, Subscription.remaining > 0)
    ).all()
    queued, now = 0, rt.clock.now()
    for account_id, citizen_id in candidates:
        if use_subscription(account_id, template):
            db.session.add(Notification(disbursement_id=by_citizen[citizen_id], account_id=account_id, template_id=template,
                                        status=PENDING, attempts=0, next_attempt_at=now, created_at=now))
            queued += 1
    return queued


def use_subscription(account_id: int, template_id: str) -> bool:
    """Take one of the messages the mini-program account ``account_id`` allowed for the subscribe
    template ``template_id`` (:func:`record_subscription`): True when one was left and is now
    used, False when none was. One conditional ``UPDATE ... WHERE remaining > 0 RETURNING``, so two
    callers cannot both take the last one; inside the caller's transaction (it commits). Used by the
    benefit notices here and the service desk's complaint notices (app/service_desk/notices.py)."""
    return db.session.execute(
        update(Subscription).where(Subscription.account_id == account_id, Subscription.template_id == template_id,
                                   Subscription.remaining > 0)
        .values(remaining=Subscription.remaining - 1).returning(Subscription.id)
    ).first() is not None


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    retrying: int = 0


def deliver_due(rt: Runtime, messenger: SubscribeMessenger, limit: int = 100) -> DeliveryReport:
    """Send the notices that are due (at most ``limit``); each is claimed first, so several
    runners never send one twice."""
    report = DeliveryReport()
    now = rt.clock.now()
    due = db.session.scalars(select(Notification.id).where(Notification.status == PENDING, Notification.next_attempt_at <= now)
                             .order_by(Notification.next_attempt_at).limit(limit)).all()
    for notification_id in due:
        if _claim(rt, notification_id):
            _deliver(rt, messenger, notification_id, report)
    return report


def _claim(rt: Runtime, notification_id: int) -> bool:
    now = rt.clock.now()
    claimed = db.session.execute(
        update(Notification).where(Notification.id == notification_id, Notification.status == PENDING,
                                   Notification.next_attempt_at <= now)
        .values(next_attempt_at=now + timedelta(seconds=LEASE_SECONDS)).returning(Notification.id)
    ).first() is not None
    db.session.commit()
    return claimed


def _deliver(rt: Runtime, messenger: SubscribeMessenger, notification_id: int, report: DeliveryReport) -> None:
    row = db.session.execute(
        select(Notification, MpAccount.openid, Disbursement)
        .join(MpAccount, MpAccount.id == Notification.account_id)
        .join(Disbursement, Disbursement.id == Notification.disbursement_id)
        .where(Notification.id == notification_id)
    ).one()
    notification = row.Notification
    notification.attempts += 1
    try:
        messenger.send(row.openid, notification.template_id, message_data(row.Disbursement), page="pages/benefits/index")
    except SendFailed as exc:
        _failed(rt, notification, exc.errcode, report)
    else:
        notification.status, notification.sent_at, notification.last_errcode = SENT, rt.clock.now(), None
        report.sent += 1
    db.session.commit()


def _failed(rt: Runtime, notification: Notification, errcode: int, report: DeliveryReport) -> None:
    notification.last_errcode = errcode
    if errcode == NO_SUBSCRIPTION_LEFT or notification.attempts >= rt.config["CARD_NOTIFY_MAX_ATTEMPTS"]:
        notification.status = FAILED
        report.failed += 1
        return
    delay = min(FIRST_RETRY_SECONDS * 2 ** (notification.attempts - 1), MAX_RETRY_SECONDS)
    notification.next_attempt_at = rt.clock.now() + timedelta(seconds=delay)
    report.retrying += 1


def format_yuan(amount_fen: int) -> str:
    """``12345`` -> ``"123.45元"`` (integer arithmetic: money is never a float)."""
    return f"{amount_fen // 100}.{amount_fen % 100:02d}元"


def message_data(disbursement: Disbursement) -> dict[str, str]:
    """The template fields: thing1 benefit, amount2 amount, date3 credited on (Asia/Shanghai), thing4 period."""
    credited_on = (disbursement.settled_at or disbursement.posted_at).astimezone(DISPLAY_ZONE)
    return {"thing1": BENEFIT_LABELS.get(disbursement.benefit_type, disbursement.benefit_type)[:20],
            "amount2": format_yuan(disbursement.amount_fen), "date3": credited_on.strftime("%Y-%m-%d"),
            "thing4": disbursement.period}
