"""Where the tests find PostgreSQL and Redis, and whether they may skip without them.

``TEST_DATABASE_URL`` (default: PostgreSQL on 127.0.0.1:5432, database ``test``) is the admin
connection; each pytest-xdist worker gets its own database ``cc_test_<worker>``.
``TEST_REDIS_URL`` (default redis://127.0.0.1:6379/0): each worker uses its own database number.
``TEST_NAMESPACE`` (default empty) goes into every database name, so two checkouts can run their
tests at once: give each its own namespace and its own Redis (``TEST_REDIS_URL``).
End-to-end servers that do not test the migrations themselves start on a database already at the
migrations' head (:func:`migrated_postgres`, :func:`migrated_sqlite`): a copy of a template this
worker migrates once per session, so each ``citizencard serve`` runs its upgrade as a no-op
instead of migrating an empty database (seconds per server on a loaded machine).
``TEST_REDIS_CLUSTER_PORT`` (default 7000): the first of the six ports of the test Redis Cluster
(scripts/redis-cluster), started by :func:`redis_cluster_nodes` when it is down. A cluster has one
database only: each worker keeps its keys under its own prefix (:func:`cluster_prefix`).
Under ``CI=true`` a missing server fails the run instead of skipping.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import redis
from redis.cluster import RedisCluster
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"
NAMESPACE = os.environ.get("TEST_NAMESPACE", "")
REDIS_CLUSTER_PORT = int(os.environ.get("TEST_REDIS_CLUSTER_PORT", "7000"))
REDIS_CLUSTER_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "redis-cluster"


def worker_number(worker_id: str) -> int:
    return 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))


def unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(message + " (CI=true: PostgreSQL and Redis tests must run)", pytrace=False)
    pytest.skip(message)


def postgres_url(worker_id: str) -> str:
    """A fresh database ``cc_<namespace>test_<worker>`` for this worker; created on first use."""
    admin = make_url(ADMIN_URL)
    name = f"cc_{NAMESPACE}test_{worker_number(worker_id)}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=3) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        unavailable("PostgreSQL", exc)
    return admin.set(database=name).render_as_string(hide_password=False)


def redis_url(worker_id: str) -> str:
    """This worker's Redis database (1 + worker number), emptied."""
    url = REDIS_URL.rsplit("/", 1)[0] + f"/{1 + worker_number(worker_id)}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).flushdb()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    return url


def start_redis_cluster(first_port: int, workdir: str | None = None) -> str:
    """``scripts/redis-cluster start first_port`` (idempotent: starts what is down, creates the
    cluster if new, waits for cluster_state:ok); returns ``127.0.0.1:<first_port>``, a
    CARD_REDIS_CLUSTER_NODES value. Raises RuntimeError with the script's output if it fails."""
    env = {**os.environ, **({"REDIS_CLUSTER_DIR": workdir} if workdir else {})}
    done = subprocess.run([str(REDIS_CLUSTER_SCRIPT), "start", str(first_port)], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/redis-cluster start {first_port} failed: {done.stdout}{done.stderr}")
    return f"127.0.0.1:{first_port}"


def redis_cluster_nodes() -> str:
    """The test Redis Cluster (``TEST_REDIS_CLUSTER_PORT``), started if it is down."""
    try:
        return start_redis_cluster(REDIS_CLUSTER_PORT)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        unavailable("Redis Cluster", exc)
        raise


def cluster_prefix(worker_id: str) -> str:
    """This worker's key prefix in the shared test cluster, its keys deleted on every primary."""
    prefix = f"cc:{NAMESPACE}w{worker_number(worker_id)}:"
    nodes = RedisCluster(host="127.0.0.1", port=REDIS_CLUSTER_PORT, socket_connect_timeout=3)
    try:
        for node in nodes.get_primaries():
            client = nodes.get_redis_connection(node)
            for key in client.scan_iter(match=prefix + "*", count=1000):
                client.delete(key)
    finally:
        nodes.close()
    return prefix


def fresh_postgres(worker_id: str, purpose: str, template: str | None = None) -> str:
    """An empty database ``cc_<namespace><purpose>_<worker>`` (dropped first if it exists), or a copy
    of the database ``template``; returns its URL."""
    admin = make_url(postgres_url(worker_id))
    name = f"cc_{NAMESPACE}{purpose}_{worker_number(worker_id)}"
    copied = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"{copied}')
    return admin.set(database=name).render_as_string(hide_password=False)


# This process's migrated templates (an xdist worker is one process for the whole session): built
# on first use, never reused from an earlier run, whose migrations may have been different.
_TEMPLATES: dict[str, str] = {}


def _migrate(url: str) -> None:
    """``citizencard db upgrade`` (the app's own migrations) on ``url``, in a subprocess that exits
    when done: no connection to the database outlives it."""
    instance = tempfile.mkdtemp(prefix="cc-template-instance-")
    env = {**os.environ, "DATABASE_URL": url, "CARD_INSTANCE_PATH": instance}
    env.pop("REDIS_URL", None)
    try:
        done = subprocess.run([sys.executable, "-m", "app", "db", "upgrade"], env=env, capture_output=True,  # noqa: S603
                              text=True, timeout=300, check=False)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"migrating the template {url} failed:\n{done.stdout}{done.stderr}")


def _postgres_template(worker_id: str) -> str:
    """``cc_<namespace>template_<worker>``: dropped, created and migrated on first use in this session."""
    name = _TEMPLATES.get("postgres")
    if name is None:
        url = fresh_postgres(worker_id, "template")
        _migrate(url)
        name = make_url(url).database
        admin = make_url(postgres_url(worker_id)).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:  # nobody connects to it by mistake from here on
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        _TEMPLATES["postgres"] = name
    return name  # type: ignore[return-value]


def migrated_postgres(worker_id: str, purpose: str) -> str:
    """Like :func:`fresh_postgres`, but the new database is already at the migrations' head: ``CREATE
    DATABASE ... TEMPLATE`` this worker's template (migrated once per session). For servers whose
    test is not about migrating; ``serve`` still runs its upgrade (a no-op) and its start-up checks."""
    return fresh_postgres(worker_id, purpose, _postgres_template(worker_id))


def _sqlite_template(kind: str, build: Callable[[str], None]) -> Path:
    """An SQLite file that ``build(url)`` filled, made once per session and ``kind`` (``migrated``,
    ``models``) in a directory removed at exit."""
    path = _TEMPLATES.get(f"sqlite-{kind}")
    if path is None:
        directory = tempfile.mkdtemp(prefix=f"cc-sqlite-{kind}-")
        atexit.register(shutil.rmtree, directory, True)
        path = os.path.join(directory, "template.sqlite")
        build(f"sqlite:///{path}")
        with contextlib.closing(sqlite3.connect(path)) as conn:  # the whole schema in the one file: copyable alone
            conn.execute("PRAGMA journal_mode=DELETE")
        _TEMPLATES[f"sqlite-{kind}"] = path
    return Path(path)


def sqlite_copy(tmp_path: Path, filename: str, kind: str, build: Callable[[str], None]) -> str:
    """A copy of this session's SQLite template ``kind`` (made by ``build`` on first use) at
    ``tmp_path/filename``; returns its URL. A copy takes well under 1 ms."""
    target = Path(tmp_path) / filename
    shutil.copyfile(_sqlite_template(kind, build), target)
    return f"sqlite:///{target}"


def migrated_sqlite(tmp_path: Path, filename: str = "e2e.sqlite") -> str:
    """A copy of this session's SQLite template at the migrations' head; returns its URL."""
    return sqlite_copy(tmp_path, filename, "migrated", _migrate)
