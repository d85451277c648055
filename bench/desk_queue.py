"""How fast the console's queue page answers with 100,000 tickets on PostgreSQL (issue 21, target
under 300 ms; docs/customer-service.md). In-process (Flask's test client: the whole request,
session check, queries and the rendered page, no network), one logged-in supervisor, each page
``--repeat`` times after one warm-up (a "next link" row times the page a page's next link opens:
the same rows as the page number, found by its cursor); prints the median and the slowest per page, and whether
every page's median met the target (``TARGET ... MET`` / ``NOT MET``, exit status 0 / 1).
Uses its own database and Redis database (flushed):

    .venv/bin/python bench/desk_queue.py [--tickets 100000] [--citizens 20000] [--repeat 15] [--reuse]
        [--admin-url postgresql://postgres@127.0.0.1:5432/test] [--redis-url redis://127.0.0.1:6379/15]
"""
from __future__ import annotations

import sys
from pathlib import Path

# This file is named queue.py (as issue 21 asks): keep its folder off the front of sys.path, or it
# would stand in for the standard library's queue module (imported by redis and psycopg).
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH), str(BENCH.parent)]

import argparse  # noqa: E402
import re
import secrets
import statistics
import tempfile
import time
from html import unescape
from urllib.parse import quote

import psycopg
import pyotp
import redis
from seed import seed_population  # noqa: E402
from sqlalchemy.engine import make_url
from ticket_seed import seed_tickets  # noqa: E402
from verify import fresh_database  # noqa: E402

from app import create_app  # noqa: E402
from app.platform.clock import FrozenClock  # noqa: E402
from app.runtime import EXTENSION_KEY  # noqa: E402
from app.server import upgrade_schema  # noqa: E402
from app.service_desk.staff import create_staff  # noqa: E402

TARGET_MS = 300
PASSWORD = secrets.token_urlsafe(16)
PAGES = {
    "open, page 1 (fair order)": "/console/",
    "open, page 600": "/console/?page=600",
    "open, page 600 (next link from 599)": "next:/console/?page=599",
    "closed, page 1": "/console/?view=closed",
    "new, sorted by due": "/console/?view=new&sort=due",
    "category + status + department": "/console/?category=code&status=transferred&department=hrss",
    "overdue": "/console/?overdue=y",
    "date range": "/console/?since={since}&until={until}",
    "search 医保结算 (4 chars)": "/console/?view=closed&text=" + quote("医保结算"),
    "search 扫码 (2 chars)": "/console/?text=" + quote("扫码"),
    "search 扫码, page 20 (next link)": "next:/console/?page=19&text=" + quote("扫码"),
    "search a ticket number": "/console/?text=CS{today}-Q04242",
}


def login(client, app, clock) -> None:  # type: ignore[no-untyped-def]
    rt = app.extensions[EXTENSION_KEY]
    username = f"bench-{secrets.token_hex(3)}"
    with app.app_context():
        seed = create_staff(rt, username, "supervisor", PASSWORD, None).totp_seed
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").get_data(as_text=True))
    assert token
    answer = client.post("/console/login", data={"csrf_token": token.group(1), "username": username,
                                                 "password": PASSWORD, "otp": pyotp.TOTP(seed).at(int(clock.time()))})
    assert answer.status_code == 302, answer.status_code


def next_link(html: str) -> str:
    """The href of the page's ``rel="next"`` link (it carries the cursor, ``after=``)."""
    found = re.search(r'<a rel="next" href="([^"]+)"', html)
    assert found, "no next page"
    return unescape(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--citizens", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="cc_queue_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--reuse", action="store_true", help="measure the database a previous run seeded (no reseeding)")
    args = parser.parse_args()
    database_url = (make_url(args.admin_url).set(drivername="postgresql", database=args.database).render_as_string(hide_password=False)
                    if args.reuse else fresh_database(args.admin_url, args.database))
    redis.Redis.from_url(args.redis_url).flushdb()
    clock = FrozenClock(time.time())
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": args.redis_url,
                      "CARD_INSTANCE_PATH": tempfile.mkdtemp(), "CARD_CONSOLE_SECURE_COOKIE": False}, clock=clock)
    upgrade_schema(app)
    rt = app.extensions[EXTENSION_KEY]
    client = app.test_client()
    login(client, app, clock)  # the first run's supervisor (staff id 1) is the seeded tickets' assignee
    if not args.reuse:
        seed_population(app, database_url, args.citizens, 0)
        started = time.perf_counter()
        with app.app_context():
            seed_tickets(range(1, args.citizens + 1), args.tickets, clock.now(), list(rt.config["CARD_COMPLAINT_CATEGORIES"]),
                         list(rt.config["CARD_DEPARTMENTS"]), [1])
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE complaints")
        print(f"seeded {args.tickets:,} tickets for {args.citizens:,} citizens in {time.perf_counter() - started:.1f} s")
    today = clock.now().date()
    met = True
    for name, path in PAGES.items():
        path = path.format(since=today.replace(day=1).isoformat(), until=today.isoformat(), today=f"{today:%Y%m%d}")
        if path.startswith("next:"):  # the page after this one, through its next link (a cursor)
            path = next_link(client.get(path.removeprefix("next:")).get_data(as_text=True))
        assert client.get(path).status_code == 200, path
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        median = statistics.median(times)
        met &= median < TARGET_MS
        print(f"{name:34} median {median:6.1f} ms   slowest {max(times):6.1f} ms")
    print(f"TARGET median under {TARGET_MS} ms on every page: {'MET' if met else 'NOT MET'}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
