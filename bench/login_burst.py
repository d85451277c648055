"""Does a burst of console log-ins stall the partner API? (issue 15, item 7; docs/customer-service.md)

Two gevent workers (the settings ``citizencard serve`` uses) on PostgreSQL + Redis. For each
mode it measures signed ``POST /api/partner/v1/verifications`` latency, paced at ``--rate`` per
second, first idle, then while 64-way bursts of console log-ins with made-up usernames (one
argon2id hash each) run back to back, each log-in from its own loopback address (127.0.x.y) as a
distributed attacker's would be:

- ``inline``: the hash runs in the worker's event loop, as before the change (off_loop is made
  to call in place: ``app.platform.offload._gevent_patched`` returns False in the workers);
- ``offloaded``: as shipped, in the worker's 2-thread hashing pool (app/platform/offload.py).

The verifications carry a code that is not one (answered in full with ``accepted: false``): the
point is how long the worker's loop leaves them waiting, not the code check. Target: during
bursts, p99 within 2x of idle. Uses its own database and Redis database:

    .venv/bin/python bench/login_burst.py [--bursts 2] [--rate 4] [--idle-seconds 30]
        [--admin-url postgresql://postgres@127.0.0.1:5432/test] [--redis-url redis://127.0.0.1:6379/13]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis
import requests
from requests.adapters import HTTPAdapter

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from verify import free_port, fresh_database  # noqa: E402

from scenes.signing import authorization_header  # noqa: E402

VERIFY_PATH = "/api/partner/v1/verifications"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
BURST = 64
WORKERS = 2
LAUNCH = """
from gevent import monkey; monkey.patch_all()
import sys
import app.platform.offload as offload
if sys.argv[3] == "inline":
    offload._gevent_patched = lambda: False  # the hash in the event loop, as before issue 15 item 7
from app.server import serve_forever
serve_forever(sys.argv[1], sys.argv[2], sys.argv[2], "")  # bind, workers, default workers, no config file
"""


class _From(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=120,
                          check=True, cwd=ROOT)
    return done.stdout


def start(env: dict[str, str], mode: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", LAUNCH, f"127.0.0.1:{port}", str(WORKERS), mode],  # noqa: S603
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/api/openapi.json", timeout=5).status_code == 200:
                return process, base
        except requests.RequestException:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("gunicorn did not start")


TERMINALS = 64  # invalid codes count 30 a minute per terminal and 300 per partner (app/scanning/guessing.py)
_sent = itertools.count()


def verification(base: str, partner: dict[str, str]) -> float:
    terminal_id = f"gate-{next(_sent) % TERMINALS}"
    body = json.dumps({"code": "DGC1.not-a-code", "scene": "transit", "terminal_id": terminal_id}).encode()
    header = authorization_header(partner["partner_id"], partner["secret"], "POST", VERIFY_PATH, body,
                                  int(time.time()), secrets.token_hex(16))
    began = time.monotonic()
    answer = requests.post(base + VERIFY_PATH, data=body, headers={"Authorization": header, "Content-Type": "application/json"},
                           timeout=60)
    if answer.status_code != 200:
        raise SystemExit(f"verification answered {answer.status_code}: {answer.text[:200]}")
    return time.monotonic() - began


def paced(base: str, partner: dict[str, str], rate: float, until: Any) -> list[float]:
    """Verifications due every 1/rate s (each from its due time: a stall shows, no coordinated omission)."""
    latencies: list[float] = []
    start, n = time.monotonic(), 0
    with ThreadPoolExecutor(16) as pool:
        futures = []
        while not until():
            due = start + n / rate
            time.sleep(max(0.0, due - time.monotonic()))
            futures.append((due, pool.submit(lambda: (verification(base, partner), time.monotonic())[1])))
            n += 1
        for due, future in futures:
            latencies.append(future.result() - due)
    return latencies


def sessions(base: str, count: int, offset: int) -> list[tuple[requests.Session, str]]:
    made = []
    for n in range(offset, offset + count):
        http = requests.Session()
        http.mount("http://", _From(f"127.0.{10 + n // 250}.{1 + n % 250}"))
        page = http.get(base + "/console/login", timeout=60)
        made.append((http, CSRF_FIELD.search(page.text).group(1)))  # type: ignore[union-attr]
    return made


def burst(base: str, browsers: list[tuple[requests.Session, str]], tag: str) -> list[int]:
    def attempt(n: int) -> int:
        http, token = browsers[n]
        return http.post(base + "/console/login", data={"csrf_token": token, "username": f"nobody{tag}x{n}",
                                                         "password": "a made-up password", "otp": "123456"},
                         timeout=300, allow_redirects=False).status_code

    with ThreadPoolExecutor(BURST) as pool:
        return list(pool.map(attempt, range(BURST)))


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def measure(env: dict[str, str], partner: dict[str, str], mode: str, args: argparse.Namespace, redis_url: str) -> dict[str, Any]:
    redis.Redis.from_url(redis_url).flushdb()  # no throttle counts left over from the other mode
    process, base = start(env, mode)
    try:
        for _ in range(5):
            verification(base, partner)  # warm both workers
        idle_until = time.monotonic() + args.idle_seconds
        idle = paced(base, partner, args.rate, lambda: time.monotonic() > idle_until)
        browsers = sessions(base, BURST, 0)
        done = threading.Event()
        statuses: list[int] = []
        began = time.monotonic()

        def bursts() -> None:
            for n in range(args.bursts):
                statuses.extend(burst(base, browsers, f"{mode}{n}"))
            done.set()

        runner = threading.Thread(target=bursts)
        runner.start()
        busy = paced(base, partner, args.rate, done.is_set)
        runner.join()
        took = time.monotonic() - began
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {"mode": mode, "idle_p50": sorted(idle)[len(idle) // 2], "idle_p99": p99(idle), "busy_p50": sorted(busy)[len(busy) // 2],
            "busy_p99": p99(busy), "busy_max": max(busy), "verifications": (len(idle), len(busy)),
            "log_ins": len(statuses), "log_ins_per_s": len(statuses) / took, "statuses": sorted(set(statuses))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bursts", type=int, default=2)
    parser.add_argument("--rate", type=float, default=4.0)  # under 300 invalid codes a minute
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--modes", default="inline,offloaded")
    parser.add_argument("--database", default="cc_login_bench")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    env = {**os.environ, "DATABASE_URL": fresh_database(args.admin_url, args.database), "REDIS_URL": args.redis_url,
           "CARD_CONSOLE_SECURE_COOKIE": "0"}
    subprocess.run([sys.executable, "-c", "from app import create_app; from app.server import upgrade_schema; "
                    "upgrade_schema(create_app())"], env=env, cwd=ROOT, check=True, capture_output=True)
    partner = json.loads(cli(env, "partner", "create", "--name", "Metro", "--scenes", "transit", "--json"))
    gates = Path(tempfile.mkdtemp(prefix="login-burst-")) / "gates.csv"
    gates.write_text("terminal_id,name,location\n" + "".join(f"gate-{n},Gate {n},Hall A\n" for n in range(TERMINALS)),
                     encoding="utf-8")
    cli(env, "partner", "terminal", "import", partner["partner_id"], str(gates))  # refusals at unknown terminals count too
    results = [measure(env, partner, mode, args, args.redis_url) for mode in args.modes.split(",")]
    print(f"POST {VERIFY_PATH} at {args.rate:g}/s; {args.bursts} bursts of {BURST} console log-ins (unknown usernames); "
          f"{WORKERS} gevent workers")
    print(f"{'mode':<10} {'idle p50':>9} {'idle p99':>9} {'burst p50':>10} {'burst p99':>10} {'burst max':>10} "
          f"{'p99 ratio':>9} {'log-ins/s':>9}  within 2x")
    for r in results:
        ratio = r["busy_p99"] / r["idle_p99"]
        print(f"{r['mode']:<10} {r['idle_p50'] * 1000:7.1f}ms {r['idle_p99'] * 1000:7.1f}ms {r['busy_p50'] * 1000:8.1f}ms "
              f"{r['busy_p99'] * 1000:8.1f}ms {r['busy_max'] * 1000:8.1f}ms {ratio:9.2f} {r['log_ins_per_s']:9.1f}  "
              f"{'yes' if ratio <= 2 else 'NO'}   (verifications {r['verifications']}, log-in answers {r['statuses']})")


if __name__ == "__main__":
    main()
