"""What the audit trail costs (docs/customer-service.md): verifications write nothing for it (the
seal job copies their records in later), so this measures how fast ``citizencard audit seal``
copies and seals verification records and ``audit verify`` checks them. Uses its own database and Redis database, so it can run
beside other benches:

    .venv/bin/python bench/audit_trail.py [--requests 4000] [--database cc_audit_bench]
        [--redis-url redis://127.0.0.1:6379/14]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import redis

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

from inprocess import cpu_per_request  # noqa: E402
from seed import seed_population  # noqa: E402
from verify import fresh_database  # noqa: E402
from workload import verification_requests  # noqa: E402

from app import create_app  # noqa: E402
from app.platform.clock import FrozenClock  # noqa: E402
from app.runtime import EXTENSION_KEY  # noqa: E402
from app.server import upgrade_schema  # noqa: E402
from app.service_desk.audit import SETTLE_SECONDS, seal_pending, verify_chain  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="cc_audit_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    database_url = fresh_database(args.admin_url, args.database)
    redis.Redis.from_url(args.redis_url).flushdb()
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": args.redis_url,
                      "CARD_INSTANCE_PATH": tempfile.mkdtemp()}, clock=FrozenClock(time.time()))
    upgrade_schema(app)
    population = seed_population(app, database_url, 4000, 10)
    client = app.test_client()
    batches = verification_requests(population, args.requests)
    print(f"POST verifications: {cpu_per_request(client, batches, False):.3f} ms CPU per request (no audit write)")
    app.extensions[EXTENSION_KEY].clock.advance(SETTLE_SECONDS + 1)
    with app.app_context():
        start = time.perf_counter()
        sealed = seal_pending(app.extensions[EXTENSION_KEY])
        sealing = time.perf_counter() - start
        start = time.perf_counter()
        report = verify_chain(app.extensions[EXTENSION_KEY])
        checking = time.perf_counter() - start
    print(f"audit seal:   {sealed} records in {sealing:.2f} s ({sealed / sealing:,.0f} records/s)")
    print(f"audit verify: {report.checked} records in {checking:.2f} s ({report.checked / checking:,.0f} records/s), ok={report.ok}")


if __name__ == "__main__":
    main()
