"""Start-up checks: ``citizencard serve`` refuses to start, and ``citizencard check`` exits 1,
when the app could not serve the database it is given.

- **Schema**: the database's Alembic revision (its ``alembic_version`` table) must be the head of
  the migrations in ``app/migrations``. ``serve --no-migrate`` on an empty or older database
  would otherwise start and fail its requests.
- **Data keys**: ``CARD_DATA_KEYS`` must open a sample of the stored encrypted values: the newest
  and the oldest :data:`SAMPLE_ROWS` rows of every encrypted column
  (:data:`app.services.keys.ENCRYPTED_COLUMNS`), each decrypted for its column's purpose. A wrong
  or missing key would otherwise make every signed partner request a 500. Rows under an older key
  that is still listed pass (rotation, before ``citizencard keys reencrypt`` has moved them); an
  empty database passes. The newest rows catch a wrong current key, the oldest an old key removed
  too early. Cost: two primary-key index look-ups per column, whatever the tables' size.

A failure is one :class:`StartupRefused` line naming the revisions, or the table, column and key id
that failed: never a value, a key or a secret.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import select

from .crypto import Keyring
from .extensions import db, migrate
from .runtime import runtime
from .services.keys import ENCRYPTED_COLUMNS

SAMPLE_ROWS = 3
UPGRADE_HINT = "run `citizencard db upgrade` (or serve without --no-migrate)"
_PRINTABLE_KEY_ID = re.compile(r"[A-Za-z0-9_]{1,32}")


class StartupRefused(RuntimeError):
    """What stops the app from serving, in one line for the operator, with what to do."""


@dataclass(frozen=True)
class StartupReport:
    """What passed: the schema ``revision`` (the head) and ``opened``: {key id: sampled values it opened}."""

    revision: str
    opened: dict[str, int]

    def summary(self) -> str:
        """One line, e.g. ``schema at e23df4ca716d (head); 12 sampled values open (keys k2: 9, k1: 3)``."""
        keys = ", ".join(f"{key_id}: {count}" for key_id, count in self.opened.items())
        values = f"{sum(self.opened.values())} sampled values open (keys {keys})" if keys else "no encrypted values stored yet"
        return f"schema at {self.revision} (head); {values}"


def run_startup_checks(app: Flask) -> StartupReport:
    """The schema check, then the data-key check, on ``app``'s database and keyring; raises
    :class:`StartupRefused` at the first failure (database errors propagate as SQLAlchemy's)."""
    with app.app_context():
        revision = check_schema_at_head()
        opened = check_data_keys(runtime().keyring)
    return StartupReport(revision, opened)


def check_schema_at_head() -> str:
    """The database's revision when it is the migrations' head; else :class:`StartupRefused`
    saying whether the database has no revision, an older one, or one this code does not know."""
    script = ScriptDirectory.from_config(migrate.get_config())
    heads = set(script.get_heads())
    with db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current == heads:
        return _revisions(heads)
    raise StartupRefused(_schema_problem(current, heads, {each.revision for each in script.walk_revisions()}))


def _schema_problem(current: set[str], heads: set[str], known: set[str]) -> str:
    needed = f"the code needs revision {_revisions(heads)}"
    if not current:
        return f"the database has no schema revision (empty, or not made by migrations); {needed}: {UPGRADE_HINT}"
    if not current <= known:
        return (f"the database is at revision {_revisions(current)}, which this code's migrations do not know "
                f"(migrated by a newer release?); {needed}")
    return f"the database schema is at revision {_revisions(current)}, behind the code's; {needed}: {UPGRADE_HINT}"


def _revisions(revisions: set[str]) -> str:
    return ",".join(sorted(revisions))


def check_data_keys(keyring: Keyring) -> dict[str, int]:
    """Open the sampled values of every encrypted column with ``keyring``; returns {key id: values
    opened}, in the order met; raises :class:`StartupRefused` naming the column and key id
    of the first value that does not open. Needs an app context."""
    opened: Counter[str] = Counter()
    for model, column, purpose in ENCRYPTED_COLUMNS:
        where = f"{model.__tablename__}.{column}"
        for value in _sample(model, column):
            opened[_open(keyring, value, purpose, where)] += 1
    return dict(opened)


def _sample(model: Any, column: str) -> list[str]:
    """``column``'s values in the newest and the oldest :data:`SAMPLE_ROWS` rows by primary key,
    each row once, NULLs left out (a mostly-NULL column costs no more)."""
    attribute = getattr(model, column)
    newest = select(model.id, attribute).order_by(model.id.desc()).limit(SAMPLE_ROWS)
    oldest = select(model.id, attribute).order_by(model.id).limit(SAMPLE_ROWS)
    rows = {row_id: value for query in (newest, oldest) for row_id, value in db.session.execute(query) if value is not None}
    return list(rows.values())


def _open(keyring: Keyring, value: str, purpose: str, where: str) -> str:
    """The key id ``value`` was encrypted under, once ``keyring`` opens it; else :class:`StartupRefused`
    naming ``where`` and the key id (printed only if it looks like one: the text before ``$`` of a
    damaged value could be personal data)."""
    key_id, separator, _ = value.partition("$")
    if not separator:
        raise StartupRefused(f"{where} holds a value that is not encrypted the way this app encrypts (no key id)")
    shown = f"'{key_id}'" if _PRINTABLE_KEY_ID.fullmatch(key_id) else "(an id of unexpected characters, not shown)"
    if not keyring.has_key(key_id):
        raise StartupRefused(f"CARD_DATA_KEYS has no key {shown}, under which {where} values are stored: list it after "
                             "the current key (remove a key only after `citizencard keys reencrypt`)")
    try:
        keyring.decrypt(value, purpose)
    except ValueError:  # KeyringError (wrong key or damaged value), or text that is not base64
        raise StartupRefused(f"the key {shown} in CARD_DATA_KEYS does not open {where} values stored under that id: "
                             "it is not the key they were encrypted with") from None
    return key_id
