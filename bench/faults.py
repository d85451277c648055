"""The long fault-injection run (issue 8): verifications under load while Redis and PostgreSQL are
killed and restarted again and again. Run by hand; the results table goes in docs/operations.md.

    .venv/bin/python bench/faults.py --minutes 10

It starts its own throw-away Redis and PostgreSQL (tests/faults/servers.py: free ports, never the
shared servers), seeds ``--citizens`` citizens, serves the app with ``citizencard serve`` (3
workers) and keeps ``--clients`` client threads verifying fresh codes, each code once, plus a
re-send of an accepted code now and then (it must be refused). Every ``--cycle`` seconds it injects
the next fault, in turn:

- ``redis-kill``: SIGKILL Redis (every key lost), restart it after ``--down`` seconds;
- ``pg-restart``: PostgreSQL immediate shutdown (as a crash), start it after ``--down`` seconds;
- ``pg-fast``: PostgreSQL fast shutdown (what an operator's restart does), start it after ``--down``.

Per fault it reports the answers while the server was down and the seconds from its return to the
first accepted verification. At the end it checks, from the client's answers and the database:
no code accepted twice, every accepted answer recorded exactly once, no answer other than 200 and
503, no traceback in the server log. Exit status 1 if any check fails.

With ``--charge-clients N`` (default 4; issue 22) the seeded partner is a merchant, every card has
a financial account, and N more threads charge each accepted verification once, retrying with the
same idempotency key until a final answer (bench/fault_charges.py): no charge lost or doubled.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from charges import open_accounts  # noqa: E402
from fault_charges import Charging, charge_checks, charge_summary  # noqa: E402
from seed import Population, seed_population  # noqa: E402
from verify import free_port, serving  # noqa: E402

from app import create_app  # noqa: E402
from qr import payload, totp  # noqa: E402
from scenes.signing import authorization_header  # noqa: E402
from tests.faults.servers import PrivatePostgres, PrivateRedis  # noqa: E402

VERIFY_PATH = "/api/partner/v1/verifications"
FAULTS = ("redis-kill", "pg-restart", "pg-fast")


@dataclass
class Answer:
    at: float
    status: int  # 0: no HTTP answer (timeout, connection refused)
    accepted: bool = False
    reason: str | None = None
    verification_id: str | None = None
    code: str = ""
    resend: bool = False
    duplicate: bool = False  # the scanner's re-read within 60 s: the original answer again

    @property
    def new_acceptance(self) -> bool:
        return self.accepted and not self.duplicate


@dataclass
class Load:
    """Client threads verifying fresh codes; every answer is kept."""

    base: str
    population: Population
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sequences: dict[tuple[int, int], int] = field(default_factory=dict)
    accepted_codes: list[str] = field(default_factory=list)
    on_accept: Callable[[str], None] | None = None  # each new acceptance's verification id (the charge stream)

    def next_code(self) -> str:
        step = totp.time_step(time.time())
        device = random.randrange(len(self.population.devices))
        with self.lock:
            sequence = self.sequences.get((device, step), 0)
            if sequence > 99:
                return self.next_code()
            self.sequences[(device, step)] = sequence + 1
        pseudonym, seed = self.population.devices[device]
        return payload.encode(payload.CodePayload(pseudonym, step, sequence, totp.otp(seed, step, sequence)))

    def send(self, session: requests.Session, code: str, resend: bool) -> Answer:
        body = json.dumps({"code": code, "scene": "transit", "terminal_id": f"gate-{random.randrange(500)}"}).encode()
        auth = authorization_header(self.population.partner_id, self.population.partner_secret, "POST", VERIFY_PATH,
                                    body, int(time.time()), secrets.token_hex(12))
        started = time.monotonic()
        try:
            response = session.post(self.base + VERIFY_PATH, data=body, timeout=10,
                                    headers={"Authorization": auth, "Content-Type": "application/json"})
        except requests.RequestException:
            return Answer(started, 0, code=code, resend=resend)
        data = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
        return Answer(started, response.status_code, bool(data.get("accepted")), data.get("reason"),
                      data.get("verification_id"), code, resend, bool(data.get("duplicate")))

    def client(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            resend = bool(self.accepted_codes) and random.random() < 0.05
            code = random.choice(self.accepted_codes) if resend else self.next_code()
            answer = self.send(session, code, resend)
            with self.lock:
                self.answers.append(answer)
                if answer.new_acceptance and not resend:
                    self.accepted_codes.append(code)
            if answer.new_acceptance and not resend and self.on_accept is not None and answer.verification_id:
                self.on_accept(answer.verification_id)
            if answer.status != 200:
                time.sleep(0.05)  # a terminal backs off a little on an error


@dataclass
class FaultResult:
    fault: str
    down_from: float
    up_at: float
    recovered_at: float | None = None


def inject(fault: str, redis_server: PrivateRedis, postgres: PrivatePostgres, down: float) -> FaultResult:
    started = time.monotonic()
    if fault == "redis-kill":
        redis_server.kill()
        time.sleep(down)
        redis_server.start()
    else:
        postgres.stop("immediate" if fault == "pg-restart" else "fast")
        time.sleep(down)
        postgres.start()
    return FaultResult(fault, started, time.monotonic())


def recovered_at(answers: list[Answer], since: float) -> float | None:
    return min((a.at for a in answers if a.at >= since and a.new_acceptance and not a.resend), default=None)


def recorded(conninfo: str) -> dict[str, bool]:
    """Verification id -> accepted, for every record in the private database."""
    with psycopg.connect(conninfo) as conn:
        return dict(conn.execute("SELECT id, accepted FROM verifications").fetchall())


def checks(load: Load, conninfo: str, log: Path) -> dict[str, int]:
    by_id = recorded(conninfo)
    client_accepts = Counter(a.code for a in load.answers if a.new_acceptance)
    accepted_ids = {a.verification_id for a in load.answers if a.accepted}
    return {
        "codes accepted twice (client answers)": sum(1 for n in client_accepts.values() if n > 1),
        "accepted answers not recorded as accepted": sum(1 for vid in accepted_ids if not by_id.get(str(vid))),
        "accepted records no client was told of": sum(1 for vid, ok in by_id.items() if ok and vid not in accepted_ids),
        "re-sent used codes accepted (not as a duplicate read)": sum(1 for a in load.answers if a.resend and a.new_acceptance),
        "answers other than 200/503/no answer": sum(1 for a in load.answers if a.status not in (0, 200, 503)),
        "tracebacks in the server log": log.read_text(errors="replace").count("Traceback"),
    }


def print_report(results: list[FaultResult], load: Load, problems: dict[str, int], minutes: float) -> None:
    statuses = Counter(a.status for a in load.answers)
    accepted = sum(1 for a in load.answers if a.new_acceptance)
    print(f"\n{len(load.answers)} requests in {minutes:g} min: {accepted} accepted, statuses {dict(sorted(statuses.items()))}")
    print("\n| # | fault | down (s) | answers while down | 503 | no answer | 503 in 10 s after return | back to first acceptance (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for n, result in enumerate(results, 1):
        during = [a for a in load.answers if result.down_from <= a.at < result.up_at]
        after = sum(1 for a in load.answers if result.up_at <= a.at < result.up_at + 10 and a.status == 503)
        back = "-" if result.recovered_at is None else f"{result.recovered_at - result.up_at:.2f}"
        print(f"| {n} | {result.fault} | {result.up_at - result.down_from:.1f} | {len(during)} | "
              f"{sum(a.status == 503 for a in during)} | {sum(a.status == 0 for a in during)} | {after} | {back} |")
    print("\n| check | count (must be 0) |\n|---|---|")
    for name, count in problems.items():
        print(f"| {name} | {count} |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--citizens", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cycle", type=float, default=20, help="seconds between faults")
    parser.add_argument("--down", type=float, default=5, help="seconds a killed server stays down")
    parser.add_argument("--charge-clients", type=int, default=4, help="threads charging the accepted verifications (0: none)")
    return parser.parse_args()


def run(args: argparse.Namespace, tmp: Path, redis_server: PrivateRedis, postgres: PrivatePostgres) -> int:
    env = {**os.environ, "DATABASE_URL": postgres.url, "REDIS_URL": redis_server.url, "CARD_INSTANCE_PATH": str(tmp)}
    subprocess.run([sys.executable, "-m", "app", "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    app = create_app({"SQLALCHEMY_DATABASE_URI": postgres.url, "REDIS_URL": redis_server.url})
    population = seed_population(app, postgres.url.replace("+psycopg", ""), args.citizens, 0)
    if args.charge_clients:
        open_accounts(app, postgres.url.replace("+psycopg", ""), args.citizens)
    port, log = free_port(), tmp / "server.log"
    command = [sys.executable, "-m", "app", "serve", "--no-migrate", "--bind", f"127.0.0.1:{port}", "--workers", "3"]
    charging = Charging(f"http://127.0.0.1:{port}", population.partner_id, population.partner_secret)
    load = Load(f"http://127.0.0.1:{port}", population, on_accept=charging.offer if args.charge_clients else None)
    results: list[FaultResult] = []
    with serving(command, env, port, log):
        threads = [threading.Thread(target=load.client, daemon=True) for _ in range(args.clients)]
        chargers = [threading.Thread(target=charging.client, daemon=True) for _ in range(args.charge_clients)]
        for thread in threads + chargers:
            thread.start()
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() + args.cycle + args.down + 10 < deadline:  # 10 s after each return to recover in
            time.sleep(args.cycle)
            results.append(inject(FAULTS[len(results) % len(FAULTS)], redis_server, postgres, args.down))
            print(f"{results[-1].fault}: back after {results[-1].up_at - results[-1].down_from:.1f} s", flush=True)
        time.sleep(max(0.0, deadline - time.monotonic()))
        load.stop.set()
        for thread in threads:
            thread.join(timeout=15)
        charging.stop.set()
        for thread in chargers:
            thread.join(timeout=120)
    for result in results:
        result.recovered_at = recovered_at(load.answers, result.up_at)
    problems = checks(load, postgres.conninfo, log)
    if args.charge_clients:
        problems.update(charge_checks(charging, postgres.conninfo, env, ROOT))
    print_report(results, load, problems, args.minutes)
    if args.charge_clients:
        print(charge_summary(charging))
    unrecovered = sum(1 for result in results if result.recovered_at is None)
    return 1 if any(problems.values()) or unrecovered else 0


def main() -> int:
    args = parse_args()
    redis_dir = Path(tempfile.mkdtemp(prefix="cc-faults-redis-"))
    redis_server, postgres = PrivateRedis(redis_dir), PrivatePostgres()
    try:
        redis_server.start()
        postgres.initdb()
        postgres.start()
        with tempfile.TemporaryDirectory(prefix="cc-faults-run-") as tmp:
            return run(args, Path(tmp), redis_server, postgres)
    finally:
        redis_server.kill()
        postgres.remove()


if __name__ == "__main__":
    sys.exit(main())
