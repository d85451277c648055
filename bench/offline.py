"""DGC2 on the platform (issue 16, "Measured"): record upload throughput, the detector, certificate issuance.

Run by hand on PostgreSQL and Redis (figures go in docs/offline-codes.md §8 and the report):

    .venv/bin/python bench/offline.py                         # defaults: a few minutes on 2 loaded cores
    .venv/bin/python bench/offline.py --records 20000 --certificates 500 --redis redis://127.0.0.1:6399/15

1. **Upload throughput**: ``POST /api/partner/v1/offline/records`` in batches of 1,000 distinct
   valid records (each certificate shows 10 codes, as a day at a gate: many phones, a few codes each),
   through the Flask test client in this one process (no HTTP server: the server's own cost; a
   gunicorn with W workers on W cores scales it), records settled per second of wall time.
2. **The detector** runs inside the upload (the ledger's unique (serial, ctr) and the clone check are
   part of each INSERT): a day of 1,000,000 records costs the upload time of 1,000,000 records,
   extrapolated linearly from the run (the per-record statements are index look-ups and do not grow
   with the table); a batch that is all replays is timed too (each record takes the conflict path).
3. **Certificates issued per second**: the issuance's core (issuer signature, the conditional
   INSERT under the device limit, commit) for seeded cards, without the HTTP round trip, the
   challenge, the proof check and the rate limits (those add one Ed25519 verification and two
   Redis round trips).
"""
from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import redis

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent), str(BENCH.parent / "terminal")]

from seed import seed_population  # noqa: E402
from verify import fresh_database  # noqa: E402

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


def issue_certificates(app, cards: int) -> tuple[list[tuple[offline.Certificate, offline.SigningKey]], float]:  # type: ignore[no-untyped-def]
    rt = app.extensions[EXTENSION_KEY]
    issued = []
    with app.app_context():
        issuer = issuing_key(rt, offline.ED25519)
        pairs = db.session.execute(db.select(Card, Device).join(Device, Device.card_id == Card.id).limit(cards)).all()
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
    now = int(time.time())
    rows = []
    for index in range(records):
        certificate, key = issued[(index // CODES_PER_CERTIFICATE) % len(issued)]
        ctr = index % CODES_PER_CERTIFICATE + CODES_PER_CERTIFICATE * (index // (CODES_PER_CERTIFICATE * len(issued)))
        text = offline.make_code(certificate, key, t=now, ctr=ctr).text
        rows.append({"record_id": secrets.token_hex(16), "terminal_id": f"gate-{index // 1000 % 500}", "scene": "transit",
                     "scanned_at": now, "code": text})
    return [rows[i:i + 1000] for i in range(0, len(rows), 1000)]


def upload(client, partner_id: str, secret: str, batch: list[dict]) -> list[str]:  # type: ignore[no-untyped-def]
    body = json.dumps({"records": batch}).encode()
    header = authorization_header(partner_id, secret, "POST", PATH, body, int(time.time()), secrets.token_hex(12))
    response = client.post(PATH, data=body, headers={"Authorization": header, "Content-Type": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return [result["status"] for result in response.json["results"]]


def timed_uploads(client, population, groups: list[list[dict]], expect: str) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for batch in groups:
        statuses = upload(client, population.partner_id, population.partner_secret, batch)
        assert set(statuses) == {expect}, set(statuses)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--certificates", type=int, default=1000)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    database_url = fresh_database(args.database, "bench_offline")
    redis.Redis.from_url(args.redis).flushdb()
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": args.redis,
                      "CARD_INSTANCE_PATH": tempfile.mkdtemp()})
    upgrade_schema(app)
    population = seed_population(app, database_url, args.certificates, 10)
    issued, per_second = issue_certificates(app, args.certificates)
    print(f"certificates issued: {len(issued)} at {per_second:,.0f}/s (signature + conditional INSERT + commit)")
    groups = batches(issued, args.records)
    client = app.test_client()
    upload(client, population.partner_id, population.partner_secret, groups[0][:10])  # warm-up (10 records settled)
    groups[0] = groups[0][10:]
    settled = sum(len(batch) for batch in groups)
    elapsed = timed_uploads(client, population, groups, "settled")
    rate = settled / elapsed
    print(f"upload: {settled:,} records in {elapsed:.1f} s = {rate:,.0f} records/s (one process, batches of 1,000)")
    replays = [[{**record, "record_id": secrets.token_hex(16), "terminal_id": "gate-499"} for record in batch]
               for batch in groups[:max(1, len(groups) // 4)]]
    replayed = sum(len(batch) for batch in replays)
    replay_elapsed = timed_uploads(client, population, replays, "double_use")
    print(f"replays: {replayed:,} records in {replay_elapsed:.1f} s = {replayed / replay_elapsed:,.0f} records/s (each a finding)")
    print(f"detector, a day of 1,000,000 records (extrapolated from {settled:,}): {1_000_000 / rate / 60:.1f} min in one "
          f"process; with 1 % replays {(990_000 / rate + 10_000 * replay_elapsed / replayed) / 60:.1f} min")


if __name__ == "__main__":
    main()
