"""The data hub through ``citizencard serve`` (gunicorn, 3 workers) on both backends: a death
delivered 32 times at once applies once and cancels the card (the holder's token stops at once),
an out-of-order event changes nothing, and the department pulls the cancellation from its feed
after ``citizencard hub run``."""
from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from scenes.signing import authorization_header
from standins.wechat import WeChatStandIn

from ..helpers import PERSON
from .desk import bound_citizen, desk_server  # noqa: F401 (the fixture)
from .test_gunicorn import Server

pytestmark = pytest.mark.e2e
EVENTS = "/api/partner/v1/citizen-events"


def partner(server: Server, name: str, roles: str) -> dict[str, str]:
    created = server.cli("partner", "create", "--name", name, "--roles", roles, "--json")
    assert created.returncode == 0, created.stderr
    return json.loads(created.stdout)


def signed(server: Server, who: dict[str, str], method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    data = json.dumps(body).encode() if body is not None else b""
    header = authorization_header(who["partner_id"], who["secret"], method, path, data, int(time.time()), secrets.token_hex(12))
    return requests.request(method, server.base + path, data=data, timeout=30,
                            headers={"Authorization": header, "Content-Type": "application/json"})


def event(kind: str, at: str, event_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id or "ev-" + secrets.token_hex(8), "type": kind, "occurred_at": at,
            "id_number": PERSON["id_number"], **fields}


def test_a_death_through_gunicorn_applies_once_and_reaches_the_feed(desk_server: Server, wechat: WeChatStandIn) -> None:  # noqa: F811
    server = desk_server
    bearer = bound_citizen(server, wechat)
    hub, department = partner(server, "City data hub", "data_hub"), partner(server, "HRSS", "disburse")
    assert server.cli("hub", "subscribe", department["partner_id"], "card_cancelled").returncode == 0
    applied = signed(server, hub, "POST", EVENTS, event("insured_changed", "2026-11-02T08:00:00+08:00", insured=False))
    assert applied.status_code == 200 and applied.json()["outcome"] == "applied", applied.text
    stale = signed(server, hub, "POST", EVENTS, event("insured_changed", "2026-11-01T08:00:00+08:00", insured=True))
    assert stale.json()["outcome"] == "stale"

    death = event("death", "2026-11-03T08:00:00+08:00", event_id="ev-death-e2e-1")
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda _: signed(server, hub, "POST", EVENTS, death), range(32)))
    assert {answer.status_code for answer in answers} == {200}, [a.text for a in answers if a.status_code != 200][:2]
    assert sum(not answer.json()["replayed"] for answer in answers) == 1
    assert "card_cancelled" in answers[0].json()["effects"]
    assert requests.get(server.base + "/api/mp/v1/card/carriers", headers=bearer, timeout=30).status_code == 401

    time.sleep(6)  # feed events are collected once their rows have settled (app/hub/feeds.py)
    ran = server.cli("hub", "run")
    assert ran.returncode == 0, ran.stderr
    pulled = signed(server, department, "GET", "/api/partner/v1/feeds/card_cancelled?after=0")
    assert pulled.status_code == 200, pulled.text
    assert [(item["event"]["carrier"], item["event"]["reason"]) for item in pulled.json()["items"]] == [("ecard", "death")]
