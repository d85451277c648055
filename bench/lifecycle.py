"""CPU per verification in process, e-card code vs physical card (chip reader), and the time
from a loss report's answer to a terminal's refusal (docs/card-lifecycle.md).

    .venv/bin/python bench/lifecycle.py [--requests 500] [--database-url URL] [--redis-url URL]

Default: the embedded backend (SQLite file + SQL store) in a temporary folder. With
``--database-url`` the schema is created in that database (use an empty one of your own).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from app import create_app  # noqa: E402
from app.platform.clock import FrozenClock  # noqa: E402
from app.platform.db import db  # noqa: E402
from standins.wechat import WeChatStandIn  # noqa: E402
from tests.helpers import ApiClient  # noqa: E402

APPID, SECRET = "wxbench00000000001", "bench-secret"


def build(args: argparse.Namespace, wechat: WeChatStandIn, clock: FrozenClock) -> ApiClient:
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": args.redis_url, "CARD_WECHAT_APPID": APPID,
                      "CARD_WECHAT_SECRET": SECRET, "CARD_WECHAT_API_BASE": wechat.base_url}, clock=clock)
    with app.app_context():
        db.create_all()
    return ApiClient(app, wechat, clock)


def activated_citizen(api: ApiClient) -> tuple[str, dict, str]:
    """A bound citizen with an activated physical card; returns (token, terminal partner, card number)."""
    token = api.bound_citizen()
    bank, metro = api.partner((), name="Bank", roles=("bank",)), api.partner(("transit",), name="Metro")
    headers = api.bearer(token)
    application = api.client.post("/api/mp/v1/card/physical", json={"bank_partner_id": bank["partner_id"], "accepted_fee_fen": 0},
                                   headers=headers).json["application_id"]
    for n, (event, extra) in enumerate((("produced", {"serial_number": "SN00000001"}), ("issued", {}))):
        body = {"request_id": f"bench-{n:08d}", "application_id": application, "event": event, **extra}
        assert api.signed_post(bank, json.dumps(body).encode(), path="/api/partner/v1/bank/card-reports").status_code == 200
    assert api.client.post("/api/mp/v1/card/physical/activation", json={"serial_number": "SN00000001", "pin": "480915"},
                           headers=headers).status_code == 200
    return token, metro, api.client.get("/api/mp/v1/card/carriers", headers=headers).json["card_number"]


def cpu_ms(api: ApiClient, partner: dict, bodies: Iterable[bytes]) -> float:
    """Milliseconds of this process's CPU per verification (only the verification is timed)."""
    spent, count = 0.0, 0
    for body in bodies:
        start = time.process_time()
        answer = api.signed_post(partner, body).json
        spent += time.process_time() - start
        count += 1
        assert answer["accepted"], answer
    return spent * 1000 / count


def code_bodies(api: ApiClient, token: str, count: int) -> Iterator[bytes]:
    """Fresh codes, each sent once; the frozen clock moves a step every 90 (100 codes per step)."""
    for n in range(count):
        if n and n % 90 == 0:
            api.clock.advance(30)
        yield json.dumps({"code": api.code(token), "scene": "transit", "terminal_id": f"gate-{n % 60}"}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    clock = FrozenClock((int(time.time()) // 30) * 30 + 5)
    with WeChatStandIn(APPID, SECRET) as wechat:
        api = build(args, wechat, clock)
        token, metro, number = activated_citizen(api)
        ecard = cpu_ms(api, metro, code_bodies(api, token, args.requests))
        reads = [json.dumps({"card_number": number, "scene": "transit", "terminal_id": f"gate-{n % 60}"}).encode()
                 for n in range(args.requests)]
        physical = cpu_ms(api, metro, reads)
        print(f"POST verifications, e-card code:      {ecard:.3f} ms CPU per request")
        print(f"POST verifications, physical card:    {physical:.3f} ms CPU per request")
        start = time.perf_counter()
        assert api.client.post("/api/mp/v1/card/physical/loss-report", headers=api.bearer(token)).status_code == 200
        reported = time.perf_counter()
        answer = api.signed_post(metro, reads[0]).json
        refused = time.perf_counter()
        print(f"loss report answered in {1000 * (reported - start):.1f} ms; the next read answered {answer['reason']} "
              f"{1000 * (refused - reported):.1f} ms later")


if __name__ == "__main__":
    main()
