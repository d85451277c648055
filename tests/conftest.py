"""Fixtures: apps on the two backends, a frozen clock, the WeChat stand-in, API helpers.

Backends: ``embedded`` = SQLite file + SQL store (the zero-setup default); ``production`` =
PostgreSQL + Redis; ``cluster`` = PostgreSQL + a Redis Cluster (marked ``cluster``, and only in
the modules that set ``RUN_ON_CLUSTER = True``: the store, verification and throttle tests;
``pytest -m cluster`` runs them alone). Each test gets empty tables (PostgreSQL: every table emptied; SQLite: a copy of a file with them)
because verification deliberately commits in several short transactions (store, record), and
concurrency tests need real commits that a rolled-back outer transaction would hide.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import settings
from sqlalchemy import create_engine, text

from app import create_app
from app.platform.clock import FrozenClock
from app.platform.db import db
from app.platform.models import Base
from app.scanning import partitions
from standins.alipay import AlipayStandIn
from standins.wechat import WeChatStandIn

from . import backends
from .helpers import ApiClient, dispose

# No per-example deadline: on a loaded 2-core CI machine timing says nothing about correctness.
settings.register_profile("citizencard", deadline=None)
settings.load_profile("citizencard")

APPID, APP_SECRET = "wxtest000000000001", "test-wechat-secret"
BACKENDS = ["embedded", "production"]
CLUSTER = pytest.param("cluster", marks=pytest.mark.cluster)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: on the Redis Cluster of scripts/redis-cluster (TEST_REDIS_CLUSTER_PORT)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The ``cluster`` backend runs only in modules that set ``RUN_ON_CLUSTER = True``."""
    def elsewhere(item: pytest.Item) -> bool:
        on_cluster = getattr(item, "callspec", None) is not None and item.callspec.params.get("app") == "cluster"
        return on_cluster and not getattr(item.module, "RUN_ON_CLUSTER", False)  # type: ignore[attr-defined]

    dropped = [item for item in items if elsewhere(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not elsewhere(item)]


@pytest.fixture(scope="session")
def wechat() -> Iterator[WeChatStandIn]:
    with WeChatStandIn(APPID, APP_SECRET) as server:
        yield server


ALIPAY_APP_ID = "2021000000000001"


@pytest.fixture(scope="session")
def alipay_app_key() -> rsa.RSAPrivateKey:
    """Our side's RSA key for Alipay (RSA2 request signatures)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def alipay(alipay_app_key: rsa.RSAPrivateKey) -> Iterator[AlipayStandIn]:
    public = alipay_app_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    with AlipayStandIn(ALIPAY_APP_ID, public) as server:
        yield server


@pytest.fixture
def alipay_config(tmp_path: Any, alipay: AlipayStandIn, alipay_app_key: rsa.RSAPrivateKey) -> dict[str, str]:
    """The CARD_ALIPAY_* settings for the stand-in, with the key files written to ``tmp_path``."""
    private, public = tmp_path / "app-private.pem", tmp_path / "alipay-public.pem"
    private.write_bytes(alipay_app_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    public.write_bytes(alipay.public_key_pem)
    return {"CARD_ALIPAY_APP_ID": ALIPAY_APP_ID, "CARD_ALIPAY_PRIVATE_KEY_FILE": str(private),
            "CARD_ALIPAY_PUBLIC_KEY_FILE": str(public), "CARD_ALIPAY_GATEWAY": alipay.base_url}


@pytest.fixture(scope="session")
def pg_url(worker_id: str) -> str:
    url = backends.postgres_url(worker_id)
    engine = create_engine(url)
    with engine.begin() as conn:  # whatever an earlier run of another branch left behind goes too
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def redis_url(worker_id: str) -> str:
    return backends.redis_url(worker_id)


@pytest.fixture(scope="session")
def redis_cluster() -> str:
    """``127.0.0.1:<port>`` of the test Redis Cluster (CARD_REDIS_CLUSTER_NODES), started if down."""
    return backends.redis_cluster_nodes()


@pytest.fixture
def cluster_prefix(redis_cluster: str, worker_id: str) -> str:
    """This worker's key prefix on the cluster, emptied (a cluster has no database numbers)."""
    return backends.cluster_prefix(worker_id)


@pytest.fixture
def clock() -> FrozenClock:
    """Frozen at the real time, aligned to the start of a TOTP step plus 5 s."""
    return FrozenClock((int(time.time()) // 30) * 30 + 5)


# Emptying the tables with DELETE and restarting every sequence takes 5-10 ms; TRUNCATE of all 66
# tables took 250 ms (a new file per table and index), before each of some 1,500 tests. A table
# whose own trigger refuses DELETE (audit_records: append-only, M-25) is truncated, first.
_RESTART_EVERY_SEQUENCE = ("SELECT setval(c.oid, 1, false) FROM pg_class c"
                           " WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace")
_TRIGGERED_TABLES = ("SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                     " WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace")
_ENGINES: dict[str, tuple[Any, str]] = {}


def _empty(url: str) -> None:
    """Every table of the models empty and every id counting from 1 again (as TRUNCATE ... RESTART
    IDENTITY did), on one connection kept for the session."""
    if url not in _ENGINES:
        engine = create_engine(url, pool_size=1, pool_pre_ping=True)
        with engine.connect() as conn:
            triggered = set(conn.exec_driver_sql(_TRIGGERED_TABLES).scalars())
        names = [table.name for table in reversed(Base.metadata.sorted_tables)]
        statements = []
        if triggered:
            statements.append("TRUNCATE " + ", ".join(f'"{name}"' for name in sorted(triggered)) + " RESTART IDENTITY CASCADE")
        statements += [f'DELETE FROM "{name}"' for name in names if name not in triggered]
        _ENGINES[url] = (engine, "; ".join(statements))
    engine, empty_every_table = _ENGINES[url]
    with engine.begin() as conn:
        conn.exec_driver_sql(empty_every_table)
        conn.exec_driver_sql(_RESTART_EVERY_SEQUENCE)
        # The schema outlives the test too: a retention test whose clock ran years ahead dropped this
        # month's partition, and the history then missed this month's records in later tests.
        partitions.ensure(conn, datetime.now(UTC), 2)
    partitions._oldest.clear()  # the oldest month, cached per database URL for 10 minutes


def _create_tables(url: str) -> None:
    """``db.create_all()`` of an app on ``url``, as each embedded test did for itself (110 ms a test)."""
    maker = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None})
    with maker.app_context():
        db.create_all()
    dispose(maker)


def make_app(backend: str, request: pytest.FixtureRequest, tmp_path: Any, clock: FrozenClock, wechat: WeChatStandIn, **extra: Any) -> Any:
    config: dict[str, Any] = {
        "TESTING": True, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET,
        "CARD_WECHAT_API_BASE": wechat.base_url,
        # The scenes' assurance minimum is off for the tests of other features (their holders bind by
        # knowledge); tests/integration/test_real_person.py runs with the default (issue 17)
        "CARD_SCENE_MIN_ASSURANCE": {}, **extra,
    }
    if backend == "embedded":
        config.update(SQLALCHEMY_DATABASE_URI=backends.sqlite_copy(tmp_path, "test.sqlite", "models", _create_tables), REDIS_URL=None)
    else:
        pg = request.getfixturevalue("pg_url")
        _empty(pg)
        config.update(SQLALCHEMY_DATABASE_URI=pg, REDIS_URL=request.getfixturevalue("redis_url"))
    if backend == "cluster":
        config.update(REDIS_URL=None, CARD_REDIS_CLUSTER_NODES=request.getfixturevalue("redis_cluster"),
                      CARD_REDIS_PREFIX=request.getfixturevalue("cluster_prefix"))
    return create_app(config, clock=clock)


@pytest.fixture(params=[*BACKENDS, CLUSTER])
def app(request: pytest.FixtureRequest, tmp_path: Any, clock: FrozenClock, wechat: WeChatStandIn) -> Iterator[Any]:
    application = make_app(request.param, request, tmp_path, clock, wechat)
    yield application
    dispose(application)


@pytest.fixture
def api(app: Any, wechat: WeChatStandIn, clock: FrozenClock) -> ApiClient:
    return ApiClient(app, wechat, clock)


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)
