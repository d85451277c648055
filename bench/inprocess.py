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
from pathlib import Path

import redis

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

from seed import seed_population  # noqa: E402
from verify import fresh_database  # noqa: E402
from workload import card_code_requests, verification_requests  # noqa: E402

from app import create_app  # noqa: E402
from app.server import upgrade_schema  # noqa: E402


def parse_line(line: str) -> tuple[str, str, bytes, dict[str, str]]:
    method, path, body, *headers = line.split("\t")
    return method, path, body.encode(), dict(header.split(": ", 1) for header in headers)


def cpu_per_request(client, lines: list[str], profile: bool) -> float:  # type: ignore[no-untyped-def]
    """Milliseconds of this process's CPU per request, over ``lines``; checks every answer is 200."""
    requests = [parse_line(line) for line in lines]
    profiler = cProfile.Profile(time.process_time) if profile else None
    start = time.process_time()
    if profiler:
        profiler.enable()
    for method, path, body, headers in requests:
        response = client.open(path, method=method, data=body or None, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "tottime")).print_stats(int(os.environ.get("TOP", "25")))
    return (time.process_time() - start) * 1000 / len(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --requests each")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    database_url = fresh_database("postgresql://postgres@127.0.0.1:5432/test")
    redis.Redis.from_url("redis://127.0.0.1:6379/15").flushdb()
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": "redis://127.0.0.1:6379/15",
                      "CARD_INSTANCE_PATH": tempfile.mkdtemp()})
    upgrade_schema(app)
    population = seed_population(app, database_url, 2000, 200)
    client = app.test_client()
    n, rounds = args.requests, args.rounds
    verifications = verification_requests(population, 200 + n * rounds)
    cpu_per_request(client, verifications[:200], False)  # warm-up
    report("POST verifications", [cpu_per_request(client, verifications[200 + i * n: 200 + (i + 1) * n], args.profile)
                                  for i in range(rounds)])
    codes = (card_code_requests(population.tokens) * (n // 200 + 1))[:n]
    report("GET card/code", [cpu_per_request(client, codes, args.profile) for _ in range(rounds)])


def report(name: str, per_round: list[float]) -> None:
    """The least and the median of the rounds: the least is the steadiest on a shared machine."""
    print(f"{name + ':':20} {min(per_round):.3f} ms CPU per request (least of {len(per_round)} rounds; "
          f"median {statistics.median(per_round):.3f})")


if __name__ == "__main__":
    main()
