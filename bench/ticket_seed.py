"""Synthetic service-desk tickets for the queue's tests and benchmark (issue 21): realistic
Chinese complaint texts, every status, category and department, spread over the last 60 days,
written in bulk (one multi-row INSERT per 1,000) outside the services, like bench/seed.py's people.

    seed_tickets(citizen_ids, 100_000, now, categories, departments, staff_ids)
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert

from app.platform.db import db
from app.service_desk.models import Complaint
from app.service_desk.working_days import add_working_days

PLACES = ("东城地铁站", "南城公交站", "市人民医院", "松山湖图书馆", "虎门汽车站", "长安医院", "市民服务中心", "莞城体育馆")
PROBLEMS = ("闸机扫码失败", "二维码无法显示", "电子社保卡无法领取", "医保结算失败", "刷卡被扣两次费", "实体卡挂失后无法补办",
            "手机号更换后收不到验证码", "借书时提示卡片无效", "乘车码显示已过期", "绑定时提示身份信息不一致")
TAILS = ("，请尽快处理。", "，已经试了三次。", "，工作人员让我找客服。", "，影响出行。", "，希望给个说法。", "。")
STATUSES = ("new", "in_progress", "transferred", "answered", "closed")
WEIGHTS = (3, 3, 1, 1, 4)


def ticket_text(rng: random.Random) -> str:
    """One complaint's description, e.g. ``在东城地铁站闸机扫码失败，请尽快处理。``."""
    return f"在{rng.choice(PLACES)}{rng.choice(PROBLEMS)}{rng.choice(TAILS)}"


def seed_tickets(citizen_ids: Sequence[int], count: int, now: datetime, categories: Sequence[str],
                 departments: Sequence[str], staff_ids: Sequence[int], seed: int = 21) -> None:
    """``count`` tickets ``CS<date>-Q<n>`` for ``citizen_ids`` (round robin), filed over the last
    60 days before ``now``, deadlines 2 and 10 working days later; call inside an app context."""
    rng = random.Random(seed)
    batch: list[dict[str, object]] = []
    for n in range(count):
        batch.append(_row(rng, n, citizen_ids[n % len(citizen_ids)], now, categories, departments, staff_ids))
        if len(batch) == 1000:
            db.session.execute(insert(Complaint), batch)
            batch = []
    if batch:
        db.session.execute(insert(Complaint), batch)
    db.session.commit()


def _row(rng: random.Random, n: int, citizen_id: int, now: datetime, categories: Sequence[str],
         departments: Sequence[str], staff_ids: Sequence[int]) -> dict[str, object]:
    created = now - timedelta(minutes=rng.randrange(60 * 24 * 60))
    status = rng.choices(STATUSES, WEIGHTS)[0]
    first_due, resolution_due = add_working_days(created, 2), add_working_days(created, 10)
    replied = None if status == "new" else created + timedelta(hours=rng.randrange(1, 96))
    return {"ticket_number": f"CS{created:%Y%m%d}-Q{n:05d}", "citizen_id": citizen_id, "category": rng.choice(categories),
            "description": ticket_text(rng), "status": status,
            "assignee_id": None if status == "new" or not staff_ids else rng.choice(staff_ids),
            "department": rng.choice(departments) if status in ("transferred", "answered") else None,
            "created_at": created, "first_response_due": first_due, "resolution_due": resolution_due,
            "first_responded_at": replied if replied is None or replied < now else now,
            "closed_at": min(now, created + timedelta(days=rng.randrange(1, 20))) if status == "closed" else None,
            "rating": rng.randint(1, 5) if status == "closed" and rng.random() < 0.6 else None}
