"""Fixtures for the fault tests: a private Redis and PostgreSQL (tests/faults/servers.py) per
pytest worker, and an app built on them. Nothing here touches the shared servers.

Without the server binaries the tests skip, except under ``CI=true`` where they fail.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from app.platform.clock import FrozenClock
from app.platform.models import Base
from standins.wechat import WeChatStandIn

from ..backends import IN_CI
from ..conftest import APP_SECRET, APPID
from ..helpers import ApiClient, dispose
from .servers import Missing, PrivateCluster, PrivatePostgres, PrivateRedis


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: kills and restarts private Redis/PostgreSQL servers (tests/faults)")


def _missing(error: Missing) -> None:
    if IN_CI:
        pytest.fail(f"{error} (CI=true: the fault tests must run)", pytrace=False)
    pytest.skip(str(error))


@dataclass
class Servers:
    redis: PrivateRedis
    postgres: PrivatePostgres


@pytest.fixture(scope="session")
def private_redis() -> Iterator[PrivateRedis]:
    with tempfile.TemporaryDirectory(prefix="cc-faults-redis-") as workdir:
        try:
            server = PrivateRedis(Path(workdir))
        except Missing as error:
            _missing(error)
        server.start()
        try:
            yield server
        finally:
            server.kill()


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    try:
        server = PrivatePostgres()
    except Missing as error:
        _missing(error)
    try:
        server.initdb()
        server.start()
        engine = create_engine(server.url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield server
    finally:
        server.remove()


@pytest.fixture
def servers(private_redis: PrivateRedis, private_postgres: PrivatePostgres) -> Servers:
    """Both private servers running (a test that left one down is repaired here) and empty."""
    if private_redis.process is None:
        private_redis.start()
    if private_postgres.process is None:
        private_postgres.start()
    private_redis.flush()
    engine = create_engine(private_postgres.url)
    with engine.begin() as conn:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return Servers(private_redis, private_postgres)


@pytest.fixture(scope="session")
def private_cluster() -> Iterator[PrivateCluster]:
    """A 6-node Redis Cluster of its own (scripts/redis-cluster on free ports), for killing nodes."""
    with tempfile.TemporaryDirectory(prefix="cc-faults-cluster-") as workdir:
        cluster = PrivateCluster(Path(workdir))
        try:
            cluster.start()
        except RuntimeError as error:
            _missing(Missing(str(error)))
        try:
            yield cluster
        finally:
            cluster.stop()


@pytest.fixture
def fault_app(servers: Servers, clock: FrozenClock, wechat: WeChatStandIn) -> Iterator[Any]:
    """The app as deployed (PostgreSQL + Redis, default pool, no pre-ping) on the private servers."""
    app = create_app({
        "TESTING": True, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET,
        "CARD_WECHAT_API_BASE": wechat.base_url,
        "SQLALCHEMY_DATABASE_URI": servers.postgres.url, "REDIS_URL": servers.redis.url,
    }, clock=clock)
    yield app
    dispose(app)


@pytest.fixture
def fault_api(fault_app: Any, wechat: WeChatStandIn, clock: FrozenClock) -> ApiClient:
    return ApiClient(fault_app, wechat, clock)

