"""Dialect-aware ``INSERT ... ON CONFLICT`` for the two databases we run on, and the hot paths'
transaction mode."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db


def upsert_insert(dialect_name: str, table: Any) -> Any:
    """An ``insert(table)`` that supports ``on_conflict_do_update``/``_nothing`` and ``returning``."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect: {dialect_name}")


def autocommit_statements() -> None:
    """Run the session's next statements each as its own transaction, until its next commit.

    For hot paths whose every write is one statement (a verification's record INSERT ... ON
    CONFLICT) and whose reads need no common snapshot (``GET /card/code``): no BEGIN and COMMIT
    round trips, two of a verification's four PostgreSQL round trips. A no-op when the session
    has already begun a transaction (e.g. a cache miss read the partner first).
    """
    if not db.session().in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


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
