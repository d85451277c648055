"""Probes and metrics for the operator (issue 19, item 1; docs/operations.md "Probes and metrics").

- ``GET /healthz``: the process answers; touches nothing else (a liveness probe).
- ``GET /readyz``: the database answers, the store answers, and the schema is at the migrations'
  head; otherwise 503 ``not_ready`` in the one error envelope, naming what failed
  (``details.failed``), never a host name or password.
- ``GET /metrics``: Prometheus text (app.platform.metrics), only to a client on a
  ``CARD_METRICS_ALLOW`` network (default loopback) that did not come through a proxy, or with
  ``Authorization: Bearer <CARD_METRICS_TOKEN>``; otherwise 404 ``not_found``, as for any unknown path.

None of them is a partner operation: they are a plain blueprint, outside the OpenAPI document.
"""
from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
from typing import Any

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import text

from app.extensions import db, migrate
from app.platform import metrics
from app.platform.errors import AppError
from app.platform.proxies import FORWARDED_KEY
from app.runtime import runtime

log = logging.getLogger(__name__)
blp = Blueprint("probes", __name__)


@blp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> Any:
    failed = [name for name, check in (("database", _database), ("store", _store), ("migrations", _migrations))
              if not _passes(name, check)]
    if failed:
        raise AppError("not_ready", 503, f"not ready: {', '.join(failed)}", {"failed": failed},
                       headers={"Retry-After": "1"})
    return jsonify(status="ready")


def _passes(name: str, check: Any) -> bool:
    try:
        return bool(check())
    except Exception as exc:  # a probe answers; it never raises
        log.warning("readiness: %s failed: %s", name, type(exc).__name__)
        db.session.rollback()
        return False


def _database() -> bool:
    db.session.execute(text("SELECT 1"))
    db.session.commit()
    return True


def _store() -> bool:
    runtime().store.ping()
    return True


@functools.cache
def _heads(directory: str) -> frozenset[str]:
    """The migrations' heads (read once per process: the code does not change while it runs)."""
    return frozenset(ScriptDirectory.from_config(migrate.get_config(directory)).get_heads())


def _migrations() -> bool:
    with db.engine.connect() as connection:
        current = frozenset(MigrationContext.configure(connection).get_current_heads())
    return current == _heads(str(current_app.extensions["migrate"].directory))


@blp.get("/metrics")
def prometheus() -> Any:
    if not _may_scrape():
        raise AppError("not_found", 404, "not found")
    body, content_type = metrics.exposition()
    return Response(body + _default_partition_gauge(), content_type=content_type)


DEFAULT_ROWS_CAP = 10_000


def _default_partition_gauge() -> bytes:
    """``card_verifications_default_partition_rows``: rows in the default partition of the
    verification records (PostgreSQL; counted up to 10,000 at each scrape; alert above 0: a month
    had no partition, docs/operations.md "Partitioned verification records"). Absent on SQLite or
    when the database does not answer."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest
    from sqlalchemy.exc import SQLAlchemyError

    from app.scanning import partitions

    try:
        with db.engine.connect() as conn:
            rows = partitions.default_rows(conn, DEFAULT_ROWS_CAP) if partitions.is_partitioned(conn) else None
    except SQLAlchemyError:
        return b""
    if rows is None:
        return b""
    registry = CollectorRegistry()
    Gauge("card_verifications_default_partition_rows", "Verification records in the default partition (capped at 10,000)",
          registry=registry).set(rows)
    return generate_latest(registry)


def _may_scrape() -> bool:
    token = current_app.config.get("CARD_METRICS_TOKEN")
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode()):
        return True
    if request.environ.get(FORWARDED_KEY):
        return False  # came through a proxy (trusted or not): the address does not let it in, a token may
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in current_app.config.get("CARD_METRICS_ALLOW") or ())


def register(app: Flask) -> None:
    metrics.instrument(app)
    app.register_blueprint(blp)
