"""DGC2 on the platform (issue 16, "Measured"): record upload throughput, the detector, certificate issuance.

Run by hand on PostgreSQL and Redis (figures go in docs/offline-codes.md §8 and bench/README.md):

    .venv/bin/python bench/offline.py                         # defaults: a few minutes on 2 loaded cores
    .venv/bin/python bench/offline.py --records 20000 --certificates 500 --redis redis://127.0.0.1:6399/15
    .venv/bin/python bench/offline.py --workers 1 2 --http-records 20000   # also through gunicorn

1. **Upload throughput, in process**: ``POST /api/partner/v1/offline/records`` in batches of 1,000
   distinct valid records (each certificate shows 10 codes, as a day at a gate: many phones, a few
   codes each), through the Flask test client in this one process (no HTTP server: the service's
   own cost), records settled per second of wall time, and the CPU per record of this process and
   of PostgreSQL (bench/cpu.py; on a loaded machine CPU per record is the steadier figure:
   ``cores x 1e6 / (app + PostgreSQL µs)`` bounds what that many cores can settle).
2. **Upload throughput through HTTP** (``--workers W ...``): ``citizencard serve`` (gunicorn, the
   product's options) with W workers, 2 W uploaders sending pre-signed batches of 1,000 at once;
   records settled per second of wall time and CPU per record of the server and PostgreSQL.
3. **The detector** runs inside the upload (the ledger's unique (serial, ctr) and the clone check are
   part of each batch's statements): a day of 1,000,000 records costs the upload time of 1,000,000
   records, extrapolated linearly from the run (the statements are index look-ups and do not grow
   with the table); a batch that is all replays is timed too (each record is a finding).
4. **Certificates issued per second**: the issuance's core (issuer signature, the conditional
   INSERT under the device limit, commit) for seeded cards, without the HTTP round trip, the
   challenge, the proof check and the rate limits (those add one Ed25519 verification and two
   Redis round trips).
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import http.client
import json
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import redis

BENCH = Path(__file__).resolve().parent
CHECKOUT = [str(BENCH), str(BENCH.parent), str(BENCH.parent / "terminal")]  # this checkout's app and dgc2
sys.path[:0] = CHECKOUT

import cpu  # noqa: E402
from seed import seed_population  # noqa: E402
from verify import free_port, fresh_database, serving  # noqa: E402

from app import create_app  # noqa: E402
from app.card.models import Card, Device  # noqa: E402
from app.card.offline_certificates import _insert_within_limit  # noqa: E402
from app.card.offline_keys import issuing_key  # noqa: E402
from app.platform.db import db  # noqa: E402
from app.runtime import EXTENSION_KEY  # noqa: E402
from app.server import upgrade_schema  # noqa: E402
from qr import offline  # noqa: E402
from scenes.signing import authorization_header  # noqa: E402

PATH = "/api/partner/v1/offline/records"
CODES_PER_CERTIFICATE = 10
DATABASE = "bench_offline"


def issue_certificates(app, cards: int) -> tuple[list[tuple[offline.Certificate, offline.SigningKey]], float]:  # type: ignore[no-untyped-def]
    """One certificate for each of ``cards`` seeded cards: the issuance's core, one commit each.
    The cards and devices are read as plain ids first (ORM objects held across the commits would be
    expired and reloaded by every commit: the harness's cost, not the issuance's)."""
    rt = app.extensions[EXTENSION_KEY]
    issued = []
    with app.app_context():
        issuer = issuing_key(rt, offline.ED25519)
        pairs = [(SimpleNamespace(id=card_id), SimpleNamespace(id=device_id)) for card_id, device_id in db.session.execute(
            db.select(Card.id, Device.id).join(Device, Device.card_id == Card.id).limit(cards)).all()]
        devices = [offline.generate(offline.ED25519) for _ in pairs]
        start = time.perf_counter()
        for (card, device), key in zip(pairs, devices, strict=True):
            now = rt.clock.now()
            certificate = offline.issue_certificate(
                issuer.signer, kid=issuer.kid, serial=secrets.token_bytes(8), nbf=int(now.timestamp()),
                exp=int((now + timedelta(hours=24)).timestamp()), scenes=7, fare_class=0, flags=0, device_public_key=key.public_key)
            assert _insert_within_limit(card, device, issuer.kid, offline.ED25519, offline.b64url_encode(key.public_key),
                                        certificate, now, now + timedelta(hours=24))
            db.session.commit()
            issued.append((certificate, key))
        elapsed = time.perf_counter() - start
        db.session.remove()
    return issued, len(issued) / elapsed


def batches(issued: list[tuple[offline.Certificate, offline.SigningKey]], records: int) -> list[list[dict]]:
    """``records`` distinct valid records in batches of 1,000: each certificate's codes 10 at a time
    (counters 0-9, then 10-19 once every certificate had its first ten, ...)."""
    now = int(time.time())
    rows = []
    for index in range(records):
        certificate, key = issued[(index // CODES_PER_CERTIFICATE) % len(issued)]
        ctr = index % CODES_PER_CERTIFICATE + CODES_PER_CERTIFICATE * (index // (CODES_PER_CERTIFICATE * len(issued)))
        text = offline.make_code(certificate, key, t=now, ctr=ctr).text
        rows.append({"record_id": secrets.token_hex(16), "terminal_id": f"gate-{index // 1000 % 500}", "scene": "transit",
                     "scanned_at": now, "code": text})
    return [rows[i:i + 1000] for i in range(0, len(rows), 1000)]


def signed_request(partner_id: str, secret: str, batch: list[dict]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one signed upload (valid for 300 s: sign just before sending)."""
    body = json.dumps({"records": batch}).encode()
    header = authorization_header(partner_id, secret, "POST", PATH, body, int(time.time()), secrets.token_hex(12))
    return body, {"Authorization": header, "Content-Type": "application/json"}


def upload(client, partner_id: str, secret: str, batch: list[dict]) -> list[str]:  # type: ignore[no-untyped-def]
    body, headers = signed_request(partner_id, secret, batch)
    response = client.post(PATH, data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return [result["status"] for result in response.json["results"]]


def timed_uploads(client, population, groups: list[list[dict]], expect: str) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for batch in groups:
        statuses = upload(client, population.partner_id, population.partner_secret, batch)
        assert set(statuses) == {expect}, set(statuses)
    return time.perf_counter() - start


def http_uploads(port: int, population, groups: list[list[dict]], uploaders: int) -> float:  # type: ignore[no-untyped-def]
    """Send the pre-signed ``groups`` from ``uploaders`` threads (one connection each); every record
    must settle. Returns the wall time."""
    requests = [signed_request(population.partner_id, population.partner_secret, batch) for batch in groups]

    def send(share: list[tuple[bytes, dict[str, str]]]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        for body, headers in share:
            connection.request("POST", PATH, body=body, headers=headers)
            answer = connection.getresponse()
            text = answer.read()
            assert answer.status == 200, text[:300]
            assert {result["status"] for result in json.loads(text)["results"]} == {"settled"}, text[:300]
        connection.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(uploaders) as pool:
        list(pool.map(send, [requests[i::uploaders] for i in range(uploaders)]))
    return time.perf_counter() - start


def cpu_per_record(scope: cpu.Scope, run, records: int) -> tuple[float, dict[str, float]]:  # type: ignore[no-untyped-def]
    """``run()``'s wall time and CPU µs per record of the app and PostgreSQL."""
    before = cpu.snapshot(scope)
    elapsed = run()
    after = cpu.snapshot(scope)
    return elapsed, {group: 1e6 * (after[group] - before[group]) / records for group in ("app", "postgres")}


def describe(records: int, elapsed: float, used: dict[str, float]) -> str:
    return (f"{records:,} records in {elapsed:.1f} s = {records / elapsed:,.0f} records/s; CPU per record "
            f"app {used['app']:.0f} µs + PostgreSQL {used['postgres']:.0f} µs")


def measure_http(args: argparse.Namespace, env: dict[str, str], population, groups: list[list[dict]]) -> None:  # type: ignore[no-untyped-def]
    """Each ``--workers`` count in turn, with its own share of fresh batches."""
    share = len(groups) // len(args.workers)
    for index, workers in enumerate(args.workers):
        mine = groups[index * share:(index + 1) * share]
        port = free_port()
        command = [sys.executable, "-m", "app", "serve", "--no-migrate", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        log = Path(env["CARD_INSTANCE_PATH"]) / f"serve-{workers}.log"  # start-up checks: slow on a loaded machine
        with serving(command, env, port, log, start_up=300) as pid:
            http_uploads(port, population, [batch[:10] for batch in mine[:2 * workers]], 2 * workers)  # warm-up
            mine = [batch[10:] for batch in mine[:2 * workers]] + mine[2 * workers:]
            records = sum(len(batch) for batch in mine)
            scope = cpu.Scope(pid, DATABASE, (int(args.redis.rsplit(":", 1)[1].split("/")[0]),))
            elapsed, used = cpu_per_record(scope, lambda: http_uploads(port, population, mine, 2 * workers), records)  # noqa: B023
        print(f"upload through gunicorn, {workers} worker(s), {2 * workers} uploaders: {describe(records, elapsed, used)}")


class GcTime:
    """Seconds spent in the garbage collector, by generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds, self.started = [0.0, 0.0, 0.0], 0.0
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self.started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20000, help="records uploaded in process")
    parser.add_argument("--certificates", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="*", default=[], help="also upload through gunicorn with W workers")
    parser.add_argument("--http-records", type=int, default=20000, help="records uploaded through gunicorn, per worker count")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the in-process timed uploads into FILE (pstats)")
    args = parser.parse_args()
    database_url = fresh_database(args.database, DATABASE)
    redis.Redis.from_url(args.redis).flushdb()
    instance = tempfile.mkdtemp()
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": args.redis, "CARD_INSTANCE_PATH": instance})
    upgrade_schema(app)
    population = seed_population(app, database_url, args.certificates, 10)
    issued, per_second = issue_certificates(app, args.certificates)
    print(f"certificates issued: {len(issued)} at {per_second:,.0f}/s (signature + conditional INSERT + commit)")
    groups = batches(issued, args.records + args.http_records * len(args.workers))
    http_groups, groups = groups[len(groups) - args.http_records // 1000 * len(args.workers):], \
        groups[:len(groups) - args.http_records // 1000 * len(args.workers)]
    client = app.test_client()
    upload(client, population.partner_id, population.partner_secret, groups[0][:10])  # warm-up (10 records settled)
    groups[0] = groups[0][10:]
    settled = sum(len(batch) for batch in groups)
    scope = cpu.Scope(os.getpid(), DATABASE, (int(args.redis.rsplit(":", 1)[1].split("/")[0]),))
    collected = GcTime()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    elapsed, used = cpu_per_record(scope, lambda: timed_uploads(client, population, groups, "settled"), settled)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    rate = settled / elapsed
    print(f"garbage collector during the in-process upload: {', '.join(f'{t:.2f}' for t in collected.seconds)} s (generations 0-2)")
    print(f"upload in process (Flask test client, batches of 1,000): {describe(settled, elapsed, used)}")
    replays = [[{**record, "record_id": secrets.token_hex(16), "terminal_id": "gate-499"} for record in batch]
               for batch in groups[:max(1, len(groups) // 4)]]
    replayed = sum(len(batch) for batch in replays)
    replay_elapsed, replay_used = cpu_per_record(scope, lambda: timed_uploads(client, population, replays, "double_use"), replayed)
    print(f"replays (each a finding): {describe(replayed, replay_elapsed, replay_used)}")
    print(f"detector, a day of 1,000,000 records (extrapolated from {settled:,}): {1_000_000 / rate / 60:.1f} min in one "
          f"process; with 1 % replays {(990_000 / rate + 10_000 * replay_elapsed / replayed) / 60:.1f} min")
    if args.workers:
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": args.redis, "CARD_INSTANCE_PATH": instance,
               "PYTHONPATH": os.pathsep.join(CHECKOUT)}
        measure_http(args, env, population, http_groups)


if __name__ == "__main__":
    main()
