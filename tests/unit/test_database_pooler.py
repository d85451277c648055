"""CARD_DATABASE_POOLER (docs/operations.md, "PgBouncer"): transaction mode turns off psycopg's
prepared statements; an unknown value is refused with the other settings."""
from __future__ import annotations

import pytest

from app import create_app
from app.config import ConfigError, load_config


def test_an_unknown_pooler_is_refused() -> None:
    with pytest.raises(ConfigError, match="CARD_DATABASE_POOLER must be one of none, session, transaction"):
        load_config({"CARD_DATABASE_POOLER": "statement"})


@pytest.mark.parametrize(("pooler", "connect_args"), [
    ("none", None), ("session", None), ("transaction", {"prepare_threshold": None})])
def test_transaction_pooling_turns_prepared_statements_off(pooler: str, connect_args: dict | None) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql://u@127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1/0",
                      "CARD_DATABASE_POOLER": pooler})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args") == connect_args
