"""CPU per request, in process, for the verification and code endpoints (no HTTP server, no load
generator): a steadier number than throughput on a shared 2-core machine, for before/after
comparisons of the hot path.

    .venv/bin/python bench/inprocess.py [--requests 2000] [--rounds 5] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psycopg
import redis

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

from seed import seed_population  # noqa: E402
from verify import fresh_database  # noqa: E402
from workload import card_code_requests, verification_requests  # noqa: E402

from app import create_app  # noqa: E402
from app.server import upgrade_schema  # noqa: E402

CITIZENS = 2000  # a round's verifications are at most one code per citizen


def parse_line(line: str) -> tuple[str, str, bytes, dict[str, str]]:
    method, path, body, *headers = line.split("\t")
    return method, path, body.encode(), dict(header.split(": ", 1) for header in headers)


def cpu_per_request(client, lines: list[str], profile: bool, name: str = "") -> float:  # type: ignore[no-untyped-def]
    """Milliseconds of this process's CPU per request, over ``lines``; checks every answer is 200."""
    requests = [parse_line(line) for line in lines]
    profiler = cProfile.Profile(time.process_time) if profile else None
    refused: Counter[str | None] = Counter()
    start = time.process_time()
    if profiler:
        profiler.enable()
    for method, path, body, headers in requests:
        response = client.open(path, method=method, data=body or None, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        if path.endswith("/verifications") and response.get_json()["accepted"] is not True:
            refused[response.get_json().get("reason")] += 1
    if refused:  # a refusal costs less than an acceptance: the number would flatter
        print(f"note: {sum(refused.values())} of {len(requests)} verifications refused ({name or 'product'}): {dict(refused)}")
    if profiler:
        profiler.disable()
        if os.environ.get("PROFILE_OUT"):  # for pstats by hand (callers, callees)
            profiler.dump_stats(f"{os.environ['PROFILE_OUT']}.{name or lines[0].split(chr(9))[1].rsplit('/', 1)[-1]}")
        pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "tottime")).print_stats(int(os.environ.get("TOP", "25")))
    return (time.process_time() - start) * 1000 / len(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --requests each")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--database", default="cc_bench_inprocess", help="dropped and created again")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="flushed")
    args = parser.parse_args()
    database_url = fresh_database("postgresql://postgres@127.0.0.1:5432/test", args.database)
    redis.Redis.from_url(args.redis_url).flushdb()
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": args.redis_url,
                      "CARD_INSTANCE_PATH": tempfile.mkdtemp()})
    upgrade_schema(app)
    population = seed_population(app, database_url, CITIZENS, 200)
    client = app.test_client()
    n, rounds = min(args.requests, CITIZENS), args.rounds
    cpu_per_request(client, verification_requests(population, 200), False)  # warm-up
    same_work = same_work_client(population, database_url, args.redis_url, app.config["CARD_INSTANCE_PATH"])
    cpu_per_request(same_work, verification_requests(population, 200), False)
    ours, same = [], []
    for i in range(1, rounds + 1):  # alternating, so that the machine's load falls on both alike; codes made just
        # before (a slow machine must not let them expire), a whole sequence each round: later than any used before
        first = i * len(population.devices)
        ours.append(cpu_per_request(client, verification_requests(population, n, first), args.profile))
        same.append(cpu_per_request(same_work, verification_requests(population, n, first), args.profile, "same_work"))
    report("POST verifications", ours)
    report("same-work floor", same)
    codes = (card_code_requests(population.tokens) * (n // 200 + 1))[:n]
    report("GET card/code", [cpu_per_request(client, codes, args.profile) for _ in range(rounds)])


def same_work_client(population, database_url: str, redis_url: str, instance_path: str):  # type: ignore[no-untyped-def]
    """A test client of the same-work floor (bench/same_work_app.py) on the same database and Redis."""
    import argparse

    import same_work_app

    options = argparse.Namespace(database_url=database_url, redis_url=redis_url, instance_path=instance_path,
                                 partner_id=population.partner_id, partner_secret=population.partner_secret)
    with psycopg.connect(database_url) as conn:
        options.partner_pk = conn.execute("SELECT id FROM partners WHERE partner_id = %s", (options.partner_id,)).fetchone()[0]
    same_work_app.create_table(database_url)
    return same_work_app.create_same_work_app(options).test_client()


def report(name: str, per_round: list[float]) -> None:
    """The least and the median of the rounds: the least is the steadiest on a shared machine."""
    print(f"{name + ':':20} {min(per_round):.3f} ms CPU per request (least of {len(per_round)} rounds; "
          f"median {statistics.median(per_round):.3f})")


if __name__ == "__main__":
    main()
