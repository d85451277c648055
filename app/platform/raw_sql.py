"""The hot paths' statements on PostgreSQL: the pool's own psycopg connection, prepared (issue 25).

A verification and ``GET /card/code`` each run one SELECT (and a verification a share of one
INSERT). Through a SQLAlchemy ``Connection`` the SELECT cost 0.38 ms of server CPU against 0.14 ms
through psycopg directly, and the batched INSERT 0.155 ms against 0.036 (SQLAlchemy sends a
different SQL text for every batch size). So, one way per backend:

* **PostgreSQL**: the statement (still built with SQLAlchemy Core, so its columns and joins are
  checked against the models) is compiled once to SQL text, and run through the DBAPI connection
  of SQLAlchemy's pool (:func:`pooled_psycopg`) with ``prepare=True``: PostgreSQL parses and plans
  it once per connection (not behind PgBouncer in transaction mode: :func:`may_prepare`). Rows
  come back as named tuples (the same attribute access as SQLAlchemy's
  rows; timestamps are aware, in the connection's time zone, which comparisons do not mind).
* **SQLite** (the default for development): the SQLAlchemy path of :func:`app.platform.sql.autocommit_connection`.

A connection failure is SQLAlchemy's ``OperationalError`` either way (503 by app.platform.http_errors),
and the broken connection is dropped from the pool (one 503 per stale pooled connection after a
PostgreSQL restart, as with SQLAlchemy's path: tests/faults).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import Executable

from app.platform.db import db
from app.platform.sql import autocommit_connection


def on_postgresql() -> bool:
    """True when the database is PostgreSQL (the raw path), False on SQLite (SQLAlchemy's)."""
    return db.engine.dialect.name == "postgresql"


@contextmanager
def pooled_psycopg() -> Iterator[psycopg.Connection[Any]]:
    """A connection of SQLAlchemy's pool as the psycopg connection it wraps, in autocommit (each
    statement its own transaction), returned to the pool at the end. Call
    :func:`app.platform.sql.release_session` first (see autocommit_connection)."""
    try:
        fairy = db.engine.raw_connection()  # a failed connect is psycopg's own error here, not SQLAlchemy's
    except psycopg.OperationalError as exc:
        raise OperationalError("(pool connect)", None, exc) from exc
    conn = fairy.driver_connection
    try:
        conn.autocommit = True
        yield conn
    except psycopg.OperationalError as exc:  # the server went away: never back into the pool
        fairy.invalidate(exc)
        raise OperationalError("(pooled psycopg statement)", None, exc) from exc
    finally:
        _hand_back(fairy, conn)


def _hand_back(fairy: Any, conn: psycopg.Connection[Any]) -> None:
    """Back to the pool as it handed the connection out (not in autocommit), or dropped if it cannot be."""
    try:
        if fairy.is_valid:
            conn.autocommit = False
    except psycopg.Error as exc:
        fairy.invalidate(exc)
    fairy.close()


class Statement:
    """A SQLAlchemy Core statement with its PostgreSQL text compiled once (``%(name)s`` parameters)."""

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        self._text: tuple[str, dict[str, Any]] | None = None

    def text(self) -> tuple[str, dict[str, Any]]:
        """The SQL text for this engine's dialect and the statement's own bound values (e.g. LIMIT's)."""
        if self._text is None:
            compiled = self.stmt.compile(dialect=db.engine.dialect)
            self._text = str(compiled), {key: value for key, value in compiled.params.items() if value is not None}
        return self._text


def first_row(statement: Statement, params: dict[str, Any]) -> Any:
    """The first row of ``statement`` with ``params`` (attribute access by column name), or None."""
    if not on_postgresql():
        with autocommit_connection() as conn:
            return conn.execute(statement.stmt, params).first()
    sql, defaults = statement.text()
    with pooled_psycopg() as conn:
        return conn.cursor(row_factory=namedtuple_row).execute(sql, {**defaults, **params}, prepare=may_prepare(conn)).fetchone()


def may_prepare(conn: psycopg.Connection[Any]) -> bool | None:
    """``prepare=`` for a hot statement: True (prepared at once) unless the connection has
    prepared statements off (``prepare_threshold=None``: ``CARD_DATABASE_POOLER=transaction``,
    PgBouncer in transaction mode, where a prepared statement may be on another server
    connection next time); then None, which follows the connection (never prepared)."""
    return None if conn.prepare_threshold is None else True
