"""The schema comes from migrations: upgrading an empty database gives exactly the models."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app import create_app
from app.platform.db import db
from app.platform.models import Base
from app.scanning.partitions import include_name

from .. import backends


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_app(request: pytest.FixtureRequest, tmp_path, worker_id: str):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/m.sqlite" if request.param == "sqlite" else backends.fresh_postgres(worker_id, "migrations")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_upgrade_builds_exactly_the_models(empty_app) -> None:  # type: ignore[no-untyped-def]
    with empty_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            opts = {"compare_type": True, "include_name": include_name}  # the partitions are no models
            differences = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    assert differences == []


def test_downgrade_to_base_removes_every_table(empty_app) -> None:  # type: ignore[no-untyped-def]
    with empty_app.app_context():
        upgrade()
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}


def test_benefit_notices_keep_their_refusal_codes_across_the_shared_outbox_migration(empty_app) -> None:  # type: ignore[no-untyped-def]
    """b7e2c4a9d1f6: ``last_errcode`` 43101 becomes ``last_error`` ``wechat:43101`` and every row
    ``platform`` ``wechat``; the downgrade gives the codes back."""
    at = "2026-12-06 00:00:00"
    with empty_app.app_context():
        upgrade(revision="e3c7a1b5d9f4")
        with db.engine.begin() as conn:
            # rows without their account and disbursement: foreign keys unchecked for this connection
            conn.exec_driver_sql("SET session_replication_role = replica" if conn.dialect.name == "postgresql"
                                 else "PRAGMA foreign_keys = OFF")
            conn.exec_driver_sql(
                "INSERT INTO notifications (id, disbursement_id, account_id, template_id, status, attempts, last_errcode,"
                f" next_attempt_at, created_at) VALUES (1, 1, 1, 't', 'failed', 1, 43101, '{at}', '{at}'),"
                f" (2, 2, 1, 't', 'sent', 2, NULL, '{at}', '{at}')")
        upgrade()
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id, platform, last_error FROM notifications ORDER BY id").all() == [
                (1, "wechat", "wechat:43101"), (2, "wechat", None)]
        downgrade(revision="e3c7a1b5d9f4")
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id, last_errcode FROM notifications ORDER BY id").all() == [(1, 43101), (2, None)]
