"""Telling a citizen that a benefit was credited (M-23.7): WeChat subscribe messages through an outbox.

The mini-program reports each template the citizen accepted (``POST /api/mp/v1/subscriptions``);
one acceptance allows one message. Crediting a line only *enqueues* a notice (a row in
``notifications``, in the crediting transaction), when the citizen's WeChat account holds an
unused acceptance of ``CARD_WECHAT_BENEFIT_TEMPLATE``. ``citizencard notify run`` drains it apart
from any request with the shared outbox's rules (app.outbox.outbox): 43101 (no subscription left)
is final; other failures are retried with exponential backoff (1 min, 2 min, ... at most 1 h) up
to ``CARD_NOTIFY_MAX_ATTEMPTS``.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from app.identity.models import MpAccount
from app.money.models import Disbursement, Notification
from app.outbox import outbox
from app.outbox.models import Subscription
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.sql import upsert_insert
from app.runtime import Runtime

PAGE = "pages/benefits/index"
SUBSCRIPTION_RESULTS = ("accept", "reject", "ban")
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
        if outbox.use_subscription(account_id, template):
            db.session.add(Notification(disbursement_id=by_citizen[citizen_id], account_id=account_id, platform="wechat",
                                        template_id=template, status=outbox.PENDING, attempts=0, next_attempt_at=now,
                                        created_at=now))
            queued += 1
    return queued


def deliver_due(rt: Runtime, senders: dict[str, outbox.Sender], limit: int = 100) -> outbox.NoticeReport:
    """Send the due benefit notices (at most ``limit``) with the outbox's claim, retry and
    final-refusal rules (app.outbox.outbox.deliver_due); ``senders``: app.outbox.outbox.senders."""
    return outbox.deliver_due(rt, Notification, _render, senders, limit)


def _render(notification: Notification) -> tuple[dict[str, str], str]:
    disbursement = db.session.get(Disbursement, notification.disbursement_id)
    return message_data(disbursement), PAGE


def format_yuan(amount_fen: int) -> str:
    """``12345`` -> ``"123.45元"`` (integer arithmetic: money is never a float)."""
    return f"{amount_fen // 100}.{amount_fen % 100:02d}元"


def message_data(disbursement: Disbursement) -> dict[str, str]:
    """The template fields: thing1 benefit, amount2 amount, date3 credited on (Asia/Shanghai), thing4 period."""
    credited_on = (disbursement.settled_at or disbursement.posted_at).astimezone(DISPLAY_ZONE)
    return {"thing1": BENEFIT_LABELS.get(disbursement.benefit_type, disbursement.benefit_type)[:20],
            "amount2": format_yuan(disbursement.amount_fen), "date3": credited_on.strftime("%Y-%m-%d"),
            "thing4": disbursement.period}
