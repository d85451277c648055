"""The store on its four backends: SQL on SQLite, SQL on PostgreSQL, Redis, a Redis Cluster.

A script's keys share a hash tag (``{dev}`` here, a device's pseudonym in the app), as the
cluster needs; the same tests run on every backend."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from redis.cluster import ClusterNode
from sqlalchemy import create_engine

from app.platform.clock import FrozenClock
from app.platform.models import Base
from app.platform.store import RedisClusterStore, RedisStore, SqlStore, Store, StoreUnavailable, hash_tag

MARK, ANSWER = "replay:{dev}", "answer:{dev}:"


@pytest.fixture(params=["sql-sqlite", "sql-postgresql", "redis", pytest.param("redis-cluster", marks=pytest.mark.cluster)])
def store(request: pytest.FixtureRequest, tmp_path, clock: FrozenClock) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    if request.param == "redis":
        yield RedisStore.from_url(request.getfixturevalue("redis_url"))
        return
    if request.param == "redis-cluster":
        yield RedisClusterStore.from_nodes(request.getfixturevalue("redis_cluster"), request.getfixturevalue("cluster_prefix"))
        return
    url = request.getfixturevalue("pg_url") if request.param == "sql-postgresql" else f"sqlite:///{tmp_path}/s.sqlite"
    engine = create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM kv_entries")
    yield SqlStore(engine, clock)
    engine.dispose()


def test_claim_is_set_if_absent(store: Store) -> None:
    assert store.claim("k", 60) is True
    assert store.claim("k", 60) is False


def use(store: Store, counter: int, answer_key: str = "a") -> tuple[str, str | None]:
    return store.use_once(MARK, counter, 60, f"{ANSWER}{answer_key}{counter}", f"answer {counter}", 60)


def test_use_once_accepts_only_a_higher_mark_and_keeps_the_answer(store: Store) -> None:
    assert use(store, 10) == ("first", None)
    assert use(store, 10) == ("earlier", "answer 10")  # the same answer key: a re-read
    assert use(store, 10, answer_key="other-terminal") == ("used", None)
    assert use(store, 9) == ("used", None)
    assert store.get(ANSWER + "a9") is None  # a refused use stores no answer
    assert use(store, 11) == ("first", None)


def test_use_once_claims_a_nonce_first_and_does_nothing_else_when_it_was_taken(store: Store) -> None:
    """On a cluster the nonce (no tag: another slot) is claimed by its own SET NX first."""
    a10, a11 = ANSWER + "a10", ANSWER + "a11"
    assert store.use_once(MARK, 10, 60, a10, "answer", 60, claim=("nonce-1", 60)) == ("first", None)
    assert store.claim("nonce-1", 60) is False  # claimed by the use
    assert store.use_once(MARK, 11, 60, a11, "answer", 60, claim=("nonce-1", 60)) == ("claim_taken", None)
    assert store.get(a11) is None  # no answer kept, and the mark was not raised:
    assert store.use_once(MARK, 11, 60, a11, "answer", 60, claim=("nonce-2", 60)) == ("first", None)
    assert store.use_once(MARK, 11, 60, a11, "answer", 60, claim=("nonce-3", 60)) == ("earlier", "answer")
    assert store.claim("nonce-3", 60) is False  # a re-read claims its nonce too


@pytest.mark.parametrize("gate_key", ["failures:{dev}", "failures:{card:7}"], ids=["same-slot", "other-slot"])
def test_use_once_does_nothing_while_its_gate_is_closed(store: Store, gate_key: str) -> None:
    """The gate (a card's wrong-password count, app.scanning.guessing) is read before the claim and
    the mark: at its limit nothing is claimed, raised or kept. On a cluster a gate in another slot
    is read on its own first."""
    for _ in range(2):
        store.incr(gate_key, 60)
    a10, a11 = ANSWER + "a10", ANSWER + "a11"
    assert store.use_once(MARK, 10, 60, a10, "answer", 60, gate=(gate_key, 3)) == ("first", None)  # 2 < 3
    store.incr(gate_key, 60)
    assert store.use_once(MARK, 11, 60, a11, "answer", 60, claim=("nonce-g", 60), gate=(gate_key, 3)) == ("gated", None)
    assert store.get(a11) is None and store.claim("nonce-g", 60) is True  # nothing kept, the nonce left unclaimed
    assert store.use_once(MARK, 11, 60, a11, "answer", 60, gate=(gate_key, 3)) == ("gated", None)
    assert store.use_once(MARK, 11, 60, a11, "answer", 60, claim=("nonce-h", 60), gate=(gate_key, 4)) == ("first", None)
    assert store.claim("nonce-h", 60) is False  # an open gate: the claim and the mark as without one
    assert store.use_once(MARK, 11, 60, ANSWER + "other", "answer", 60, gate=("absent:{dev}", 1)) == ("used", None)


def test_incr_raises_a_counter_to_at_least(store: Store) -> None:
    assert store.incr("fresh", 60, at_least=4) == 4
    assert store.incr("fresh", 60) == 5
    assert store.incr("fresh", 60, at_least=3) == 6
    assert store.incr("fresh", 60, at_least=10) == 10
    assert store.get("fresh") == "10"


def test_put_get_and_incr(store: Store) -> None:
    assert store.get("absent") is None
    store.put("v", "hello", 60)
    assert store.get("v") == "hello"
    assert [store.incr("c", 60) for _ in range(3)] == [1, 2, 3]
    assert store.get("c") == "3"


def test_incr_is_atomic_under_32_concurrent_counts(store: Store) -> None:
    barrier = threading.Barrier(32)

    def attempt(_: int) -> int:
        barrier.wait()
        return store.incr("count-race", 60)

    with ThreadPoolExecutor(32) as pool:
        assert sorted(pool.map(attempt, range(32))) == list(range(1, 33))
    assert store.get("count-race") == "32"


def test_count_together_never_lets_another_count_fall_between_its_keys(store: Store) -> None:
    barrier = threading.Barrier(32)

    def attempt(_: int) -> list[int]:
        barrier.wait()
        return store.count_together([("pair:{card:1}:a", 60), ("pair:{card:1}:b", 120)])

    with ThreadPoolExecutor(32) as pool:
        pairs = list(pool.map(attempt, range(32)))
    assert all(a == b for a, b in pairs) and sorted(a for a, _ in pairs) == list(range(1, 33))


def test_count_together_across_slots_still_counts_each_key_atomically(store: Store) -> None:
    """Keys without one hash tag (e.g. a card's and a terminal's chip-read counts): on a cluster
    they live on different nodes, and each count must still be atomic and unique."""
    barrier = threading.Barrier(32)

    def attempt(_: int) -> list[int]:
        barrier.wait()
        return store.count_together([("chip:card", 60), ("chip:terminal", 120), ("chip:{card:1}", 60)])

    with ThreadPoolExecutor(32) as pool:
        triples = list(pool.map(attempt, range(32)))
    for position in range(3):
        assert sorted(triple[position] for triple in triples) == list(range(1, 33))
    assert store.get("chip:terminal") == "32"


def test_concurrent_uses_of_one_mark_succeed_once(store: Store) -> None:
    barrier = threading.Barrier(20)

    def attempt(n: int) -> bool:
        barrier.wait()
        return store.use_once("replay:{race}", 42, 60, f"answer:{{race}}:terminal-{n}", "x", 60)[0] == "first"

    with ThreadPoolExecutor(20) as pool:
        assert sum(pool.map(attempt, range(20))) == 1


def test_concurrent_claims_succeed_once(store: Store) -> None:
    barrier = threading.Barrier(20)

    def attempt(_: int) -> bool:
        barrier.wait()
        return store.claim("race-claim", 60)

    with ThreadPoolExecutor(20) as pool:
        assert sum(pool.map(attempt, range(20))) == 1


def test_sql_store_entries_expire_with_the_clock(tmp_path, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path}/e.sqlite")
    Base.metadata.create_all(engine)
    store = SqlStore(engine, clock)
    store.claim("n", 10)
    store.use_once("m", 5, 10, "a", "x", 10)
    store.incr("c", 10)
    clock.advance(11)
    assert store.claim("n", 10) is True
    assert store.use_once("m", 1, 10, "b", "x", 10) == ("first", None)  # an expired mark no longer blocks
    assert store.incr("c", 10) == 1
    assert store.purge() == 1  # the first answer "a", set before the clock moved
    clock.advance(11)
    assert store.purge() == 4


def test_redis_down_raises_store_unavailable() -> None:
    store = RedisStore(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    with pytest.raises(StoreUnavailable):
        store.use_once("m", 1, 10, "a", "x", 10)


def test_a_cluster_that_cannot_be_reached_raises_store_unavailable_and_is_described_without_connecting() -> None:
    store = RedisClusterStore.from_nodes("127.0.0.1:1, [::1]:2")
    assert store.describe() == "redis cluster at 127.0.0.1:1,::1:2 (CARD_REDIS_CLUSTER_NODES)"
    for call in (lambda: store.get("k"), lambda: store.use_once(MARK, 1, 10, ANSWER + "a", "x", 10), store.ping):
        with pytest.raises(StoreUnavailable):
            call()


def test_on_a_cluster_the_keys_of_one_script_must_share_a_hash_tag() -> None:
    store = RedisClusterStore.from_nodes("127.0.0.1:1")
    with pytest.raises(ValueError, match="must share a hash tag"):  # a programming error, before any round trip
        store.use_once("replay:dev", 1, 10, "answer:other", "x", 10)
    assert store.slot("replay:" + hash_tag("MFRGGZDFMZTWQ2LK")) == store.slot("answer:{MFRGGZDFMZTWQ2LK}:0a1b")
    with pytest.raises(ValueError):
        hash_tag("a}b")


@pytest.mark.cluster
def test_a_cluster_client_that_keeps_failing_is_made_again_from_the_listed_nodes(
        redis_cluster: str, cluster_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client stuck on a node that is gone (its slot map points there and it never refreshes:
    seen once under load after a failover) is made again REMAKE_AFTER seconds after its first
    error, although commands on healthy slots succeed meanwhile; then the stuck slot answers."""
    monkeypatch.setattr(RedisClusterStore, "REMAKE_AFTER", 0.3)
    store = RedisClusterStore.from_nodes(redis_cluster, cluster_prefix)
    stuck, healthy = "k{stuck}", next(f"k{{{n}}}" for n in range(100) if store.slot(f"k{{{n}}}") != store.slot("k{stuck}"))
    assert store.get(stuck) is None  # the client is made, with the slot map of the cluster
    stuck_client = store.client
    stuck_client.nodes_manager._run_requested_refresh = lambda *args, **kwargs: None  # never refreshes
    gone = ClusterNode("127.0.0.1", 1)  # nothing listens on port 1
    stuck_client.nodes_manager.slots_cache[store.slot(stuck)] = [gone]
    with pytest.raises(StoreUnavailable):
        store.get(stuck)
    assert store.get(healthy) is None  # healthy slots answer meanwhile (and do not reset the count)
    time.sleep(0.35)
    with pytest.raises(StoreUnavailable):  # the failure that makes the client again
        store.get(stuck)
    store.put(stuck, "w", 60)  # the stuck slot answers again, on the new client
    assert store.get(stuck) == "w"
    assert store.client is not stuck_client
    with pytest.raises(redis.ConnectionError):  # the old client is still stuck: the new one answered
        stuck_client.get(cluster_prefix + stuck)
