"""Start-up checks: ``citizencard serve`` refuses to start, and ``citizencard check`` exits 1,
when the app could not serve the database it is given.

- **Schema**: the database's Alembic revision (its ``alembic_version`` table) must be the head of
  the migrations in ``app/migrations``. ``serve --no-migrate`` on an empty or older database
  would otherwise start and fail its requests.
- **Data keys**: ``CARD_DATA_KEYS`` must open the stored encrypted values of every encrypted column
  (:data:`app.keys.ENCRYPTED_COLUMNS`), each decrypted for its column's purpose: in a
  table of at most :data:`FULL_CHECK_ROWS` rows, every value; in a larger one, the newest and the
  oldest :data:`SAMPLE_ROWS` values (NULLs skipped) among its newest and oldest
  :data:`FULL_CHECK_ROWS` rows by primary key (:func:`_sample`). A wrong or missing key would
  otherwise make every signed partner request a 500. Rows under an older key that is still listed
  pass (rotation, before ``citizencard keys reencrypt`` has moved them); an empty database passes.
  The newest rows catch a wrong current key, the oldest an old key removed too early; checking
  small tables (partners, staff, devices of a pilot) whole catches one row rewritten under a key
  the server lacks. Cost: at most three primary-key index reads of :data:`FULL_CHECK_ROWS` rows per
  column, whatever the tables' size (never a full scan of a large table).
- **Blind indexes**: ``CARD_BLIND_INDEX_KEY`` must be the key the stored blind indexes were made
  with: for the same checked rows of every index kept beside the encrypted value it was computed
  from (:data:`app.keys.BLIND_INDEXED_COLUMNS`), the value is decrypted and its index
  recomputed as the app writes it. A wrong key would otherwise make a roster import add every
  resident again and tell the residents already there that they are not eligible.
- **Store**: the runtime's store (Redis, or the embedded table) answers a ping; unreachable, every
  verification would be a 503.

``serve`` runs the key and store checks before it migrates, on the columns the database has then
(:func:`run_checks_before_migrating`; a revision the migrations do not know is refused there too),
so a misconfigured release does not migrate and then refuse; after migrating it runs them all
(:func:`run_startup_checks`).

A failure is one :class:`StartupRefused` line naming the revisions, the table, column and key id,
or the store and its host:port that failed: never a value, an index, a key or a password. The
database is shown without its password and without its query string (which may carry one). When
``CARD_DATA_KEYS`` or ``CARD_BLIND_INDEX_KEY`` is unset (development), the line says so.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import URL, and_, func, inspect, select

from app.config import DEV_DATA_KEYS, DEV_INDEX_KEY
from app.extensions import db, migrate
from app.keys import BLIND_INDEXED_COLUMNS, ENCRYPTED_COLUMNS
from app.platform.crypto import Keyring, shown_key_id
from app.platform.store import Store, StoreUnavailable
from app.runtime import Runtime, runtime

SAMPLE_ROWS = 3
FULL_CHECK_ROWS = 2000  # a table of at most this many rows has every value checked
UPGRADE_HINT = "run `citizencard db upgrade` (or serve without --no-migrate)"
DEV_DATA_KEY_IN_USE = "CARD_DATA_KEYS is not set, so the development key is in use"
Columns = set[tuple[str, str]]  # (table, column) pairs the database has


class StartupRefused(RuntimeError):
    """What stops the app from serving, in one line for the operator, with what to do."""


@dataclass(frozen=True)
class StartupReport:
    """What passed: the ``database`` (password and query string hidden), the ``store``, the schema ``revision``
    (the head), ``opened``: {key id: checked values it opened} and ``indexes``: checked blind indexes that match."""

    database: str
    store: str
    revision: str
    opened: dict[str, int]
    indexes: int

    def summary(self) -> str:
        """One line, e.g. ``database postgresql://cc:***@db/cc at schema e23df4ca716d (head); store redis at
        db:6379 (REDIS_URL) answers; 12 checked values open (keys k2: 9, k1: 3); 6 checked blind indexes match``."""
        keys = ", ".join(f"{key_id}: {count}" for key_id, count in self.opened.items())
        values = f"{sum(self.opened.values())} checked values open (keys {keys})" if keys else "no encrypted values stored yet"
        indexes = f"; {self.indexes} checked blind indexes match" if self.indexes else ""
        return f"database {self.database} at schema {self.revision} (head); store {self.store} answers; {values}{indexes}"


def run_startup_checks(app: Flask) -> StartupReport:
    """The schema, data-key, blind-index and store checks, on ``app``'s database and runtime; raises
    :class:`StartupRefused` at the first failure (database errors propagate as SQLAlchemy's)."""
    with app.app_context():
        revision = check_schema_at_head()
        opened, indexes = check_keys(runtime())
        store = check_store(runtime().store)
        database = shown_database_url(db.engine.url)
    return StartupReport(database, store, revision, opened, indexes)


def run_checks_before_migrating(app: Flask) -> None:
    """The key and store checks on the database as it is, before ``serve`` migrates it: columns the
    pending migrations have not created yet are skipped (they hold nothing to open)."""
    with app.app_context():
        check_schema_known()
        check_keys(runtime(), existing_columns())
        check_store(runtime().store)


def shown_database_url(url: URL) -> str:
    """``url`` for an operator to read: the password hidden, the query string (which may carry one) left out."""
    return url.set(query={}).render_as_string(hide_password=True)


def existing_columns() -> Columns:
    """Every (table, column) the database has now."""
    inspector = inspect(db.engine)
    return {(table, column["name"]) for table in inspector.get_table_names() for column in inspector.get_columns(table)}


def check_keys(rt: Runtime, present: Columns | None = None) -> tuple[dict[str, int], int]:
    """The data-key check, then the blind-index check (it decrypts the values the first opened), on
    the columns in ``present`` (None: all of them); returns their results."""
    return check_runtime_data_keys(rt, present), check_blind_indexes(rt, present)


def check_runtime_data_keys(rt: Runtime, present: Columns | None = None) -> dict[str, int]:
    """:func:`check_data_keys` with ``rt``'s keyring, saying so if it is the development default
    (``citizencard keys reencrypt`` runs it before moving anything)."""
    return check_data_keys(rt.keyring, present, development=rt.config["CARD_DATA_KEYS"] == DEV_DATA_KEYS)


def check_store(store: Store) -> str:
    """``store``'s description once it answers a ping; else :class:`StartupRefused` naming it."""
    try:
        store.ping()
    except StoreUnavailable as exc:
        raise StartupRefused(f"the store, {store.describe()}, does not answer ({exc}): every verification would fail") from None
    return store.describe()


def check_schema_at_head() -> str:
    """The database's revision when it is the migrations' head; else :class:`StartupRefused`
    saying whether the database has no revision, an older one, or one this code does not know."""
    current, heads, known = _schema_revisions()
    if current == heads:
        return _revisions(heads)
    raise StartupRefused(_schema_problem(current, heads, known))


def check_schema_known() -> None:
    """Before migrating: :class:`StartupRefused`, as :func:`check_schema_at_head` says it, when the database is
    at a revision this code's migrations do not know (a newer release's), which the upgrade could not start from."""
    current, heads, known = _schema_revisions()
    if not current <= known:
        raise StartupRefused(_schema_problem(current, heads, known))


def _schema_revisions() -> tuple[set[str], set[str], set[str]]:
    """The database's current revisions, the migrations' heads, and every revision the migrations know."""
    script = ScriptDirectory.from_config(migrate.get_config())
    with db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current, set(script.get_heads()), {each.revision for each in script.walk_revisions()}


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


def check_data_keys(keyring: Keyring, present: Columns | None = None, development: bool = False) -> dict[str, int]:
    """Open the checked values (:func:`_sample`) of every encrypted column in ``present`` (None: all) with ``keyring``;
    returns {key id: values opened}, in the order met; raises :class:`StartupRefused` naming the
    column and key id of the first value that does not open (``development``: the keyring is the
    development default, CARD_DATA_KEYS being unset). Needs an app context."""
    opened: Counter[str] = Counter()
    for model, column, purpose in ENCRYPTED_COLUMNS:
        if _exists(present, model, column):
            where = f"{model.__tablename__}.{column}"
            for (value,) in _sample(model, column):
                opened[_open(keyring, value, purpose, where, development)] += 1
    return dict(opened)


def check_blind_indexes(rt: Runtime, present: Columns | None = None) -> int:
    """Recompute the blind index of the checked rows of every indexed column in ``present`` (None:
    all) from the decrypted value, as the app writes it; returns how many match; raises
    :class:`StartupRefused` naming the column at the first that does not. Needs an app context and
    values that open (run :func:`check_data_keys` first)."""
    matched = 0
    for model, index_column, value_column, purpose, index_of in BLIND_INDEXED_COLUMNS:
        if _exists(present, model, index_column) and _exists(present, model, value_column):
            for value, index in _sample(model, value_column, index_column):
                if index_of(rt, rt.keyring.decrypt(value, purpose)) != index:
                    raise StartupRefused(_index_mismatch(f"{model.__tablename__}.{index_column}", rt.config))
                matched += 1
    return matched


def _index_mismatch(where: str, config: Any) -> str:
    if config["CARD_BLIND_INDEX_KEY"] == DEV_INDEX_KEY:
        return (f"CARD_BLIND_INDEX_KEY is not set, so the development key is in use, and it is not the key the stored {where} "
                "blind indexes were made with: set CARD_BLIND_INDEX_KEY to that key")
    return (f"CARD_BLIND_INDEX_KEY is not the key the stored {where} blind indexes were made with (a checked index does not "
            "match its decrypted value): set the key they were made with, or roster imports would add every resident again")


def _exists(present: Columns | None, model: Any, column: str) -> bool:
    return present is None or (model.__tablename__, column) in present


def _sample(model: Any, *columns: str) -> list[tuple[str, ...]]:
    """``columns``' values to check, rows with a NULL among them left out: every row of a table of at most
    :data:`FULL_CHECK_ROWS` rows (found by reading up to one more id by primary key); else the newest and the
    oldest :data:`SAMPLE_ROWS` rows with values among its newest and oldest :data:`FULL_CHECK_ROWS` rows, each
    row once. Bounded by the primary-key index: a large, mostly-NULL column is never scanned whole."""
    attributes = [getattr(model, column) for column in columns]
    if _rows_up_to(model, FULL_CHECK_ROWS + 1) <= FULL_CHECK_ROWS:
        every = select(*attributes).where(_all_set(attributes)).order_by(model.id).limit(FULL_CHECK_ROWS)
        return [tuple(row) for row in db.session.execute(every)]
    rows = {row[0]: tuple(row[1:]) for newest in (True, False) for row in _end(model, attributes, newest)}
    return list(rows.values())


def _rows_up_to(model: Any, limit: int) -> int:
    """How many rows ``model``'s table has, counting no further than ``limit``."""
    return int(db.session.scalar(select(func.count()).select_from(select(model.id).limit(limit).subquery())))


def _all_set(attributes: list[Any]) -> Any:
    """The condition that none of ``attributes`` is NULL."""
    return and_(*(attribute.is_not(None) for attribute in attributes))


def _end(model: Any, attributes: list[Any], newest: bool) -> list[Any]:
    """(id, values) of the ``newest`` (else oldest) :data:`SAMPLE_ROWS` rows without a NULL among the newest (oldest)
    :data:`FULL_CHECK_ROWS` rows by primary key: NULLs are filtered before the sample's limit, within a bounded window."""
    window = select(model.id, *attributes).order_by(model.id.desc() if newest else model.id).limit(FULL_CHECK_ROWS).subquery()
    values = [window.c[attribute.key] for attribute in attributes]
    query = select(window.c.id, *values).where(_all_set(values)).order_by(window.c.id.desc() if newest else window.c.id)
    return list(db.session.execute(query.limit(SAMPLE_ROWS)))


def _open(keyring: Keyring, value: str, purpose: str, where: str, development: bool = False) -> str:
    """The key id ``value`` was encrypted under, once ``keyring`` opens it; else :class:`StartupRefused`
    naming ``where`` and the key id (printed only if it has a key id's shape, :func:`app.platform.crypto.shown_key_id`:
    the text before ``$`` of a damaged value could be personal data); ``development``: say that CARD_DATA_KEYS is unset."""
    key_id, separator, _ = value.partition("$")
    if not separator:
        raise StartupRefused(f"{where} holds a value that is not encrypted the way this app encrypts (no key id)")
    shown = shown_key_id(key_id)
    if not keyring.has_key(key_id):
        if development:
            raise StartupRefused(f"{DEV_DATA_KEY_IN_USE}, and {where} values are stored under key {shown}: set CARD_DATA_KEYS "
                                 "to the keys they were encrypted with")
        raise StartupRefused(f"CARD_DATA_KEYS has no key {shown}, under which {where} values are stored: list it after "
                             "the current key (remove a key only after `citizencard keys reencrypt`)")
    try:
        keyring.decrypt(value, purpose)
    except ValueError:  # KeyringError (wrong key or damaged value), or text that is not base64
        if development:
            raise StartupRefused(f"{DEV_DATA_KEY_IN_USE}, and it does not open {where} values: set CARD_DATA_KEYS to the keys "
                                 "they were encrypted with") from None
        raise StartupRefused(f"the key {shown} in CARD_DATA_KEYS does not open {where} values stored under that id: "
                             "it is not the key they were encrypted with") from None
    return key_id
