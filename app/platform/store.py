"""Short-lived shared state: nonces, the replay ledger, answer caches and counters.

Three implementations of one interface: :class:`RedisStore` (production, ``REDIS_URL``),
:class:`RedisClusterStore` (a Redis Cluster, ``CARD_REDIS_CLUSTER_NODES``) and :class:`SqlStore`
(the embedded default: a table in the app's own database). Every operation is a single atomic step
(Redis ``SET NX``/Lua, SQL ``INSERT ... ON CONFLICT ... RETURNING``), never read-then-write.
Unreachable storage raises :class:`StoreUnavailable`, so callers fail closed.

Keys that one script touches together carry the same hash tag (:func:`hash_tag`, e.g. the
device's ``{<pseudonym>}`` on its one-time mark and on the kept answers of its codes): Redis
Cluster puts them in one slot, so the script stays one atomic step there too (docs/operations.md,
"Redis Cluster"). On one Redis and on SQL a tag is just part of the key's text.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisClusterException
from redis.retry import Retry
from sqlalchemy import Connection, Engine, case, delete, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.platform.clock import Clock
from app.platform.models import KvEntry
from app.platform.sql import upsert_insert

log = logging.getLogger(__name__)

UseOutcome = tuple[str, str | None]


class StoreUnavailable(RuntimeError):
    """The store cannot be reached; the caller must not assume any write happened."""


def hash_tag(value: str) -> str:
    """``{value}``: keys holding the same tag share one Redis Cluster slot (only the text between
    the first ``{`` and the next ``}`` is hashed), so one script may touch them all. ``value`` must
    be non-empty and hold no braces (a pseudonym, ``card:<id>``, ``dgc2:<serial hex>``)."""
    if not value or "{" in value or "}" in value:
        raise ValueError(f"not a hash tag value: {value!r}")
    return "{" + value + "}"


def gate_closed(count: str | None, limit: int) -> bool:
    """Whether a use's gate (:meth:`Store.use_once`) is closed: the counter, as the store answers
    GET (None: absent), is at ``limit`` or over."""
    return int(count or 0) >= limit


class Store(Protocol):
    """The operations the platform needs; ``ttl`` is in seconds."""

    def claim(self, key: str, ttl: int) -> bool:
        """Create ``key`` if absent (SET NX); True if this call created it."""

    def use_once(self, mark_key: str, counter: int, mark_ttl: int, answer_key: str, answer: str, answer_ttl: int,
                 claim: tuple[str, int] | None = None, gate: tuple[str, int] | None = None) -> UseOutcome:
        """One atomic step: if ``answer_key`` holds a value, return ``("earlier", value)``; else raise
        the mark at ``mark_key`` to ``counter`` if that is higher than the mark (``("first", None)``,
        and ``answer`` is stored at ``answer_key``), or leave both alone (``("used", None)``).

        ``claim`` (key, ttl), a request's nonce: claimed first, as :meth:`claim` would; if it was
        taken, nothing else happens and the outcome is ``("claim_taken", None)``.

        ``gate`` (key, limit), a counter that must stay under ``limit`` (a card's wrong passwords,
        app.scanning.guessing): read before anything else; at ``limit`` or over, nothing happens
        and the outcome is ``("gated", None)``. Atomic with the rest where one script can hold
        both (one Redis; on a Redis Cluster only within one slot), else read just before."""

    def get(self, key: str) -> str | None:
        """The value at ``key``, or None."""

    def put(self, key: str, value: str, ttl: int) -> None:
        """Set ``key`` to ``value``."""

    def incr(self, key: str, ttl: int, at_least: int = 1) -> int:
        """Add one to the counter at ``key`` and return it, raised to ``at_least`` if it is lower
        (the window starts at the first increment)."""

    def uncount(self, key: str) -> None:
        """Take one back from the live counter at ``key`` (an attempt counted first that turned out
        fine), never below zero; nothing if the counter is absent or expired."""

    def count_together(self, counts: list[tuple[str, int]]) -> list[int]:
        """Count one more (:meth:`incr`) at each ``(key, ttl_seconds)`` in one atomic step (one round trip): no other
        count of these keys falls between them, so a limit can decide on both values.

        On a Redis Cluster that holds only for keys with one hash tag (:func:`hash_tag`); keys in
        different slots are counted one slot after the other, each count still atomic and unique,
        so a limit must hold on each count alone (as app.scanning.chip_reads's do)."""

    def ping(self) -> None:
        """One harmless round trip; raises :class:`StoreUnavailable` if the store does not answer."""

    def describe(self) -> str:
        """Which store this is and where, for the operator: never a password."""


# KEYS: mark, answer[, claim][, gate]; ARGV: counter, mark_ttl, answer, answer_ttl[, claim ttl or ''][, gate limit]
USE_ONCE_LUA = """
if #ARGV == 6 and tonumber(redis.call('GET', KEYS[#KEYS]) or '0') >= tonumber(ARGV[6]) then return {'gated'} end
if ARGV[5] and ARGV[5] ~= '' and not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[5]) then return {'claim_taken'} end
local earlier = redis.call('GET', KEYS[2])
if earlier then return {'earlier', earlier} end
local last = redis.call('GET', KEYS[1])
if last and tonumber(last) >= tonumber(ARGV[1]) then return {'used'} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
return {'first'}
"""

INCR_LUA = """
local n = redis.call('INCR', KEYS[1])
local fresh = n == 1
local floor = tonumber(ARGV[2])
if n < floor then n = floor; redis.call('SET', KEYS[1], n, 'KEEPTTL') end
if fresh then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

UNCOUNT_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(redis.call('GET', KEYS[1])) > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""


COUNT_TOGETHER_LUA = """
local counts = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[i]) end
  counts[i] = n
end
return counts
"""


class RedisStore:
    """The store on Redis; keys are prefixed with ``prefix``."""

    def __init__(self, client: redis.Redis, prefix: str = "cc:") -> None:
        self.client = client
        self.prefix = prefix
        self._use_once = client.register_script(USE_ONCE_LUA)
        self._incr = client.register_script(INCR_LUA)
        self._uncount = client.register_script(UNCOUNT_LUA)
        self._count_together = client.register_script(COUNT_TOGETHER_LUA)

    @classmethod
    def from_url(cls, url: str, prefix: str = "cc:") -> RedisStore:
        """The store on the Redis at ``url`` (2 s socket timeouts)."""
        client = redis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30,
            decode_responses=True,
        )
        return cls(client, prefix)

    def claim(self, key: str, ttl: int) -> bool:
        return bool(self._call(self.client.set, self.prefix + key, "1", nx=True, ex=ttl))

    def use_once(self, mark_key: str, counter: int, mark_ttl: int, answer_key: str, answer: str, answer_ttl: int,
                 claim: tuple[str, int] | None = None, gate: tuple[str, int] | None = None) -> UseOutcome:
        keys, args = [self.prefix + mark_key, self.prefix + answer_key], [counter, mark_ttl, answer, answer_ttl]
        if claim is not None:
            keys.append(self.prefix + claim[0])
            args.append(claim[1])
        if gate is not None:
            if claim is None:
                args.append("")  # ARGV[5], the claim's ttl: none
            keys.append(self.prefix + gate[0])
            args.append(gate[1])
        reply = self._call(self._use_once, keys=keys, args=args)
        return reply[0], (reply[1] if len(reply) > 1 else None)

    def get(self, key: str) -> str | None:
        return self._call(self.client.get, self.prefix + key)

    def put(self, key: str, value: str, ttl: int) -> None:
        self._call(self.client.set, self.prefix + key, value, ex=ttl)

    def incr(self, key: str, ttl: int, at_least: int = 1) -> int:
        return int(self._call(self._incr, keys=[self.prefix + key], args=[ttl, at_least]))

    def uncount(self, key: str) -> None:
        self._call(self._uncount, keys=[self.prefix + key])

    def count_together(self, counts: list[tuple[str, int]]) -> list[int]:
        reply = self._call(self._count_together, keys=[self.prefix + key for key, _ in counts], args=[ttl for _, ttl in counts])
        return [int(n) for n in reply]

    def ping(self) -> None:
        self._call(self.client.ping)

    def describe(self) -> str:
        """``redis at host:port (REDIS_URL)`` (or its socket path), from the client's connection settings."""
        settings = self.client.connection_pool.connection_kwargs
        where = settings.get("path") or f"{settings.get('host', 'localhost')}:{settings.get('port', 6379)}"
        return f"redis at {where} (REDIS_URL)"

    @staticmethod
    def _call(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return func(*args, **kwargs)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc


def cluster_nodes(setting: str) -> list[tuple[str, int]]:
    """``"10.0.0.1:7000,10.0.0.2:7000"`` (``CARD_REDIS_CLUSTER_NODES``) as (host, port) pairs;
    ValueError naming the entry that is not ``host:port`` (port 1-65535)."""
    nodes = []
    for entry in filter(None, (part.strip() for part in setting.split(","))):
        host, _, port = entry.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")  # [::1]:7000
        if not host or " " in host or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"{entry!r} is not host:port")
        nodes.append((host, int(port)))
    if not nodes:
        raise ValueError("no host:port listed")
    return nodes


class RedisClusterStore(RedisStore):
    """The store on a Redis Cluster (redis-py :class:`~redis.cluster.RedisCluster`).

    Each script runs on the one node that owns its keys' slot, so a script's keys must share a
    hash tag (:func:`hash_tag`); two steps differ from :class:`RedisStore`, where the keys cannot:

    - :meth:`use_once`: the mark and the answer share the device's tag and stay one script; the
      request's nonce (``nonce:<partner>:<nonce>``, single-use per partner whatever the body, so
      it cannot carry a card's tag) is claimed first, on its own node, with ``SET NX``. The
      guarantees hold: a taken nonce still stops everything (nothing else is done), the mark is
      still raised at most once per moving factor in one atomic step, and no code is used
      without its nonce claimed. The one difference: if the store fails between the two steps
      the nonce is spent although the code was not used; the request then answered 503, and
      partners retry a 503 with a new nonce (docs/partner-api.md). One more round trip.
    - :meth:`count_together`: keys of one slot in one script, slot after slot (see the protocol).

    A node that fails raises :class:`StoreUnavailable` (503) until its replica has taken over;
    redis-py then finds the new owner of the slot by itself (MOVED, topology refresh). Should the
    client still fail :attr:`REMAKE_AFTER` seconds after its first error (once, under load, one
    stayed on the dead node for a minute after the failover; the cause was not found), it is made
    again from the listed nodes, at most that often (docs/operations.md, "Redis Cluster")."""

    _MADE_AT_FIRST_USE = ("client", "_use_once", "_incr", "_uncount", "_count_together")
    REMAKE_AFTER = 5.0  # seconds from a client's first error to making it again (a failover takes 2-5 s)
    ERRORS_FORGOTTEN_AFTER = 60.0  # seconds: a lone error this old does not count towards a remake

    def __init__(self, nodes: list[tuple[str, int]], prefix: str = "cc:") -> None:
        """``nodes``: (host, port) of some of the cluster's nodes. The client comes at first use."""
        self.nodes, self.prefix = nodes, prefix
        self._lock = threading.RLock()
        self._erring_since: float | None = None  # monotonic time of the client's first recent error

    @classmethod
    def from_nodes(cls, setting: str, prefix: str = "cc:") -> RedisClusterStore:
        """The store on the cluster that the ``host:port`` list ``setting`` belongs to (any of its
        nodes will do; the client learns the rest from them). Connects at the first command, so an
        app starts while the cluster is down (and answers 503 until it is up), as on one Redis."""
        return cls(cluster_nodes(setting), prefix)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        """The client and its scripts, made at first use (RedisCluster connects when made)."""
        if name not in self._MADE_AT_FIRST_USE:
            raise AttributeError(name)
        with self._lock:
            if "client" not in self.__dict__:
                RedisStore.__init__(self, self._call(self._connect), self.prefix)  # type: ignore[arg-type]
        return self.__dict__[name]

    def _connect(self) -> RedisCluster:
        """Socket timeouts of 2 s as on one Redis, and 3 quick retries (50-400 ms apart) of a failed
        command: a request during a failover answers 503 within seconds instead of waiting."""
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in self.nodes],
            socket_timeout=2.0, socket_connect_timeout=2.0, decode_responses=True,
            retry=Retry(ExponentialBackoff(cap=0.4, base=0.05), 3),
        )

    def use_once(self, mark_key: str, counter: int, mark_ttl: int, answer_key: str, answer: str, answer_ttl: int,
                 claim: tuple[str, int] | None = None, gate: tuple[str, int] | None = None) -> UseOutcome:
        """As :meth:`RedisStore.use_once`; a gate outside the mark's slot, or before a claim outside
        it, is read first on its own; then such a claim is claimed on its own."""
        slot = self.slot(mark_key)
        if self.slot(answer_key) != slot:
            raise ValueError(f"use_once: {mark_key!r} and {answer_key!r} must share a hash tag")
        claim_apart = claim is not None and self.slot(claim[0]) != slot
        if gate is not None and (claim_apart or self.slot(gate[0]) != slot):
            if gate_closed(self.get(gate[0]), gate[1]):
                return "gated", None
            gate = None
        if claim_apart:
            if not self.claim(*claim):
                return "claim_taken", None
            claim = None
        return super().use_once(mark_key, counter, mark_ttl, answer_key, answer, answer_ttl, claim, gate)

    def count_together(self, counts: list[tuple[str, int]]) -> list[int]:
        """One script per slot, in the order the slots first appear; each count atomic."""
        by_slot: dict[int, list[int]] = {}
        for position, (key, _) in enumerate(counts):
            by_slot.setdefault(self.slot(key), []).append(position)
        results = [0] * len(counts)
        for positions in by_slot.values():
            for position, n in zip(positions, super().count_together([counts[i] for i in positions]), strict=True):
                results[position] = n
        return results

    def slot(self, key: str) -> int:
        """The cluster slot of the store's ``key`` (with the prefix), 0-16383."""
        return key_slot((self.prefix + key).encode())

    def ping(self) -> None:
        """PING every primary: one that does not answer (a failover under way) raises StoreUnavailable."""
        self._call(self.client.ping, target_nodes=RedisCluster.PRIMARIES)

    def describe(self) -> str:
        """``redis cluster at host:port,... (CARD_REDIS_CLUSTER_NODES)``: the nodes it was given."""
        return f"redis cluster at {','.join(f'{host}:{port}' for host, port in self.nodes)} (CARD_REDIS_CLUSTER_NODES)"

    def _call(self, func, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return func(*args, **kwargs)
        except (redis.RedisError, RedisClusterException) as exc:  # e.g. no node reachable at all
            self._erred()
            raise StoreUnavailable(f"redis cluster: {type(exc).__name__}") from exc

    def _erred(self) -> None:
        """Note a failed command: one that fails :attr:`REMAKE_AFTER` seconds or more after the first
        error of the last :attr:`ERRORS_FORGOTTEN_AFTER` seconds forgets the client and its scripts,
        so the next command makes them again from :attr:`nodes` (fresh slots and connections).
        Successes in between do not reset it: during a failover the healthy nodes keep answering
        while the dead one's slots fail. The old client is left to the commands still running on it
        (closing it would fail them) and to the garbage collector."""
        now = time.monotonic()
        with self._lock:
            if self._erring_since is None or now - self._erring_since > self.ERRORS_FORGOTTEN_AFTER:
                self._erring_since = now
            elif now - self._erring_since >= self.REMAKE_AFTER and "client" in self.__dict__:
                log.warning("redis cluster: errors for %.1f s; the client is made again from %s",
                            now - self._erring_since, self.describe())
                for name in self._MADE_AT_FIRST_USE:
                    self.__dict__.pop(name, None)
                self._erring_since = None


class SqlStore:
    """The store on the app's database (table ``kv_entries``), for the zero-setup default.

    Each call runs in its own short transaction, independent of the caller's session.
    Expired rows are treated as absent and purged now and then.
    """

    PURGE_ONE_IN = 500

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        upsert_insert(engine.dialect.name, KvEntry)  # refuses an unsupported database now

    def _insert(self, table: type[KvEntry]):  # type: ignore[no-untyped-def]
        return upsert_insert(self.engine.dialect.name, table)

    def claim(self, key: str, ttl: int) -> bool:
        now = self.clock.time()
        stmt = self._insert(KvEntry).values(key=key, expires_at=now + ttl)
        stmt = stmt.on_conflict_do_update(
            index_elements=[KvEntry.key],
            set_={"expires_at": stmt.excluded.expires_at, "value": None, "counter": None},
            where=KvEntry.expires_at <= now,
        )
        return self._returns_row(stmt.returning(KvEntry.key))

    def use_once(self, mark_key: str, counter: int, mark_ttl: int, answer_key: str, answer: str, answer_ttl: int,
                 claim: tuple[str, int] | None = None, gate: tuple[str, int] | None = None) -> UseOutcome:
        """The same steps as on Redis; the claim and the mark are each atomic, which is what the
        nonce and the one-time rule need (the gate read before them and the answer write after
        them are not part of that guarantee)."""
        if gate is not None and gate_closed(self.get(gate[0]), gate[1]):
            return "gated", None
        if claim is not None and not self.claim(*claim):
            return "claim_taken", None
        earlier = self.get(answer_key)
        if earlier is not None:
            return "earlier", earlier
        if not self._advance(mark_key, counter, mark_ttl):
            return "used", None
        self.put(answer_key, answer, answer_ttl)
        return "first", None

    def _advance(self, key: str, counter: int, ttl: int) -> bool:
        now = self.clock.time()
        stmt = self._insert(KvEntry).values(key=key, counter=counter, expires_at=now + ttl)
        stmt = stmt.on_conflict_do_update(
            index_elements=[KvEntry.key],
            set_={"counter": stmt.excluded.counter, "expires_at": stmt.excluded.expires_at},
            where=(KvEntry.counter < stmt.excluded.counter) | (KvEntry.expires_at <= now),
        )
        return self._returns_row(stmt.returning(KvEntry.key))

    def get(self, key: str) -> str | None:
        """The value, or a counter as text (as Redis answers GET on an INCR key)."""
        query = select(KvEntry.value, KvEntry.counter).where(
            KvEntry.key == key, KvEntry.expires_at > self.clock.time()
        )
        with self._connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return row.value if row.value is not None else str(row.counter)

    def put(self, key: str, value: str, ttl: int) -> None:
        stmt = self._insert(KvEntry).values(key=key, value=value, expires_at=self.clock.time() + ttl)
        stmt = stmt.on_conflict_do_update(
            index_elements=[KvEntry.key],
            set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at},
        )
        with self._connect() as conn:
            conn.execute(stmt)

    def incr(self, key: str, ttl: int, at_least: int = 1) -> int:
        with self._connect() as conn:
            return int(conn.execute(self._incr_statement(key, ttl, at_least)).scalar_one())

    def _incr_statement(self, key: str, ttl: int, at_least: int = 1):  # type: ignore[no-untyped-def]
        """``INSERT ... ON CONFLICT DO UPDATE ... RETURNING counter``: one atomic count."""
        now = self.clock.time()
        stmt = self._insert(KvEntry).values(key=key, counter=at_least, expires_at=now + ttl)
        expired = KvEntry.expires_at <= now
        stmt = stmt.on_conflict_do_update(
            index_elements=[KvEntry.key],
            set_={
                "counter": case((expired, at_least), (KvEntry.counter + 1 < at_least, at_least), else_=KvEntry.counter + 1),
                "expires_at": case((expired, stmt.excluded.expires_at), else_=KvEntry.expires_at),
            },
        )
        return stmt.returning(KvEntry.counter)

    def uncount(self, key: str) -> None:
        stmt = (update(KvEntry).where(KvEntry.key == key, KvEntry.counter > 0, KvEntry.expires_at > self.clock.time())
                .values(counter=KvEntry.counter - 1))
        with self._connect() as conn:
            conn.execute(stmt)

    def count_together(self, counts: list[tuple[str, int]]) -> list[int]:
        """One transaction; its first upsert locks the first key's row until it commits, so counts of
        the same keys in the same order are serialised (SQLite: one writer at a time anyway)."""
        with self._connect() as conn:
            return [int(conn.execute(self._incr_statement(key, ttl)).scalar_one()) for key, ttl in counts]

    def ping(self) -> None:
        with self._connect() as conn:
            conn.execute(select(1))

    def describe(self) -> str:
        return "embedded (table kv_entries in the app's database)"

    def purge(self) -> int:
        """Delete expired rows; returns how many."""
        with self._connect() as conn:
            return conn.execute(delete(KvEntry).where(KvEntry.expires_at <= self.clock.time())).rowcount

    def _returns_row(self, stmt) -> bool:  # type: ignore[no-untyped-def]
        if random.randrange(self.PURGE_ONE_IN) == 0:
            self.purge()
        with self._connect() as conn:
            return conn.execute(stmt).first() is not None

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except (OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"database: {type(exc).__name__}") from exc
