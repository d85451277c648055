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
