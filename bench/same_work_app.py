"""The same-work floor: an accepted verification's irreducible work, in as little code as it takes.

``POST /api/partner/v1/verifications`` with the product's body and ``Authorization`` header, on the
seeded bench database, under the product's gunicorn settings (bench/floor_app.FloorServer). Per request:

1. parse the JSON body (``json.loads``);
2. check the HMAC request signature as docs/partner-api.md says (scenes.signing: header syntax,
   timestamp within 300 s, ``HMAC-SHA256(secret, METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n)``);
3. one look-up of the card by pseudonym, the product's SELECT (device, card, holder), raw psycopg,
   prepared, on a pooled connection;
4. the password check (decrypt the seed with the app's keyring, HOTP of the moving factor);
5. one Redis Lua script claiming the nonce and the use (the product's ``USE_ONCE_LUA``);
6. the record appended through a batched INSERT (app.platform.group_commit, one
   ``INSERT ... SELECT FROM unnest(...) ON CONFLICT (use_key, code_step)``, the product's partition
   key ``code_step`` included), committed before the answer.

Answers ``{"accepted": true|false}``. Its keys are under ``samework:`` and its records go to
``samework_verifications`` (a copy of ``verifications`` with its indexes), so the product measured
after it finds its codes unused. No scene policy, no throttles, no kept answer, no access log.

    .venv/bin/python bench/same_work_app.py --bind 127.0.0.1:8101 --workers 2 --redis-url redis://... \\
        --database-url postgresql://... --partner-id pt_... --partner-secret ... --instance-path /tmp/...
"""
from __future__ import annotations

if __name__ == "__main__":  # the server process only
    from gevent import monkey

    monkey.patch_all()  # first, as `citizencard serve` does

import argparse  # noqa: E402
import hmac  # noqa: E402
import json  # noqa: E402
import queue  # noqa: E402
import secrets  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import psycopg  # noqa: E402
import redis  # noqa: E402
from flask import Flask, request  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.platform.group_commit import GroupCommit  # noqa: E402
from app.platform.store import USE_ONCE_LUA  # noqa: E402
from qr import payload, replay, totp  # noqa: E402
from scenes.signing import parse_authorization, sign  # noqa: E402

PATH = "/api/partner/v1/verifications"
TABLE = "samework_verifications"
LOOKUP = ("SELECT d.seed_enc, c.id, c.card_number, c.status, z.insured, z.disability, z.name_enc, z.id_number_enc, "
          "z.id_number_index, c.failed_attempts, c.failures_since FROM devices d JOIN cards c ON c.id = d.card_id "
          "JOIN citizens z ON z.id = c.citizen_id WHERE d.pseudonym = %s AND d.revoked_at IS NULL")
INSERT = (f"INSERT INTO {TABLE} (id, partner_id, terminal_id, scene, card_id, accepted, use_key, created_at, carrier, "
          "code_step) SELECT * FROM unnest(%s::varchar[], %s::int[], %s::varchar[], %s::varchar[], %s::int[], %s::bool[], "
          "%s::varchar[], %s::timestamptz[], %s::varchar[], %s::bigint[]) ON CONFLICT (use_key, code_step) DO NOTHING RETURNING id")


def create_table(database_url: str) -> None:
    """``samework_verifications``, like ``verifications`` (columns, indexes, the unique one-time key
    ``(use_key, code_step)``), partitioned by ``code_step`` as the product's table is on PostgreSQL
    (one default partition: the row is routed, as the product's is), empty."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (LIKE verifications INCLUDING ALL) PARTITION BY RANGE (code_step)")
        conn.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")


class Pool:
    """A few autocommit psycopg connections per worker (statements prepared on first use)."""

    def __init__(self, url: str, size: int = 20) -> None:
        self.url, self.idle, self.size = url, queue.LifoQueue(), size
        self.made = 0

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        try:
            conn = self.idle.get_nowait()
        except queue.Empty:
            if self.made < self.size:
                self.made += 1
                conn = psycopg.connect(self.url, autocommit=True, prepare_threshold=0)
            else:
                conn = self.idle.get()
        try:
            yield conn
        finally:
            self.idle.put(conn)


def create_same_work_app(options: argparse.Namespace) -> Flask:
    """The Flask app: one route doing steps 1-6 of the module docstring."""
    from app import create_app
    from app.identity.people import SEED
    from app.runtime import EXTENSION_KEY

    keyring = create_app({"SQLALCHEMY_DATABASE_URI": options.database_url, "REDIS_URL": options.redis_url,
                          "CARD_INSTANCE_PATH": options.instance_path}).extensions[EXTENSION_KEY].keyring
    app, pool, records = Flask(__name__), Pool(options.database_url), GroupCommit()  # type: ignore[var-annotated]
    use_once = redis.Redis.from_url(options.redis_url).register_script(USE_ONCE_LUA)

    def insert(rows: list[tuple[Any, ...]]) -> list[bool]:
        with pool.connection() as conn:
            inserted = {row[0] for row in conn.execute(INSERT, [list(column) for column in zip(*rows, strict=True)])}
        return [row[0] in inserted for row in rows]

    @app.post(PATH)
    def verify() -> Any:
        raw = request.get_data()
        body = json.loads(raw)
        params = parse_authorization(request.headers.get("Authorization"))
        if (params["partner_id"] != options.partner_id or abs(int(params["timestamp"]) - time.time()) > 300
                or not hmac.compare_digest(sign(options.partner_secret, "POST", PATH, params["timestamp"], params["nonce"], raw),
                                           params["signature"])):
            return {"accepted": False, "reason": "signature"}, 401
        code = payload.parse(body["code"])
        with pool.connection() as conn:
            row = conn.execute(LOOKUP, (code.pseudonym,)).fetchone()
        if row is None or not totp.otp_matches(keyring.decrypt(row[0], SEED), code.step, code.sequence, code.otp):
            return {"accepted": False}
        factor = totp.moving_factor(code.step, code.sequence)
        outcome = use_once(keys=[f"samework:{replay.ledger_key(code.pseudonym)}", f"samework:answer:{secrets.token_hex(8)}",
                                 f"samework:nonce:{params['nonce']}"], args=[factor, replay.MARK_TTL_SECONDS, "{}", 60, 600])
        accepted = outcome[0] == b"first"
        record = ("vf_" + secrets.token_hex(12), options.partner_pk, body["terminal_id"], body["scene"], row[1], accepted,
                  f"{code.pseudonym}:{factor}" if accepted else None, datetime.now(UTC), "ecard",
                  factor // totp.SEQUENCES_PER_STEP)
        return {"accepted": records.submit(record, insert) and accepted}

    return app


def main() -> None:
    from floor_app import FloorServer

    from app.server import gunicorn_options

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("--bind", "--redis-url", "--database-url", "--partner-id", "--partner-secret", "--instance-path"):
        parser.add_argument(name, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args()
    with psycopg.connect(args.database_url) as conn:
        args.partner_pk = conn.execute("SELECT id FROM partners WHERE partner_id = %s", (args.partner_id,)).fetchone()[0]  # type: ignore[index]
    create_table(args.database_url)
    FloorServer(gunicorn_options(args.bind, args.workers), lambda: create_same_work_app(args)).run()


if __name__ == "__main__":
    main()
