"""Dialect-aware ``INSERT ... ON CONFLICT`` for the two databases we run on, and the hot paths'
transaction mode."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from app.platform.db import db


def upsert_insert(dialect_name: str, table: Any) -> Any:
    """An ``insert(table)`` that supports ``on_conflict_do_update``/``_nothing`` and ``returning``."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect: {dialect_name}")


@contextmanager
def autocommit_connection() -> Iterator[Connection]:
    """A pool connection of its own, outside the session, each statement its own transaction.

    For the hot paths (a verification, ``GET /card/code``), whose reads are single statements
    and whose one write is one statement (a batch's INSERT): no BEGIN and COMMIT round trips, none
    of the session's bookkeeping, and the connection goes back to the pool at once instead of
    being held while the request waits on Redis (issue 7).

    Call :func:`release_session` first: a request that holds a session connection while it waits
    for a second one deadlocks once the pool is exhausted (50 parallel requests did).
    """
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


def release_session() -> None:
    """Commit the session's transaction, if one is open: its connection goes back to the pool
    and it holds no lock (e.g. a SQLite write lock another connection of the request would wait for)."""
    if db.session.registry.has() and db.session().in_transaction():  # has(): no session is made to ask
        db.session.commit()


T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter): the chunks of a bulk write, each
    in its own short transaction (``itertools.batched`` from Python 3.12, as lists)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
