"""One migration at a time per PostgreSQL database (issue 19, item 5).

Servers started together each run ``citizencard serve`` (which upgrades the schema first) or
``citizencard db upgrade``. Without a lock they would all find the schema behind and all run the
same migrations: every one but the first then fails on a table or column that already exists.
:func:`lock_migrations` takes a transaction-level advisory lock as the first statement of
Alembic's migration transaction (app/migrations/env.py), *before* Alembic reads the current
revision: the first process migrates and commits; the others wait on the lock, then read the
revision the first one wrote and have nothing to do. A transaction-level lock ends with the
transaction (commit, rollback or a dropped connection), so a crashed migrator never leaves it
held, and it works through PgBouncer in transaction mode too. SQLite (one machine, development)
needs none: its writers are serialised by the file lock.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

# A fixed 64-bit key for pg_advisory_xact_lock: the first 8 bytes of SHA-256("citizencard.migrations"),
# as a signed bigint. Any other user of advisory locks in this database must avoid it.
MIGRATION_LOCK_KEY = -0x5D6D_0DE2_806B_E64D


def lock_migrations(connection: Connection) -> None:
    """Wait (without a time limit) until no other process migrates this database, and hold that
    until the caller's transaction ends. PostgreSQL only; a no-op on other databases."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
