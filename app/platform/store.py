"""Short-lived shared state: nonces, the replay ledger, answer caches and counters.

Two implementations of one interface: :class:`RedisStore` (production, ``REDIS_URL``) and
:class:`SqlStore` (the embedded default: a table in the app's own database). Every operation is a
single atomic step (Redis ``SET NX``/Lua, SQL ``INSERT ... ON CONFLICT ... RETURNING``), never
read-then-write. Unreachable storage raises :class:`StoreUnavailable`, so callers fail closed.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import redis
from sqlalchemy import Connection, Engine, case, delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.platform.clock import Clock
from app.platform.models import KvEntry
from app.platform.sql import upsert_insert

UseOutcome = tuple[str, str | None]


class StoreUnavailable(RuntimeError):
    """The store cannot be reached; the caller must not assume any write happened."""


class Store(Protocol):
    """The operations the platform needs; ``ttl`` is in seconds."""

    def claim(self, key: str, ttl: int) -> bool:
        """Create ``key`` if absent (SET NX); True if this call created it."""

    def use_once(self, mark_key: str, counter: int, mark_ttl: int, answer_key: str, answer: str, answer_ttl: int,
                 claim: tuple[str, int] | None = None) -> UseOutcome:
        """One atomic step: if ``answer_key`` holds a value, return ``("earlier", value)``; else raise
        the mark at ``mark_key`` to ``counter`` if that is higher than the mark (``("first", None)``,
        and ``answer`` is stored at ``answer_key``), or leave both alone (``("used", None)``).

        ``claim`` (key, ttl), a request's nonce: claimed first, as :meth:`claim` would; if it was
        taken, nothing else happens and the outcome is ``("claim_taken", None)``."""

    def get(self, key: str) -> str | None:
        """The value at ``key``, or None."""

    def put(self, key: str, value: str, ttl: int) -> None:
        """Set ``key`` to ``value``."""

    def incr(self, key: str, ttl: int, at_least: int = 1) -> int:
        """Add one to the counter at ``key`` and return it, raised to ``at_least`` if it is lower
        (the window starts at the first increment)."""

    def count(self, key: str, ttl_seconds: int) -> int:
        """Count one more at ``key`` and return the new count, in one atomic step (the window of
        ``ttl_seconds`` starts at the first count). A limit counts first, then decides on this."""

    def ping(self) -> None:
        """One harmless round trip; raises :class:`StoreUnavailable` if the store does not answer."""

    def describe(self) -> str:
        """Which store this is and where, for the operator: never a password."""


USE_ONCE_LUA = """
if #KEYS == 3 and not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[5]) then return {'claim_taken'} end
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


class RedisStore:
    """The store on Redis; keys are prefixed with ``prefix``."""

    def __init__(self, client: redis.Redis, prefix: str = "cc:") -> None:
        self.client = client
        self.prefix = prefix
        self._use_once = client.register_script(USE_ONCE_LUA)
        self._incr = client.register_script(INCR_LUA)

    @classmethod
    def from_url(cls, url: str, prefix: str = "cc:") -> RedisStore:
        client = redis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30,
            decode_responses=True,
        )
        return cls(client, prefix)

    def claim(self, key: str, ttl: int) -> bool:
        return bool(self._call(self.client.set, self.prefix + key, "1", nx=True, ex=ttl))

    def use_once(self, mark_key: str, counter: int, mark_ttl: int, answer_key: str, answer: str, answer_ttl: int,
                 claim: tuple[str, int] | None = None) -> UseOutcome:
        keys, args = [self.prefix + mark_key, self.prefix + answer_key], [counter, mark_ttl, answer, answer_ttl]
        if claim is not None:
            keys.append(self.prefix + claim[0])
            args.append(claim[1])
        reply = self._call(self._use_once, keys=keys, args=args)
        return reply[0], (reply[1] if len(reply) > 1 else None)

    def get(self, key: str) -> str | None:
        return self._call(self.client.get, self.prefix + key)

    def put(self, key: str, value: str, ttl: int) -> None:
        self._call(self.client.set, self.prefix + key, value, ex=ttl)

    def incr(self, key: str, ttl: int, at_least: int = 1) -> int:
        return int(self._call(self._incr, keys=[self.prefix + key], args=[ttl, at_least]))

    def count(self, key: str, ttl_seconds: int) -> int:
        """INCR and, on the first count, EXPIRE: one Lua script, one round trip."""
        return self.incr(key, ttl_seconds)

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
                 claim: tuple[str, int] | None = None) -> UseOutcome:
        """The same steps as on Redis; the claim and the mark are each atomic, which is what the
        nonce and the one-time rule need (the answer write after it is not part of that guarantee)."""
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
        with self._connect() as conn:
            return int(conn.execute(stmt.returning(KvEntry.counter)).scalar_one())

    def count(self, key: str, ttl_seconds: int) -> int:
        """One ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (see :meth:`incr`)."""
        return self.incr(key, ttl_seconds)

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
