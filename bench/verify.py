"""Benchmark: partner verifications per second through gunicorn on PostgreSQL + Redis.

Run by hand, not in CI (README of bench/ below):

    apt-get install -y wrk            # the load generator (Debian package)
    .venv/bin/python bench/verify.py [--citizens 2000] [--duration 20] [--connections 32]

It creates a fresh PostgreSQL database (``cc_bench``) and uses Redis database 15 (flushed),
seeds N citizens with cards and devices of known seeds, starts ``citizencard serve`` with its
production settings (gthread workers), pre-signs one unique request per code (fresh codes of
random citizens, each used once), replays them with wrk from a separate process, and prints
throughput, p50/p90/p99 and the error count. It then checks in the database that the number of
accepted verifications equals the accepted answers, i.e. no code was accepted twice.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis
import requests
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Card, Citizen, Device, Verification  # noqa: E402
from app.runtime import EXTENSION_KEY  # noqa: E402
from app.services import people  # noqa: E402
from app.services.partners import create_partner  # noqa: E402
from qr import payload, totp  # noqa: E402
from scenes.registry import SCENE_NAMES  # noqa: E402
from scenes.signing import authorization_header  # noqa: E402

PATH = "/api/partner/v1/verifications"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--citizens", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=20, help="seconds of load (at most 25)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="default: what citizencard serve uses")
    parser.add_argument("--admin-url", default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    return parser.parse_args()


def fresh_database(admin_url: str) -> str:
    admin = make_url(admin_url)
    with psycopg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "cc_bench" WITH (FORCE)')
        conn.execute('CREATE DATABASE "cc_bench"')
    return admin.set(drivername="postgresql", database="cc_bench").render_as_string(hide_password=False)


def seed(app, citizens: int) -> tuple[list[tuple[str, str]], dict[str, str]]:  # type: ignore[no-untyped-def]
    """Citizens with cards and one device each; returns (pseudonym, seed) pairs and a partner."""
    rt = app.extensions[EXTENSION_KEY]
    now = rt.clock.now()
    devices = [(f"{i:016d}".translate(str.maketrans("0123456789", "ABCDEFGHIJ")), totp.new_seed()) for i in range(citizens)]
    with app.app_context():
        db.session.execute(insert(Citizen), [
            {"id": i + 1, "id_number_index": f"bench{i}", "id_number_enc": rt.keyring.encrypt(f"id{i}", people.ID_NUMBER),
             "name_enc": rt.keyring.encrypt("测试", people.NAME), "phone_enc": rt.keyring.encrypt("13800000000", people.PHONE),
             "insured": i % 2 == 0, "created_at": now, "updated_at": now} for i in range(citizens)])
        db.session.execute(insert(Card), [
            {"id": i + 1, "card_number": f"9{i:015d}", "citizen_id": i + 1, "status": "active",
             "contact_phone_enc": rt.keyring.encrypt("13800000000", people.CONTACT_PHONE), "created_at": now}
            for i in range(citizens)])
        db.session.execute(insert(Device), [
            {"card_id": i + 1, "pseudonym": pseudonym, "seed_enc": rt.keyring.encrypt(seed_, people.SEED), "created_at": now}
            for i, (pseudonym, seed_) in enumerate(devices)])
        db.session.commit()
        credentials = create_partner(rt, "Bench Metro", ["transit"], SCENE_NAMES)
    return devices, {"partner_id": credentials.partner_id, "secret": credentials.secret}


def signed_requests(devices: list[tuple[str, str]], partner: dict[str, str], count: int, path: Path) -> None:
    """One line per request: each a fresh code of a random citizen, each code used once.

    Sequences run outer and citizens inner (in one shuffled order), so one device's successive
    codes are exactly N requests apart and reach the server in order."""
    step = totp.time_step(time.time())
    now = int(time.time())
    order = random.sample(range(len(devices)), len(devices))
    with path.open("w") as out:
        for n in range(count):
            sequence, index = divmod(n, len(devices))
            pseudonym, seed_ = devices[order[index]]
            code = payload.encode(payload.CodePayload(pseudonym, step, sequence, totp.otp(seed_, step, sequence)))
            body = json.dumps({"code": code, "scene": "transit", "terminal_id": f"gate-{index % 500}"}, separators=(",", ":"))
            header = authorization_header(partner["partner_id"], partner["secret"], "POST", PATH, body.encode(), now, secrets.token_hex(12))
            out.write(f"{body}\t{header}\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_fresh_step(min_left: float) -> None:
    left = 30 - time.time() % 30
    if left < min_left:
        time.sleep(left + 0.1)


def main() -> int:
    args = parse_args()
    if args.duration > 25:
        sys.exit("--duration must be at most 25 s: pre-signed codes expire")
    database_url = fresh_database(args.admin_url)
    redis.Redis.from_url(args.redis_url).flushdb()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": args.redis_url, "CARD_INSTANCE_PATH": tempfile.mkdtemp()}
    subprocess.run([sys.executable, "-m", "app", "db", "upgrade"], env=env, check=True, capture_output=True)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": args.redis_url})
    devices, partner = seed(app, args.citizens)
    workers = args.workers or app.config["CARD_WORKERS"]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--no-migrate", "--bind", f"127.0.0.1:{port}",
                               "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return run_load(args, app, devices, partner, port, workers)
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_load(args, app, devices, partner, port: int, workers: int) -> int:  # type: ignore[no-untyped-def]
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    wait_for_fresh_step(args.duration + 8)
    lines = Path(tempfile.mkdtemp()) / "requests.tsv"
    count = min(5000 * args.duration, len(devices) * 100)
    signed_requests(devices, partner, count, lines)
    wrk = subprocess.run(["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
                          "-s", str(ROOT / "bench" / "verify.lua"), f"http://127.0.0.1:{port}", "--", str(lines), "2"],
                         capture_output=True, text=True, check=True)
    result = dict(item.split("=") for item in next(line for line in wrk.stdout.splitlines() if line.startswith("RESULT")).split()[1:])
    time.sleep(1)  # let requests still in flight when wrk stopped finish
    with app.app_context():
        recorded = db.session.scalar(select(func.count()).select_from(Verification).where(Verification.accepted.is_(True)))
    replays = replay_sample(lines, port, partner, 200)
    report(args, workers, count, result, recorded, replays)
    return 0 if replays == 0 and recorded <= count else 1


def replay_sample(lines: Path, port: int, partner: dict[str, str], size: int) -> int:
    """Send ``size`` already-sent codes again from another terminal; returns how many were accepted."""
    sent = lines.read_text().splitlines()[:size]
    accepted = 0
    for line in sent:
        code = json.loads(line.split("\t")[0])["code"]
        body = json.dumps({"code": code, "scene": "transit", "terminal_id": "replay-check"}).encode()
        header = authorization_header(partner["partner_id"], partner["secret"], "POST", PATH, body, int(time.time()), secrets.token_hex(12))
        answer = requests.post(f"http://127.0.0.1:{port}{PATH}", data=body, timeout=10,
                               headers={"Authorization": header, "Content-Type": "application/json"}).json()
        accepted += answer["accepted"]
    return accepted


def report(args, workers: int, count: int, result: dict[str, str], recorded: int, replays: int) -> None:  # type: ignore[no-untyped-def]
    seconds, requests_ = float(result["seconds"]), int(result["requests"])
    refused = int(result["refused"])
    print(f"citizens={args.citizens} gunicorn workers={workers} (gthread x4) wrk connections={args.connections} "
          f"duration={seconds:.1f}s unique codes={count}")
    print(f"{'throughput':>12} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'accepted':>9} {'refused':>8} {'errors':>7}")
    print(f"{requests_ / seconds:>10.0f}/s {int(result['p50_us']) / 1000:>6.1f}ms {int(result['p90_us']) / 1000:>6.1f}ms "
          f"{int(result['p99_us']) / 1000:>6.1f}ms {int(result['max_us']) / 1000:>6.1f}ms {result['accepted']:>9} {refused:>8} "
          f"{result['socket_errors']:>7}")
    print(f"accepted verifications recorded in PostgreSQL: {recorded} (answers seen by wrk: {result['accepted']}; "
          f"the difference is requests in flight when wrk stopped); unique codes sent: {count}")
    print(f"already-used codes sent again: 200, accepted again: {replays} (must be 0)")
    if requests_ > count:
        print(f"note: {requests_ - count} requests re-sent already used codes after the list ran out; they count as refused")


if __name__ == "__main__":
    sys.exit(main())
