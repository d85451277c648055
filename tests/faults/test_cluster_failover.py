"""A Redis Cluster primary dies under load (docs/operations.md, "Redis Cluster").

Six gates verify codes on the app as deployed with ``CARD_REDIS_CLUSTER_NODES`` (a private
6-node cluster, tests/faults/servers.py PrivateCluster, and the private PostgreSQL). The primary
that holds the first gate's device is SIGKILLed; until its replica has taken over (the cluster's
node timeout, 2 s, and an election) the requests whose keys it served answer 503 with the
store-down envelope, then they succeed again by themselves: no restart, no new app. No code is
accepted twice, although the replica may have missed the last writes of the dead primary
(replication is asynchronous): the durable ledger (the unique ``use_key``) stands behind it.
"""
from __future__ import annotations

import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from app import create_app
from app.platform.clock import FrozenClock
from qr import payload, replay
from standins.wechat import WeChatStandIn

from ..conftest import APP_SECRET, APPID
from ..helpers import ApiClient, dispose
from .conftest import Servers
from .servers import PrivateCluster
from .test_outages import Gate, _roster_people, answer, assert_unavailable, records

pytestmark = [pytest.mark.faults, pytest.mark.cluster, pytest.mark.timeout(180)]

FAILOVER_SECONDS = 30  # a replica must have taken over by then (node timeout 2 s)


@pytest.fixture
def cluster_app(servers: Servers, private_cluster: PrivateCluster, clock: FrozenClock,
                wechat: WeChatStandIn) -> Iterator[Any]:
    """The app on the private PostgreSQL and the private cluster (all six nodes listed), its keys
    under a prefix of its own (each test starts on fresh keys)."""
    private_cluster.start()  # a node killed by an earlier test comes back as a replica
    app = create_app({
        "TESTING": True, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET,
        "CARD_WECHAT_API_BASE": wechat.base_url, "SQLALCHEMY_DATABASE_URI": servers.postgres.url,
        "REDIS_URL": None, "CARD_REDIS_CLUSTER_NODES": private_cluster.nodes,
        "CARD_REDIS_PREFIX": f"cc:{time.monotonic_ns()}:",
    }, clock=clock)
    yield app
    dispose(app)
    private_cluster.start()


def _wait_for_takeover(cluster: PrivateCluster, key: str, dead: int) -> float:
    """Seconds until another node serves ``key``'s slot."""
    started = time.monotonic()
    while time.monotonic() - started < FAILOVER_SECONDS:
        if cluster.primary_of(key) != dead:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"no replica took over from port {dead} in {FAILOVER_SECONDS} s")


def test_a_primary_killed_under_load_answers_503_until_its_replica_takes_over_and_doubles_nothing(
        servers: Servers, private_cluster: PrivateCluster, cluster_app: Any, wechat: WeChatStandIn,
        clock: FrozenClock) -> None:
    api = ApiClient(cluster_app, wechat, clock)
    api.import_sample_roster()
    partner = api.partner()
    tokens = []
    for n, person in enumerate(_roster_people()[:6]):
        tokens.append(api.login(f"failover-{n}"))
        assert api.bind(tokens[-1], person).status_code == 200
    before = api.code(tokens[0])
    first = api.verify(partner, before, "gate-40")
    assert answer(first) == (True, None, False)
    mark = cluster_app.extensions["citizencard"].store.prefix + replay.ledger_key(payload.parse(before).pseudonym)
    primary = private_cluster.primary_of(mark)

    go, stop, log = threading.Event(), threading.Event(), []  # type: ignore[var-annotated]
    go.set()
    gates = [Gate(n, cluster_app, api, token, partner, go, stop, log) for n, token in enumerate(tokens)]
    for gate in gates:
        gate.start()
    time.sleep(0.5)
    killed = time.monotonic()
    private_cluster.kill(primary)
    takeover = _wait_for_takeover(private_cluster, mark, primary)
    time.sleep(1.5)  # the gates keep going on the new primary
    stop.set()
    for gate in gates:
        gate.join(timeout=90)
    for gate in gates:
        assert gate.failure is None, "".join(traceback.format_exception(gate.failure))

    after_kill = [response for sent, _, _, _, response in log if sent >= killed]
    summary = {"takeover seconds": round(takeover, 1), "requests": Counter((kind, response.status_code) for _, _, _, kind, response in log),
               "503 after the kill": sum(response.status_code == 503 for response in after_kill),
               "refusals": Counter(response.json["reason"] for _, _, _, kind, response in log
                                   if kind == "verify" and response.status_code == 200 and response.json["reason"])}
    print(summary)
    assert summary["503 after the kill"] > 0, summary  # the dead primary's keys: 503, the store-down envelope
    for response in after_kill:
        if response.status_code == 503:
            assert_unavailable(response)
    assert all(gate.last_status == 200 for gate in gates), summary  # every gate recovered by itself
    assert summary["requests"][("verify", 200)] > 0, summary

    verified = [response.json for _, _, _, kind, response in log if kind == "verify" and response.status_code == 200]
    rows = {row[0]: row for row in records(servers)}
    answered = {body["verification_id"] for body in verified} | {first.json["verification_id"]}
    assert answered == set(rows), "every answer recorded exactly once, no record without an answer"
    first_acceptances = [body["verification_id"] for body in verified if body["accepted"] and not body["duplicate"]]
    assert len(first_acceptances) == len(set(first_acceptances)) == sum(row[2] for row in rows.values()) - 1  # - ``before``
    assert all(rows[body["verification_id"]][2] for body in verified if body["accepted"])
    accepted_use_keys = [row[4] for row in rows.values() if row[2]]
    assert len(accepted_use_keys) == len(set(accepted_use_keys)), "nothing accepted twice"
    # The code accepted before the kill, whatever the new primary kept of its mark, is used; a new
    # code of that device (its mark on the new primary) is accepted once.
    assert answer(api.verify(partner, before, "gate-41")) == (False, "code_used", False)
    after = api.code(tokens[0])
    assert answer(api.verify(partner, after, "gate-42")) == (True, None, False)
    assert answer(api.verify(partner, after, "gate-43")) == (False, "code_used", False)
