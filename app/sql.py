"""Dialect-aware ``INSERT ... ON CONFLICT`` for the two databases we run on."""
from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite


def upsert_insert(dialect_name: str, table: Any) -> Any:
    """An ``insert(table)`` that supports ``on_conflict_do_update``/``_nothing`` and ``returning``."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect: {dialect_name}")
