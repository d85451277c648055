"""Benchmark: the daily figures job (app/hub/figures.py, ``citizencard hub figures``) on a large
card base. Run by hand, not in CI:

    .venv/bin/python bench/figures.py                          # 1,000,000 then 3,000,000 cards
    .venv/bin/python bench/figures.py --cards 200000 400000    # quick try
    .venv/bin/python bench/figures.py --cards 10000000 --database bench_hub_10m   # the real size

For each size N it creates a fresh database (``cc_bench_figures``), migrates it and fills it with
``generate_series`` (no Python per row): N citizens in 30 towns with N cards spread over the 30
days before yesterday, and, on yesterday alone, a fixed day of activity: ``--per-day`` new cards,
5 x that many scans in 4 scenes and 10 partners, carrier transitions (suspensions and physical
cards) and complaints. It computes the days before yesterday (untimed: the history), then times
the job on yesterday: what the nightly run does. Because the job reads one day of rows by index
range and carries the stocks from the day before, its time follows the day's activity far more
than N; what grows with N (deeper indexes, a colder cache) is measured at two sizes and the
estimate for 10,000,000 cards extrapolates it linearly (an upper bound: index depth grows with log N).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from verify import fresh_database  # noqa: E402

from app import create_app  # noqa: E402

DATABASE = "cc_bench_figures"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--per-day", type=int, default=20_000, help="new cards on the timed day (scans: 5 x)")
    parser.add_argument("--database", default=DATABASE, help="the scratch database (dropped afterwards)")
    parser.add_argument("--admin-url", default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    return parser.parse_args()


SEED = """
INSERT INTO partners (partner_id, name, secret_enc, kind, scenes, roles, created_at)
SELECT 'p_bench' || n, 'Partner ' || n, 'x', 'organisation', 'transit', '', now() FROM generate_series(1, 10) n;
INSERT INTO citizens (id_number_index, id_number_enc, name_enc, phone_enc, insured, disability, town, created_at, updated_at)
SELECT lpad(n::text, 64, '0'), 'x', 'x', 'x', true, false, 'town-' || (n % 30), :day0, :day0
FROM generate_series(1, :total) n;
INSERT INTO cards (card_number, citizen_id, status, contact_phone_enc, created_at, failed_attempts)
SELECT '9' || lpad(n::text, 15, '0'), n, 'active', 'x',
       CASE WHEN n > :total - :per_day THEN :day + (n % 80000) * interval '1 second'
            ELSE :day0 + (n % 30) * interval '1 day' END, 0
FROM generate_series(1, :total) n;
INSERT INTO carrier_events (card_id, carrier, event, from_state, to_state, reason, actor, created_at)
SELECT n, 'ecard', 'suspended', 'active', 'suspended', 'bench', 'citizen', :day + (n % 80000) * interval '1 second'
FROM generate_series(1, :per_day / 10) n;
INSERT INTO complaints (ticket_number, citizen_id, category, description, status, department, created_at,
                        first_response_due, resolution_due, closed_at)
SELECT 'T' || n, n, 'other', 'bench', 'closed', 'hrss', :day + interval '1 hour', :day + interval '1 day',
       :day + interval '5 day', :day + interval '2 hour' FROM generate_series(1, :per_day / 20) n;
"""
SCANS = """
INSERT INTO verifications (id, code_step, partner_id, terminal_id, scene, card_id, accepted, carrier, created_at)
SELECT 'vf_' || n, (extract(epoch FROM :day)::bigint + n % 80000) / 30, 1 + n % 10, 'gate-1',
       (ARRAY['transit', 'library', 'medical', 'culture'])[1 + n % 4], 1 + (n * 7919) % :total, true, 'ecard',
       :day + (n % 80000) * interval '1 second'
FROM generate_series(1, :per_day * 5) n;
"""


def seed(connection, total: int, per_day: int, day, day0) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    params = {"total": total, "per_day": per_day, "day": day, "day0": day0}
    connection.execute(text("SET synchronous_commit = off"))
    connection.execute(text("SET maintenance_work_mem = '512MB'"))
    for statement in filter(str.strip, SEED.split(";")):
        connection.execute(text(statement), params)
    connection.execute(text(SCANS), params)
    connection.execute(text("ANALYZE"))


def measure(args: argparse.Namespace, total: int) -> float:
    database_url = fresh_database(args.admin_url, args.database)
    with tempfile.TemporaryDirectory(prefix="cc_bench_") as tmp:
        os.environ.update(DATABASE_URL=database_url, CARD_INSTANCE_PATH=tmp)
        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": None})
        with app.app_context():
            from flask_migrate import upgrade

            from app.hub.figures import compute_day, day_bounds, run_figures
            from app.platform.clock import DISPLAY_ZONE
            from app.platform.db import db
            from app.runtime import runtime

            upgrade()
            rt = runtime()
            yesterday = rt.clock.now().astimezone(DISPLAY_ZONE).date() - timedelta(days=1)
            day = day_bounds(yesterday)[0]
            started = time.perf_counter()
            with db.engine.begin() as connection:
                seed(connection, total, args.per_day, day, day - timedelta(days=31))
            print(f"{total:>11,} cards: seeded in {time.perf_counter() - started:.0f} s; {load()}", flush=True)
            run_figures(rt, yesterday - timedelta(days=1))
            runs = []
            for _ in range(2):
                started = time.perf_counter()
                rows = compute_day(rt, yesterday)
                runs.append(time.perf_counter() - started)
            print(f"{total:>11,} cards: the daily job on one day ({args.per_day:,} new cards, {args.per_day * 5:,} scans): "
                  f"{runs[0]:.2f} s (again: {runs[1]:.2f} s), {rows} figures; {load()}", flush=True)
            db.session.remove()
            db.engine.dispose()
    drop_database(args.admin_url, args.database)
    return runs[0]


def load() -> str:
    """The machine's load averages (1, 5, 15 min): other work shares it."""
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def drop_database(admin_url: str, name: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    args = parse_args()
    times = [measure(args, total) for total in args.cards]
    if len(times) == 1:
        return 0
    (small, t_small), (large, t_large) = (args.cards[0], times[0]), (args.cards[-1], times[-1])
    slope = max(t_large - t_small, 0.0) / max(large - small, 1)  # what remains of N (larger indexes, colder cache)
    estimate = t_large + slope * (10_000_000 - large)
    print(f"estimate for 10,000,000 cards with the same day's activity: about {estimate:.1f} s, extrapolated linearly "
          f"from {', '.join(f'{n:,} cards: {t:.2f} s' for n, t in zip(args.cards, times, strict=True))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
