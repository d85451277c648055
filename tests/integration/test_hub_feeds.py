"""Signed feeds out (docs/data-hub.md "Feeds out"): a webhook signed like a partner request, a
failing receiver (a real local HTTP server) retried with backoff and then pulled, entitlements,
a bank seeing only its own cards, concurrent runners delivering each event once. Both backends."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select

from app.hub.feeds import collect, deliver_due
from app.hub.models import FeedDelivery, FeedEvent
from app.platform.db import db
from scenes.signing import parse_authorization, sign

from ..benefits_support import Benefits
from ..helpers import ApiClient
from .test_partner_admin import cli


class Receiver:
    """A local webhook receiver that answers 500 to the first ``failures`` requests."""

    def __init__(self, failures: int) -> None:
        self.failures, self.received = failures, []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.received.append((self.path, dict(self.headers), body))
                    failing = len(receiver.received) <= receiver.failures
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/card?src=cc"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=2)
    yield server
    server.close()


def run(api: ApiClient, job: Any) -> Any:
    with api.app.app_context():
        return job(api.rt)


def pull(api: ApiClient, partner: dict[str, str], feed: str, after: int = 0) -> Any:
    return api.signed_post(partner, b"", path=f"/api/partner/v1/feeds/{feed}?after={after}", method="GET")


def test_a_failing_receiver_is_retried_with_backoff_and_the_event_is_signed(api: ApiClient, receiver: Receiver) -> None:
    department = api.partner((), name="HRSS", roles=("disburse",))
    assert cli(api, "hub", "subscribe", department["partner_id"], "card_issued", "--url", receiver.url).exit_code == 0
    holder = Benefits(api).holders(1)[0]
    api.clock.advance(10)
    assert run(api, collect) == 1
    assert run(api, deliver_due).retrying == 1
    assert run(api, deliver_due).retrying == 0  # not due before the backoff (30 s)
    api.clock.advance(31)
    assert run(api, deliver_due).retrying == 1  # the second failure: next in 60 s
    api.clock.advance(45)
    assert len(receiver.received) == 2 and run(api, deliver_due).sent == 0
    api.clock.advance(16)
    assert run(api, deliver_due).sent == 1
    assert len(receiver.received) == 3
    path, headers, body = receiver.received[-1]
    assert path == "/hooks/card?src=cc"
    params = parse_authorization(headers["Authorization"])
    assert params["partner_id"] == department["partner_id"]
    assert params["signature"] == sign(department["secret"], "POST", path, params["timestamp"], params["nonce"], body)
    item = json.loads(body)
    assert item["feed"] == "card_issued" and item["event"]["card_number"] == holder.card_number
    assert set(item["event"]) == {"card_number", "carrier", "at"}  # the minimum fields, no personal data
    assert run(api, deliver_due).sent == 0  # delivered once


def test_a_receiver_that_never_answers_is_given_up_and_the_event_pulled(api: ApiClient) -> None:
    dead = Receiver(failures=10**6)
    try:
        api.app.config["CARD_HUB_WEBHOOK_MAX_ATTEMPTS"] = 3
        department = api.partner((), name="HRSS", roles=("disburse",))
        cli(api, "hub", "subscribe", department["partner_id"], "card_issued", "--url", dead.url)
        holder = Benefits(api).holders(1)[0]
        api.clock.advance(10)
        run(api, collect)
        reports = []
        for _ in range(3):
            reports.append(run(api, deliver_due))
            api.clock.advance(3600)
        assert [(r.retrying, r.failed) for r in reports] == [(1, 0), (1, 0), (0, 1)]
        assert len(dead.received) == 3
        with api.app.app_context():
            assert db.session.scalar(select(FeedDelivery.status)) == "failed"
        pulled = pull(api, department, "card_issued")
        assert pulled.status_code == 200, pulled.json
        assert [item["event"]["card_number"] for item in pulled.json["items"]] == [holder.card_number]
        after = pulled.json["next_after"]
        assert pull(api, department, "card_issued", after).json == {"items": [], "next_after": after}
    finally:
        dead.close()


def test_feeds_are_for_entitled_roles_and_a_bank_sees_its_own_cards(api: ApiClient) -> None:
    from .test_lifecycle import Story

    story = Story(api)
    story.issued()
    other_bank = api.partner((), name="Other bank", roles=("bank",))
    bureau = api.partner((), name="Medical insurance bureau", roles=("medical_insurance",))
    assert story.mp("POST", "/card/physical/loss-report").status_code == 200
    api.clock.advance(10)
    run(api, collect)
    refused = pull(api, bureau, "loss_reported")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "feed_not_entitled"
    assert pull(api, bureau, "nothing").json["error"]["code"] == "feed_unknown"
    issued = pull(api, story.bank, "card_issued").json["items"]
    assert [item["event"]["carrier"] for item in issued] == ["physical"]  # not the e-card binding: no bank of its own
    assert pull(api, other_bank, "card_issued").json["items"] == []
    assert {item["event"]["carrier"] for item in pull(api, bureau, "card_issued").json["items"]} == {"ecard", "physical"}
    losses = [item["event"] for item in pull(api, story.bank, "loss_reported").json["items"]]
    assert [set(event) for event in losses] == [{"card_number", "application_id", "at"}]
    assert pull(api, other_bank, "loss_reported").json["items"] == []
    subscribed = cli(api, "hub", "subscribe", bureau["partner_id"], "loss_reported")
    assert subscribed.exit_code == 1 and "not entitled" in subscribed.output


def test_thirty_two_runners_collect_and_deliver_each_event_once(api: ApiClient, receiver: Receiver) -> None:
    receiver.failures = 0
    department = api.partner((), name="HRSS", roles=("disburse",))
    cli(api, "hub", "subscribe", department["partner_id"], "card_issued", "--url", receiver.url)
    Benefits(api).holders(3)
    api.clock.advance(10)
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda _: run(api, collect), range(32)))
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FeedEvent)) == 3
    with ThreadPoolExecutor(32) as pool:
        sent = sum(report.sent for report in pool.map(lambda _: run(api, deliver_due), range(32)))
    assert sent == 3 and len(receiver.received) == 3
    assert len({json.loads(body)["id"] for _, _, body in receiver.received}) == 3
