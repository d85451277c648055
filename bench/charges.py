"""Benchmark: charges per second through gunicorn on PostgreSQL + Redis against verifications per
second measured in the same run (issue 22: target >= 0.8), and the clearing run's time for many
charges.

Run by hand, not in CI (see bench/README.md):

    .venv/bin/python bench/charges.py                                # 20,000 citizens, 10 s of load each, 200,000 cleared
    .venv/bin/python bench/charges.py --clearing-charges 1000000     # the issue's clearing size
    .venv/bin/python bench/charges.py --redis-url redis://127.0.0.1:6393/14 --citizens 5000   # quick try

One run creates a fresh PostgreSQL database (``cc_bench_pay``), flushes the Redis database, seeds N
citizens (bench/seed.py), makes the seeded transit partner a merchant, opens every card's
financial account at one bank (COPY), then, on one ``citizencard serve``:

1. **verifications**: ``POST /api/partner/v1/verifications`` with wrk, each request a fresh valid
   code used once (bench/verify.py's phase);
2. **charges**: ``POST /api/partner/v1/charges`` with wrk, one signed charge of 1.00 yuan on each
   verification accepted in phase 1 (each verification charged once; a request repeated after
   they run out answers the first charge, and is reported);
3. checks: charges recorded = distinct 200 answers; no verification charged twice; the ledger
   replays to the stored state.

Then, in-process, **clearing**: COPY M debited charges with their ledger entries for one merchant and
one bank, and time ``run_clearing`` (both parties' statements), checking that each statement equals
the ledger to the fen.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seed import copy_rows  # noqa: E402
from verify import free_port, measure_verifications, prepare, serving, warm_up_and_drive  # noqa: E402
from workload import JSON, request_line  # noqa: E402

from app.partners.partners import create_partner  # noqa: E402
from app.platform.db import db  # noqa: E402
from app.runtime import EXTENSION_KEY  # noqa: E402
from scenes.registry import SCENE_NAMES  # noqa: E402
from scenes.signing import authorization_header  # noqa: E402

CHARGES_PATH = "/api/partner/v1/charges"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--citizens", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint")
    parser.add_argument("--charge-duration", type=int, default=5,
                        help="seconds of charge load: shorter than the verifications', so their accepted verifications do not run "
                             "out (a repeated signed request is a cheap 401 for its nonce, which would flatter the rate)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--clearing-charges", type=int, default=200_000)
    parser.add_argument("--admin-url", default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--database", default="cc_bench_pay")
    args = parser.parse_args()
    args.accounts, args.rate, args.on_cluster, args.sent_in_step, args.log_format = 1, None, False, {}, "json"
    args.py_spy = None
    return args


def open_accounts(app, database_url: str, citizens: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """A bank, every card's financial account there (one encrypted number reused), the seeded
    partner made a merchant. Returns (bank id, merchant id)."""
    from app.identity.people import FINANCIAL_ACCOUNT_NUMBER as ACCOUNT_NUMBER  # the keyring context of account numbers

    rt = app.extensions[EXTENSION_KEY]
    with app.app_context():
        bank = create_partner(rt, "Bench Bank", [], SCENE_NAMES, roles=("bank",))
        db.session.remove()
    number = rt.keyring.encrypt("622202001234567890", ACCOUNT_NUMBER)
    now = rt.clock.now()
    with psycopg.connect(database_url) as conn:
        bank_id = conn.execute("SELECT id FROM partners WHERE partner_id = %s", (bank.partner_id,)).fetchone()[0]  # type: ignore[index]
        merchant_id = conn.execute("UPDATE partners SET roles = 'merchant' WHERE name = 'Bench Metro' RETURNING id").fetchone()[0]  # type: ignore[index]
        copy_rows(conn, "financial_accounts", ("card_id", "bank_partner_id", "account_number_enc", "opened_at", "updated_at"),
                  ((card_id, bank_id, number, now, now) for card_id in range(1, citizens + 1)))
    return bank_id, merchant_id


def charge_requests(database_url: str, partner_id: str, secret: str) -> list[str]:
    """One signed charge of 100 fen on each accepted verification, oldest first."""
    with psycopg.connect(database_url) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM verifications WHERE accepted ORDER BY created_at")]
    now, lines = int(time.time()), []
    for verification_id in ids:
        body = json.dumps({"verification_id": verification_id, "amount_fen": 100, "description": "bench",
                           "idempotency_key": f"bench-{verification_id}"}, separators=(",", ":"))
        auth = authorization_header(partner_id, secret, "POST", CHARGES_PATH, body.encode(), now, secrets.token_hex(12))
        lines.append(request_line("POST", CHARGES_PATH, body, {**JSON, "Authorization": auth}))
    return lines


def charge_checks(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        charges = conn.execute("SELECT count(*), count(DISTINCT verification_id) FROM charges").fetchone()
        entries = conn.execute("SELECT count(*) FROM ledger_entries WHERE kind = 'charge'").fetchone()
    return {"charges": charges[0], "verifications_charged": charges[1], "ledger_charge_entries": entries[0]}  # type: ignore[index]


def clearing(app, database_url: str, bank_id: int, merchant_id: int, count: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """COPY ``count`` debited charges and their ledger entries, then time the clearing run."""
    from app.money.charges import city_day
    from app.money.clearing import run_clearing
    from app.money.ledger import check

    rt = app.extensions[EXTENSION_KEY]
    now = rt.clock.now()
    with psycopg.connect(database_url) as conn:
        start = conn.execute("SELECT coalesce(max(id), 0) FROM charges").fetchone()[0] + 1  # type: ignore[index]
        cards = conn.execute("SELECT count(*) FROM cards").fetchone()[0]  # type: ignore[index]
        account_of = dict(conn.execute("SELECT card_id, id FROM financial_accounts").fetchall())
        loaded = time.monotonic()
        copy_rows(conn, "charges", ("id", "merchant_partner_id", "idempotency_key", "verification_id", "scene", "card_id", "citizen_id",
                                    "financial_account_id", "bank_partner_id", "amount_fen", "description", "status", "declines",
                                    "refunded_fen", "created_at", "settled_at"),
                  ((n, merchant_id, f"clr-{n}", f"vf_clr{n:020d}", "transit", 1 + n % cards, 1 + n % cards, account_of[1 + n % cards],
                    bank_id, 100 + n % 900, "bench", "debited", 0, 0, now, now) for n in range(start, start + count)))
        copy_rows(conn, "ledger_entries", ("event_key", "kind", "charge_id", "merchant_partner_id", "bank_partner_id", "card_id",
                                           "amount_fen", "merchant_fen", "debt_fen", "created_at"),
                  ((f"debit:{n}", "debit", n, merchant_id, bank_id, 1 + n % cards, 100 + n % 900, 100 + n % 900, 0, now)
                   for n in range(start, start + count)))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE charges")
        conn.execute("VACUUM ANALYZE ledger_entries")
        load_seconds = time.monotonic() - loaded
        expected = conn.execute("SELECT sum(merchant_fen) FROM ledger_entries").fetchone()[0]  # type: ignore[index]
    with app.app_context():
        began = time.monotonic()
        done = run_clearing(rt, city_day(now))
        seconds = time.monotonic() - began
        nets = {clearing.party: clearing.net_fen + clearing.fee_fen for clearing in done}
        replay_began = time.monotonic()
        problems = check()
        replay_seconds = time.monotonic() - replay_began
        db.session.remove()
    return {"load_s": load_seconds, "clearing_s": seconds, "merchant_net": nets.get("merchant", 0), "bank_net": nets.get("bank", 0),
            "ledger_sum": int(expected), "replay_s": replay_seconds, "replay_problems": len(problems)}


def main() -> int:
    args = parse_args()
    os.environ["CARD_LOG_FORMAT"] = args.log_format
    with tempfile.TemporaryDirectory(prefix="cc_bench_pay_") as tmp:
        env, app, population = prepare(args, tmp)
        bank_id, merchant_id = open_accounts(app, env["DATABASE_URL"], args.citizens)
        subprocess.run([sys.executable, "-m", "app", "payments", "replay"], env=env, check=True, capture_output=True)
        workers = args.workers or app.config["CARD_WORKERS"]
        port = free_port()
        command = [sys.executable, "-m", "app", "serve", "--no-migrate", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        with serving(command, env, port, Path(tmp) / "product.log") as pid:
            verifications, _ = measure_verifications(args, population, (port, pid), Path(tmp), "ours")
            time.sleep(1)
            lines = charge_requests(env["DATABASE_URL"], population.partner_id, population.partner_secret)
            cut = min(500, len(lines) // 10)
            warm, measured = lines[:cut], lines[cut:]
            charges, _ = warm_up_and_drive(warm, measured, "charges", (port, pid), argparse.Namespace(
                **{**vars(args), "duration": args.charge_duration}), Path(tmp))
            time.sleep(1)
        checks = charge_checks(env["DATABASE_URL"])
        cleared = clearing(app, env["DATABASE_URL"], bank_id, merchant_id, args.clearing_charges)
    v_rate = verifications.throughput
    c_rate = (charges["requests"] - charges["non200"]) / charges["seconds"]  # charges answered 200 only
    repeats = max(0, int(charges["requests"]) - len(measured))
    print(f"citizens={args.citizens} gunicorn {workers} workers (gevent), wrk -t2 -c{args.connections}, {args.duration}s of verifications, "
          f"{args.charge_duration}s of charges; "
          f"load average {' '.join(f'{n:.2f}' for n in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"verifications: {v_rate:.0f} req/s, p50 {verifications.result['p50_us'] / 1000:.1f} ms, "
          f"p99 {verifications.result['p99_us'] / 1000:.1f} ms, errors {verifications.errors}")
    print(f"charges:       {c_rate:.0f} charges/s (200 answers), {charges['requests'] / charges['seconds']:.0f} req/s, "
          f"p50 {charges['p50_us'] / 1000:.1f} ms, p99 {charges['p99_us'] / 1000:.1f} ms, "
          f"non-200 {int(charges['non200'])}, socket errors {int(charges['socket_errors'])}, "
          f"unique charge requests {len(measured)} (+{cut} warm-up), repeats after they ran out {repeats}")
    for label, cpu_ms in (("verifications", verifications.result), ("charges", charges)):
        print(f"{label + ':':<15}CPU per request (ms): server {cpu_ms['cpu_app_ms']:.2f}, PostgreSQL {cpu_ms['cpu_postgres_ms']:.2f}, "
              f"Redis {cpu_ms['cpu_redis_ms']:.2f}, load generator {cpu_ms['cpu_load_ms']:.2f}")
    print(f"charges / verifications: {c_rate / v_rate:.2f} (target >= 0.8: {'yes' if c_rate / v_rate >= 0.8 else 'NO'})")
    print(f"recorded: {checks['charges']} charges on {checks['verifications_charged']} distinct verifications "
          f"(each at most once: {'yes' if checks['charges'] == checks['verifications_charged'] else 'NO'}), "
          f"{checks['ledger_charge_entries']} ledger 'charge' entries")
    print(f"clearing {args.clearing_charges} debited charges: COPY + analyze {cleared['load_s']:.1f} s, clearing run "
          f"{cleared['clearing_s']:.1f} s (merchant and bank statements), merchant net {cleared['merchant_net']} fen, "
          f"bank net {cleared['bank_net']} fen, ledger sum {cleared['ledger_sum']} fen "
          f"(equal: {'yes' if cleared['merchant_net'] == cleared['bank_net'] == cleared['ledger_sum'] else 'NO'}); "
          f"full ledger replay {cleared['replay_s']:.1f} s, {cleared['replay_problems']} differences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
