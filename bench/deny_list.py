"""The DGC2 deny list at city scale (issue 16 follow-up): build and sign a version, and polls.

    .venv/bin/python bench/deny_list.py --redis redis://127.0.0.1:6379/15 [--seconds 20] [--workers 2]

On PostgreSQL and Redis (a fresh database ``bench_deny``; the Redis database given is **flushed**):

1. The model of bench/dgc2_gate.py: 10,000,000 cards, 2 % revoked a day, 24 h certificates (one or
   two per revoked card), steady state: the deny list's entries, its full size, the delta sizes.
2. That many revoked, unexpired certificate rows are loaded (expiries spread over the next 24 h;
   the unrevoked certificates are not loaded: the serials' query reads the
   ``(revoked_at, expires_at)`` index only), then versions are published as
   ``offline publish --every 5`` does under that revocation rate: each adds 5 s of revocations,
   and the time of one publication (read the serials, build and sign the full list and the step
   delta, store both) is measured; then a delta composed over a minute of versions.
3. Polls through gunicorn (``citizencard serve``, W workers, 2 W client threads, signed partner
   requests each with its own nonce): requests/s for a 304 (If-None-Match), the step delta, the
   full list, all from the per-version cache. ``--compare /work/main`` serves the same database
   from another checkout too, in alternating rounds (unverified: see bench/README.md).
"""
from __future__ import annotations

import argparse
import http.client
import os
import secrets
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis

BENCH = Path(__file__).resolve().parent
CHECKOUT = [str(BENCH), str(BENCH.parent), str(BENCH.parent / "terminal")]
sys.path[:0] = CHECKOUT

from dgc2_gate import deny_list_model  # noqa: E402
from offline import issue_certificates  # noqa: E402
from seed import seed_population  # noqa: E402
from verify import free_port, fresh_database, serving  # noqa: E402

from app import create_app  # noqa: E402
from app.card import offline_lists  # noqa: E402
from app.runtime import EXTENSION_KEY  # noqa: E402
from app.server import upgrade_schema  # noqa: E402
from scenes.signing import authorization_header  # noqa: E402

DATABASE = "bench_deny"
PATH = "/api/partner/v1/offline/deny-list"


def load_revoked(database_url: str, count: int, template: dict) -> None:
    """``count`` revoked certificates expiring uniformly over the next 24 h (COPY)."""
    now = datetime.now(UTC)
    columns = ["serial", "card_id", "device_id", "kid", "alg", "device_public_key", "scenes", "fare_class",
               "not_before", "expires_at", "revoked_at", "created_at"]
    statement = f"COPY offline_certificates ({', '.join(columns)}) FROM STDIN"
    with psycopg.connect(database_url) as conn, conn.cursor() as cur, cur.copy(statement) as copy:
        for i in range(count):
            expires = now + timedelta(seconds=1 + i * 86400 // max(count, 1))
            copy.write_row([secrets.token_hex(8), template["card_id"], template["device_id"], template["kid"], "ed25519",
                            template["dpk"], 7, 0, expires - timedelta(hours=24), expires, now, now])
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE offline_certificates")


def template_row(database_url: str) -> dict:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT card_id, device_id, kid, device_public_key FROM offline_certificates LIMIT 1").fetchone()
    return {"card_id": row[0], "device_id": row[1], "kid": row[2], "dpk": row[3]}


def publications(app, database_url: str, template: dict, per_version: int, versions: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Publish ``versions`` versions, each after ``per_version`` new revocations; seconds each."""
    rt = app.extensions[EXTENSION_KEY]
    timings = []
    for _ in range(versions):
        load_more(database_url, per_version, template)
        with app.app_context():
            start = time.perf_counter()
            offline_lists.publish_deny_list(rt, force=True)
            timings.append(time.perf_counter() - start)
    return timings


def load_more(database_url: str, count: int, template: dict) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as conn:
        for _ in range(count):
            conn.execute("INSERT INTO offline_certificates (serial, card_id, device_id, kid, alg, device_public_key, scenes, "
                         "fare_class, not_before, expires_at, revoked_at, created_at) VALUES (%s, %s, %s, %s, 'ed25519', %s, 7, 0, "
                         "%s, %s, %s, %s)", (secrets.token_hex(8), template["card_id"], template["device_id"], template["kid"],
                                             template["dpk"], now, now + timedelta(hours=24), now, now))


def stored_sizes(database_url: str) -> tuple[int, list[int]]:
    with psycopg.connect(database_url) as conn:
        full = conn.execute("SELECT length(body) FROM offline_lists WHERE kind = 'deny' ORDER BY version DESC LIMIT 1").fetchone()[0]
        steps = [row[0] for row in conn.execute("SELECT length(body) FROM offline_lists WHERE kind = 'ddelta'")]
    return full, steps


def poll(port: int, population, headers_for, seconds: float, clients: int) -> float:  # type: ignore[no-untyped-def]
    """Requests/s of signed GETs for ``seconds`` from ``clients`` threads (one connection each)."""
    def run(_: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        done, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            path, extra, expect = headers_for()
            header = authorization_header(population.partner_id, population.partner_secret, "GET", path, b"", int(time.time()),
                                          secrets.token_hex(12))
            connection.request("GET", path, headers={"Authorization": header, **extra})
            answer = connection.getresponse()
            answer.read()
            assert answer.status in expect, answer.status
            done += 1
        connection.close()
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(run, range(clients)))
    return total / (time.perf_counter() - start)


def etag_now(port: int, population) -> str:  # type: ignore[no-untyped-def]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    header = authorization_header(population.partner_id, population.partner_secret, "GET", PATH, b"", int(time.time()),
                                  secrets.token_hex(12))
    connection.request("GET", PATH, headers={"Authorization": header})
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer.headers["ETag"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cards", type=int, default=10_000_000)
    parser.add_argument("--revoked-per-day", type=float, default=0.02)
    parser.add_argument("--versions", type=int, default=13, help="versions published after the load (5 s each)")
    parser.add_argument("--seconds", type=float, default=20, help="seconds per poll measurement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--compare", metavar="CHECKOUT", help="also poll a server of another checkout (e.g. main), alternating")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a shared machine: upper bounds on time)")
    model = deny_list_model(args.cards, args.revoked_per_day, 2)
    per_version = round(model["entries"] / 86400 * 5)  # serials revoked in 5 s at steady state
    print(f"model: {model['cards']:,} cards, {model['revoked_per_day']:,} revoked a day, 24 h certificates: "
          f"{model['entries']:,} entries, full list {model['full_bytes'] / 1024:.0f} KiB; delta a minute median "
          f"{model['delta_bytes_median'] / 1024:.1f} KiB; about {per_version} serials revoked per 5 s")
    database_url = fresh_database(args.database, DATABASE)
    redis.Redis.from_url(args.redis).flushdb()
    instance = tempfile.mkdtemp()
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": args.redis, "CARD_INSTANCE_PATH": instance})
    upgrade_schema(app)
    population = seed_population(app, database_url, 10, 10)
    issue_certificates(app, 1)
    template = template_row(database_url)
    start = time.perf_counter()
    load_revoked(database_url, model["entries"], template)
    print(f"loaded {model['entries']:,} revoked certificates in {time.perf_counter() - start:.0f} s")
    timings = publications(app, database_url, template, per_version, args.versions)
    full, steps = stored_sizes(database_url)
    print(f"publish one version (read {model['entries']:,} serials, build + sign the full list and the step delta, store): "
          f"median {statistics.median(timings[1:]) * 1000:.0f} ms, max {max(timings[1:]) * 1000:.0f} ms "
          f"(first, without a step: {timings[0] * 1000:.0f} ms); full list {full / 1024:.0f} KiB, "
          f"step delta (5 s) median {statistics.median(steps)} bytes")
    rt = app.extensions[EXTENSION_KEY]
    with app.app_context():
        head = offline_lists.current_deny_list(rt)
        start = time.perf_counter()
        composed = offline_lists._delta(rt, head.version - 12, head)
        composed_ms = (time.perf_counter() - start) * 1000
    print(f"delta composed over 12 versions (a minute) and signed: {composed_ms:.1f} ms, {len(composed)} bytes; "
          f"at one version per 5 s publishing costs about {statistics.median(timings[1:]) / 5:.2f} of a core")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": args.redis, "CARD_INSTANCE_PATH": instance}
    current = {"etag": f'"deny-{head.version}"'}  # a minute's version may follow: read again before each case
    cases = {  # 200 when a minute's version was published during the case (rare)
        "304 (If-None-Match, the current version)": lambda: (PATH, {"If-None-Match": current["etag"]}, (304, 200)),
        f"delta (?since={head.version - 1})": lambda: (f"{PATH}?since={head.version - 1}", {}, (200,)),
        f"full list ({full / 1024:.0f} KiB)": lambda: (PATH, {}, (200,)),
    }
    checkouts = [("this checkout", BENCH.parent)] + ([("--compare checkout", Path(args.compare))] if args.compare else [])
    for round_ in range(2 if args.compare else 1):  # alternating rounds: the machine's load drifts
        for label, checkout in checkouts:
            served = {**env, "PYTHONPATH": os.pathsep.join([str(checkout), str(checkout / "terminal")])}
            port = free_port()  # -P: the checkout comes from PYTHONPATH, not from the current directory
            command = [sys.executable, "-P", "-m", "app", "serve", "--no-migrate", "--bind", f"127.0.0.1:{port}",
                       "--workers", str(args.workers)]
            with serving(command, served, port, Path(instance) / f"serve-{round_}.log", start_up=300):
                poll(port, population, cases["304 (If-None-Match, the current version)"], 3, 2 * args.workers)  # warm-up
                for name, case in cases.items():
                    current["etag"] = etag_now(port, population)
                    rate = poll(port, population, case, args.seconds, 2 * args.workers)
                    print(f"round {round_ + 1}, {label}: poll through gunicorn, {args.workers} worker(s), "
                          f"{2 * args.workers} clients, {name}: {rate:,.1f} requests/s (load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
