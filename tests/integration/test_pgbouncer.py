"""The app behind PgBouncer in transaction mode (issue 19, item 11; Debian's pgbouncer 1.18).

scripts/pgbouncer-start installs PgBouncer if it is missing and starts it on a free loopback port
in transaction mode. The main flows (migrations, binding, a verification, a loss report and the
refusal that follows) run through it with ``CARD_DATABASE_POOLER=transaction``. The first test
shows why that setting exists: psycopg's automatic prepared statements break under transaction
pooling as soon as a connection's next transaction lands on another server connection. Without
PgBouncer the tests skip, except under CI=true, where they fail."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app import create_app
from app.platform.db import db
from app.platform.models import Base

from .. import backends
from ..conftest import APP_SECRET, APPID
from ..helpers import ApiClient, dispose
from .test_lifecycle import Story

ROOT = Path(__file__).resolve().parents[2]
REPEATED = "SELECT count(*) FROM pg_class WHERE relname = %s"


@pytest.fixture(scope="module")
def pgbouncer_port() -> Iterator[int]:
    """PgBouncer (transaction mode) in front of the test PostgreSQL; its port."""
    admin = make_url(backends.ADMIN_URL)
    directory = Path(tempfile.mkdtemp(prefix="citizencard-pgbouncer-"))  # in /tmp: as root, pgbouncer runs as postgres
    started = subprocess.run([str(ROOT / "scripts/pgbouncer-start"), str(directory), admin.host or "127.0.0.1",
                              str(admin.port or 5432)], capture_output=True, text=True, timeout=300)
    if started.returncode != 0:
        backends.unavailable("PgBouncer", RuntimeError(started.stderr.strip()[-500:]))
    yield int(started.stdout.strip().splitlines()[-1])
    os.kill(int((directory / "pgbouncer.pid").read_text()), signal.SIGTERM)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def bouncer_url(worker_id: str, pgbouncer_port: int) -> str:
    """A fresh database, reached through PgBouncer."""
    direct = make_url(backends.fresh_postgres(worker_id, "pgbouncer"))
    return direct.set(host="127.0.0.1", port=pgbouncer_port).render_as_string(hide_password=False)


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.parametrize("pooler", ["none", "transaction"])
def test_prepared_statements_are_off_in_transaction_mode(bouncer_url: str, pooler: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": bouncer_url, "REDIS_URL": None, "CARD_DATABASE_POOLER": pooler})
    with app.app_context(), psycopg.connect(_conninfo(bouncer_url)) as holder, \
            psycopg.connect(_conninfo(bouncer_url)) as other:
        holder.execute("SELECT 1")  # holds server connection S1 in its open transaction
        connection = db.engine.connect()
        for _ in range(6):  # the app's connection, on S2: psycopg prepares from the 5th run on (by default)
            connection.exec_driver_sql(REPEATED, ("x",)).scalar()
            connection.commit()
        other.execute("SELECT 1")  # now holds S2
        holder.commit()  # S1 is free: the app's next transaction lands on it
        try:
            connection.exec_driver_sql(REPEATED, ("x",)).scalar()
            failed = None
        except DBAPIError as exc:
            failed = exc.orig
        finally:
            connection.close()
            other.commit()
        db.engine.dispose()
    if pooler == "transaction":
        assert failed is None
    else:  # the statement was prepared on S1's neighbour only
        assert isinstance(failed, psycopg.errors.InvalidSqlStatementName)


@pytest.fixture
def bouncer_app(bouncer_url: str, redis_url: str, clock: Any, wechat: Any) -> Iterator[Any]:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": bouncer_url, "REDIS_URL": redis_url,
                      "CARD_DATABASE_POOLER": "transaction", "CARD_WECHAT_APPID": APPID,
                      "CARD_WECHAT_SECRET": APP_SECRET, "CARD_WECHAT_API_BASE": wechat.base_url}, clock=clock)
    with app.app_context():
        upgrade()  # the migrations through PgBouncer too (their advisory lock is transaction-level)
        assert db.session.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        db.session.remove()
    yield app
    dispose(app)


def test_binding_verification_and_a_loss_report_through_pgbouncer(bouncer_app: Any, wechat: Any, clock: Any) -> None:
    api = ApiClient(bouncer_app, wechat, clock)
    story = Story(api)  # roster import, log-in, binding, partners
    for _ in range(8):  # more than psycopg's prepare threshold on each statement
        answer = api.verify(story.metro, api.code(story.token)).json
        assert answer["accepted"] is True, answer
    story.activated()
    assert story.read_card()["accepted"] is True
    assert story.mp("POST", "/card/physical/loss-report").status_code == 200
    assert story.read_card()["reason"] == "card_lost"
    assert story.mp("DELETE", "/card/physical/loss-report").status_code == 200
    assert story.read_card()["accepted"] is True
    with bouncer_app.app_context():
        assert set(Base.metadata.tables) <= set(db.inspect(db.engine).get_table_names()) | {"alembic_version"}
