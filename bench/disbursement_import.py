"""Benchmark: importing a disbursement batch into PostgreSQL, lines per second, against a plain
``COPY`` of the same rows measured in the same run.

Run by hand, not in CI (see bench/README.md):

    .venv/bin/python bench/disbursement_import.py                    # 100,000 lines, 20,000 card holders
    .venv/bin/python bench/disbursement_import.py --lines 10000      # quick try

One run creates a fresh database (``cc_bench_disburse``), migrates it, seeds N citizens with cards
and financial accounts (COPY, real blind indexes), then:

1. **import**: ``app.money.disbursement.submit_batch`` over a CSV of L lines held in memory (half
   of the recipients by ID number, half by card number), exactly what ``citizencard disburse
   import`` runs: CSV parsing, validation, recipient resolution, the insert. Meanwhile another
   connection does what a verification writes (update a card, insert a verification) every 5 ms
   and records how long each took: the batch must never block it.
2. **again**: the same file once more (every line a duplicate: nothing may be paid twice).
3. **COPY**: the same L resolved rows, already built in memory, by one ``COPY`` into
   ``disbursements`` itself (as another department's batch: same constraints, indexes and foreign
   keys): the floor.

It prints lines/s of each, the ratio import/COPY, and the targets: >= 10,000 lines/s and >= 0.25 x COPY.
"""
from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seed import copy_rows, set_sequences  # noqa: E402
from verify import fresh_database  # noqa: E402

from app import create_app
from app.identity import (
    idnumber,  # noqa: E402
    people,  # noqa: E402
)
from app.money.disbursement import INSERTED_COLUMNS, LINE_FIELDS, read_batch_csv, submit_batch  # noqa: E402
from app.partners.partners import create_partner, partner_view  # noqa: E402
from app.platform.db import db  # noqa: E402
from app.runtime import EXTENSION_KEY  # noqa: E402

DATABASE = "cc_bench_disburse"
TYPES = ("pension", "unemployment_insurance", "talent_subsidy", "employment_subsidy", "social_relief", "agricultural_subsidy")
TARGET_RATE, TARGET_RATIO = 10_000, 0.25


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--citizens", type=int, default=20_000, help="card holders with a financial account")
    parser.add_argument("--admin-url", default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    return parser.parse_args()


def holder_id_number(i: int) -> str:
    """A valid ID number, different for every ``i`` below 10 million: province 44, the next four
    digits from ``i // 1000``, births spread over 1940-2009, sequence ``i % 1000``."""
    first17 = f"44{i // 1000 % 10000:04d}{1940 + i % 70}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return first17 + idnumber.check_digit(first17)


def seed(app, database_url: str, citizens: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Citizens ``1..N`` with card ``9{i:015d}`` and a financial account at the bench bank; returns
    (department id, bank id)."""
    rt = app.extensions[EXTENSION_KEY]
    with app.app_context():
        bank = create_partner(rt, "Bench Bank", [], [], roles=["bank"])
        department = create_partner(rt, "Bench HRSS", [], [], roles=["disburse"])
        bank_id, department_id = partner_view(rt, bank.partner_id).id, partner_view(rt, department.partner_id).id  # type: ignore[union-attr]
        db.session.remove()
    now, encrypt = rt.clock.now(), rt.keyring.encrypt
    with psycopg.connect(database_url) as conn:
        citizen_columns = ("id", "id_number_index", "id_number_enc", "name_enc", "phone_enc", "insured", "created_at", "updated_at")
        copy_rows(conn, "citizens", citizen_columns,
                  ((i + 1, people.id_index(rt, holder_id_number(i)), encrypt(holder_id_number(i), people.ID_NUMBER),
                    encrypt("测试", people.NAME), encrypt("13800000000", people.PHONE), True, now, now) for i in range(citizens)))
        copy_rows(conn, "cards", ("id", "card_number", "citizen_id", "status", "contact_phone_enc", "created_at"),
                  ((i + 1, f"9{i:015d}", i + 1, "active", encrypt("13800000000", people.CONTACT_PHONE), now) for i in range(citizens)))
        account_columns = ("id", "card_id", "bank_partner_id", "account_number_enc", "opened_at", "updated_at")
        copy_rows(conn, "financial_accounts", account_columns,
                  ((i + 1, i + 1, bank_id, encrypt(f"62220200{i:010d}", people.FINANCIAL_ACCOUNT_NUMBER), now, now)
                   for i in range(citizens)))
        set_sequences(conn, ("citizens", "cards", "financial_accounts"))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    return department_id, bank_id


def batch_csv(lines: int, citizens: int) -> str:
    """A batch file: line ``n`` pays citizen ``n mod N``, by ID number on even lines, by card number on odd ones."""
    out = io.StringIO()
    out.write(",".join(LINE_FIELDS) + "\n")
    for n in range(lines):
        i = n % citizens
        recipient = f"{holder_id_number(i)}," if n % 2 == 0 else f",9{i:015d}"
        out.write(f"BENCH-{n:07d},{recipient},{TYPES[n % len(TYPES)]},{10000 + n % 90000},2026-{1 + n % 12:02d}\n")
    return out.getvalue()


class VerificationProbe(threading.Thread):
    """What a verification writes, every 5 ms on its own connection; keeps each write's duration.
    With ``lock_timeout`` 50 ms, a write that waits that long for a lock fails and is counted in
    ``lock_waits``: slow writes without lock waits are the machine being busy, not blocking."""

    def __init__(self, database_url: str, cards: int, partner_id: int, name: str) -> None:
        super().__init__(daemon=True)
        self.url, self.cards, self.partner_id, self.label = database_url, cards, partner_id, name
        self.durations: list[float] = []
        self.lock_waits = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '50ms'")
            n = 0
            while not self.stop.is_set():
                card = random.randint(1, self.cards)
                started = time.perf_counter()
                try:
                    with conn.transaction():
                        conn.execute("UPDATE cards SET failed_attempts = failed_attempts WHERE id = %s", (card,))
                        conn.execute("INSERT INTO verifications (id, partner_id, terminal_id, scene, card_id, accepted, created_at, "
                                     "code_step) VALUES (%s, %s, 'probe', 'transit', %s, true, now(), "
                                     "floor(extract(epoch FROM now()) / 30))", (f"{self.label}-{n}", self.partner_id, card))
                except psycopg.errors.LockNotAvailable:
                    self.lock_waits += 1
                self.durations.append(time.perf_counter() - started)
                n += 1
                time.sleep(0.005)


def timed_import(app, department_id: int, text: str):  # type: ignore[no-untyped-def]
    rt = app.extensions[EXTENSION_KEY]
    with app.app_context():
        started = time.perf_counter()
        report = submit_batch(rt, department_id, "BENCH-BATCH", read_batch_csv(io.StringIO(text)))
        elapsed = time.perf_counter() - started
        db.session.remove()
    return report, elapsed


def timed_copy(app, database_url: str, lines: int, citizens: int, bank_id: int) -> float:  # type: ignore[no-untyped-def]
    """The same rows, resolved and built in memory beforehand, by one COPY into ``disbursements``
    itself (same constraints, indexes and foreign keys), as another department's batch."""
    from datetime import UTC, datetime

    rt = app.extensions[EXTENSION_KEY]
    with app.app_context():
        other = partner_view(rt, create_partner(rt, "Bench COPY", [], [], roles=["disburse"]).partner_id).id  # type: ignore[union-attr]
        db.session.remove()
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as conn:
        batch = conn.execute("INSERT INTO disbursement_batches (department_id, batch_reference, created_at) "
                             "VALUES (%s, 'COPY', now()) RETURNING id", (other,)).fetchone()[0]  # type: ignore[index]
        conn.commit()
        rows = [(batch, other, f"BENCH-{n:07d}", n % citizens + 1, n % citizens + 1, bank_id, TYPES[n % len(TYPES)],
                 10000 + n % 90000, f"2026-{1 + n % 12:02d}", "pending", now) for n in range(lines)]
        started = time.perf_counter()
        copy_rows(conn, "disbursements", INSERTED_COLUMNS, rows)
        conn.commit()
        return time.perf_counter() - started


def main() -> int:
    args = parse_args()
    database_url = fresh_database(args.admin_url, DATABASE)
    with tempfile.TemporaryDirectory(prefix="cc_bench_") as tmp:
        os.environ.update(DATABASE_URL=database_url, CARD_INSTANCE_PATH=tmp)
        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": None})
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
        started = time.perf_counter()
        department_id, bank_id = seed(app, database_url, args.citizens)
        seeded = time.perf_counter() - started
        text = batch_csv(args.lines, args.citizens)
        idle = VerificationProbe(database_url, args.citizens, bank_id, "idle")
        idle.start()
        time.sleep(3)
        idle.stop.set()
        idle.join()
        probe = VerificationProbe(database_url, args.citizens, bank_id, "busy")
        probe.start()
        report, elapsed = timed_import(app, department_id, text)
        probe.stop.set()
        probe.join()
        again, elapsed_again = timed_import(app, department_id, text)
        copy_elapsed = timed_copy(app, database_url, args.lines, args.citizens, bank_id)
        with app.app_context():
            db.engine.dispose()
    probes = {"before": idle, "during": probe}
    print_results(args, seeded, (report, elapsed), (again, elapsed_again), copy_elapsed, probes)
    ok = report.accepted == args.lines and again.accepted == 0 and again.duplicates == args.lines and not report.rejected
    return 0 if ok else 1


def print_results(args, seeded, first, second, copy_elapsed, probe) -> None:  # type: ignore[no-untyped-def]
    (report, elapsed), (again, elapsed_again) = first, second
    rate, copy_rate = args.lines / elapsed, args.lines / copy_elapsed
    print(f"lines={args.lines} card holders={args.citizens} seeding {seeded:.1f}s")
    print(f"{'run':<44}{'seconds':>9}{'lines/s':>10}")
    print(f"{'import (citizencard disburse import)':<44}{elapsed:>9.2f}{rate:>10,.0f}   accepted {report.accepted}, "
          f"duplicates {report.duplicates}, rejected {len(report.rejected)}")
    print(f"{'import again (all duplicates)':<44}{elapsed_again:>9.2f}{args.lines / elapsed_again:>10,.0f}   accepted {again.accepted}, "
          f"duplicates {again.duplicates}")
    print(f"{'plain COPY of the same rows':<44}{copy_elapsed:>9.2f}{copy_rate:>10,.0f}")
    print(f"ratio import / COPY: {rate / copy_rate:.2f}")
    for when, writer in probe.items():
        if writer.durations:
            ordered = sorted(writer.durations)
            p99 = ordered[max(int(len(ordered) * 0.99) - 1, 0)]
            print(f"verification writes {when + ' the import:':<16}{len(ordered):>5}, median {statistics.median(ordered) * 1000:5.1f} ms, "
                  f"p99 {p99 * 1000:6.1f} ms, max {ordered[-1] * 1000:6.1f} ms, lock waits over 50 ms: {writer.lock_waits}")
    print(f"targets: >= {TARGET_RATE:,} lines/s: {'yes' if rate >= TARGET_RATE else 'NO'}; "
          f">= {TARGET_RATIO} x COPY: {'yes' if rate / copy_rate >= TARGET_RATIO else 'NO'}; "
          f"paid exactly once: {'yes' if again.accepted == 0 and report.accepted == args.lines else 'NO'}; "
          f"verifications never blocked: {'yes' if probe['during'].lock_waits == 0 else 'NO'}")


if __name__ == "__main__":
    sys.exit(main())
