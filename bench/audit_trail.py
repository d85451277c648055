"""What the audit trail costs (docs/customer-service.md): CPU per verification in process with
and without its one unsealed INSERT, then how fast ``citizencard audit seal`` seals and
``audit verify`` checks the records. Uses its own database and Redis database, so it can run
beside other benches:

    .venv/bin/python bench/audit_trail.py [--requests 2000] [--database cc_audit_bench]
        [--redis-url redis://127.0.0.1:6379/14]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

from inprocess import cpu_per_request  # noqa: E402
from seed import seed_population  # noqa: E402
from workload import verification_requests  # noqa: E402

from app import create_app  # noqa: E402
from app.server import upgrade_schema  # noqa: E402
from app.services import verification  # noqa: E402
from app.services.audit import seal_pending, verify_chain  # noqa: E402


def fresh(admin_url: str, name: str) -> str:
    admin = make_url(admin_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="cc_audit_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    database_url = fresh(args.admin_url, args.database)
    redis.Redis.from_url(args.redis_url).flushdb()
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": args.redis_url,
                      "CARD_INSTANCE_PATH": tempfile.mkdtemp()})
    upgrade_schema(app)
    population = seed_population(app, database_url, 4000, 10)
    client = app.test_client()
    batches = verification_requests(population, (2 * args.rounds + 1) * args.requests)
    chunks = [batches[i * args.requests:(i + 1) * args.requests] for i in range(2 * args.rounds + 1)]
    cpu_per_request(client, chunks[0], False)  # warm-up
    recorded = verification.record_verification
    with_audit, without = [], []
    for round_ in range(args.rounds):  # interleaved, so drift hits both alike
        with_audit.append(cpu_per_request(client, chunks[1 + 2 * round_], False))
        verification.record_verification = lambda partner, row: None
        without.append(cpu_per_request(client, chunks[2 + 2 * round_], False))
        verification.record_verification = recorded
    print(f"POST verifications, with the audit INSERT:    {min(with_audit):.3f} ms CPU per request (best of {args.rounds})")
    print(f"POST verifications, without the audit INSERT: {min(without):.3f} ms CPU per request (best of {args.rounds})")
    with app.app_context():
        start = time.perf_counter()
        sealed = seal_pending()
        sealing = time.perf_counter() - start
        start = time.perf_counter()
        report = verify_chain()
        checking = time.perf_counter() - start
    print(f"audit seal:   {sealed} records in {sealing:.2f} s ({sealed / sealing:,.0f} records/s)")
    print(f"audit verify: {report.checked} records in {checking:.2f} s ({report.checked / checking:,.0f} records/s), ok={report.ok}")


if __name__ == "__main__":
    main()
