"""Verification records partitioned by the code's time step (PostgreSQL; issue 19 item 10;
docs/operations.md "Partitioned verification records").

``verifications.code_step`` is a 30-second time step (``floor(unix time / 30)``, RFC 6238 §4.2):

- an accepted DGC1 code: the code's own step ``T`` (its use key is ``PSEUDONYM:C`` with
  ``C = T * 100 + n``, so ``T = C // 100``: the same code always gives the same step);
- an accepted DGC2 code, online or settled from an offline upload: the step of its certificate's
  ``nbf`` (the use key ``dgc2:<serial>:<ctr>`` names one certificate, whose ``nbf`` the issuer
  signed; every code of that serial, a clone's too, has the same ``nbf``, hence the same step,
  whatever its own time ``t`` or its settlement time);
- any other record (refused, or a physical-card read: no ``use_key``): the step of ``created_at``.

On PostgreSQL ``verifications`` is ``PARTITION BY RANGE (code_step)`` with one partition per UTC
month (``verifications_pYYYYMM``) and a ``DEFAULT`` partition (``verifications_default``) for any
step no monthly partition covers, so an INSERT never fails for want of a partition. The one-time
key is the unique index ``(use_key, code_step)``: PostgreSQL enforces a unique index on a
partitioned table only when it includes the partition key, and since one ``use_key`` always has
one ``code_step``, unique ``(use_key, code_step)`` is unique ``use_key``. On SQLite the table is a
plain table with the same columns and keys.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, String, column, literal, select, table, text, tuple_

from app.platform.models import UTCDateTime
from qr import totp

TABLE = "verifications"
DEFAULT_PARTITION = "verifications_default"
_PARTITION_NAME = re.compile(r"verifications_(p(\d{4})(\d{2})|default)\Z")
STEP_SECONDS = totp.STEP_SECONDS


def step_of(moment: datetime | float) -> int:
    """The 30-s time step of ``moment`` (an aware or naive-UTC datetime, or Unix seconds)."""
    if isinstance(moment, datetime):
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return int(moment // STEP_SECONDS)


def dgc1_code_step(moving_factor: int) -> int:
    """A DGC1 code's step from its moving factor ``C = T * 100 + n``."""
    return moving_factor // totp.SEQUENCES_PER_STEP


def dgc2_code_step(nbf: int) -> int:
    """A DGC2 code's partition step: its certificate's ``nbf`` (Unix seconds), shared by every code of the serial."""
    return nbf // STEP_SECONDS


@dataclass(frozen=True, order=True)
class Month:
    """A UTC calendar month; ``steps`` is its half-open range of time steps."""

    year: int
    month: int

    @classmethod
    def of_step(cls, step: int) -> Month:
        moment = datetime.fromtimestamp(step * STEP_SECONDS, UTC)
        return cls(moment.year, moment.month)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def first_step(self) -> int:
        return step_of(datetime(self.year, self.month, 1, tzinfo=UTC))  # month starts are whole steps

    @property
    def steps(self) -> tuple[int, int]:
        return self.first_step, self.next().first_step

    @property
    def partition(self) -> str:
        return f"{TABLE}_p{self.year:04d}{self.month:02d}"


def is_partition_name(name: str | None) -> bool:
    """A partition of ``verifications`` (monthly or default): not a model of its own (autogenerate skips it)."""
    return bool(name and _PARTITION_NAME.match(name))


def include_name(name: str | None, type_: str, _parent: Any) -> bool:
    """Alembic's ``include_name`` hook: leave the partitions out of the models' comparison."""
    return not (type_ == "table" and is_partition_name(name))


def is_partitioned(conn: Connection) -> bool:
    """True on PostgreSQL when ``verifications`` is a partitioned table."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.execute(text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(:t)"), {"t": TABLE}).scalar() is True


def monthly_partitions(conn: Connection) -> list[Month]:
    """The monthly partitions attached to ``verifications``, oldest first (PostgreSQL catalogue)."""
    names = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:t)"), {"t": TABLE}).scalars()
    months = []
    for name in names:
        match = _PARTITION_NAME.match(name)
        if match and match.group(2):
            months.append(Month(int(match.group(2)), int(match.group(3))))
    return sorted(months)


def create_partition_sql(month: Month) -> str:
    """DDL of ``month``'s partition (idempotent)."""
    low, high = month.steps
    return (f"CREATE TABLE IF NOT EXISTS {month.partition} PARTITION OF {TABLE} "
            f"FOR VALUES FROM ({low}) TO ({high})")


def ensure(conn: Connection, now: datetime, ahead: int) -> list[str]:
    """Create the partitions of this month and the ``ahead`` next ones that are missing; return their names.

    Refused (ValueError) when the default partition holds a row of a month to be created:
    PostgreSQL would refuse the new partition (its rows must move first: ``check`` names them).
    """
    existing = set(monthly_partitions(conn))
    created = []
    month = Month.of_step(step_of(now))
    for _ in range(ahead + 1):
        if month not in existing:
            low, high = month.steps
            stray = conn.execute(text(f"SELECT count(*) FROM {DEFAULT_PARTITION} WHERE code_step >= :low AND code_step < :high"),
                                 {"low": low, "high": high}).scalar()
            if stray:
                raise ValueError(f"{DEFAULT_PARTITION} holds {stray} rows of {month.partition}: move them first")
            conn.execute(text(create_partition_sql(month)))
            created.append(month.partition)
        month = month.next()
    return created


@dataclass(frozen=True)
class Dropped:
    """What the retention job (app/service_desk/retention.py) did: partitions dropped, and rows
    deleted from the default partition."""

    partitions: list[str]
    default_rows: int


def drop_expired(conn: Connection, now: datetime, keep_months: int, sealed: tuple[datetime, str] | None) -> Dropped:
    """Detach and drop every monthly partition wholly older than ``keep_months`` whole months
    before this month, and delete the default partition's rows of those months.

    ``sealed``: ``(created_at, id)`` of the newest verification record the audit chain has copied
    (app.service_desk.audit.sealed_through; None: nothing copied). A partition holding a record
    after it refuses the whole job (ValueError, in the caller's transaction: roll it back): its
    records would leave the database before the chain holds them.
    """
    keep_from = Month.of_step(step_of(now)).plus(-keep_months)
    floor = keep_from.first_step
    dropped = []
    for month in monthly_partitions(conn):
        if month >= keep_from:
            continue
        refuse_unsealed(conn, month.partition, None, sealed)
        conn.execute(text(f"ALTER TABLE {TABLE} DETACH PARTITION {month.partition}"))
        conn.execute(text(f"DROP TABLE {month.partition}"))
        dropped.append(month.partition)
    refuse_unsealed(conn, DEFAULT_PARTITION, floor, sealed)
    deleted = conn.execute(text(f"DELETE FROM {DEFAULT_PARTITION} WHERE code_step < :floor"), {"floor": floor}).rowcount
    return Dropped(dropped, deleted)


def refuse_unsealed(conn: Connection, name: str, below_step: int | None, sealed: tuple[datetime, str] | None) -> None:
    """ValueError when the table ``name`` (the partitioned table, a partition, or SQLite's plain
    table) holds a row, with ``code_step < below_step`` if given, after ``sealed`` (the newest
    record copied into the audit chain, by ``(created_at, id)``, the seal's order; None: any row)."""
    rows = table(name, column("id", String()), column("created_at", UTCDateTime()), column("code_step", BigInteger()))
    query = select(rows.c.id).limit(1)
    if below_step is not None:
        query = query.where(rows.c.code_step < below_step)
    if sealed is not None:
        query = query.where(tuple_(rows.c.created_at, rows.c.id) > tuple_(literal(sealed[0], UTCDateTime()), literal(sealed[1], String())))
    if conn.execute(query).first() is not None:
        raise ValueError(f"{name} holds records not yet copied into the audit chain: run `citizencard audit seal` first")


def default_rows(conn: Connection, cap: int | None = None) -> int:
    """Rows in the default partition, counted up to ``cap`` (0 is healthy: every row found its month's partition)."""
    limit = f" LIMIT {int(cap)}" if cap is not None else ""
    return conn.execute(text(f"SELECT count(*) FROM (SELECT 1 FROM {DEFAULT_PARTITION}{limit}) AS rows")).scalar() or 0


# The oldest monthly partition, kept per process for a while: the history walks down to it.
_OLDEST_TTL = 600.0
_oldest: dict[str, tuple[float, Month | None]] = {}


def oldest_month(conn: Connection) -> Month | None:
    """The oldest monthly partition (cached 10 minutes per database URL); None when there is none
    (SQLite, or a table not partitioned)."""
    if conn.dialect.name != "postgresql":
        return None
    key = conn.engine.url.render_as_string(hide_password=True)
    cached = _oldest.get(key)
    if cached is None or time.monotonic() - cached[0] > _OLDEST_TTL:
        months = monthly_partitions(conn)
        cached = (time.monotonic(), months[0] if months else None)
        _oldest[key] = cached
    return cached[1]
