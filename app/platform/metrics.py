"""Prometheus metrics (issue 19, item 1), through ``prometheus-client``.

Under gunicorn every worker is its own process: ``citizencard serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary directory unless the operator gives one), each
worker writes its values to files there, and a scrape of any worker adds up all of them
(``MultiProcessCollector``). Without that variable (tests, ``flask run``) the process's own
registry answers. Labels are bounded: a route is its URL rule (``/api/v1/partners/<partner_id>``),
never the path a client sent (an unmatched path is ``unmatched``), so no personal data and no
unbounded series (M-19).
"""
from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("card_http_requests_total", "HTTP requests answered, by route template and status",
                   ["method", "route", "status"])
LATENCY = Histogram("card_http_request_duration_seconds", "Time to answer an HTTP request, by route template",
                    ["method", "route"], buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
VERIFICATIONS = Counter("card_verifications_total", "Verification answers, by scene, outcome and reason",
                        ["scene", "outcome", "reason"])
UNAVAILABLE = Counter("card_unavailable_total", "503 answers, by cause (database, store, or the error code)", ["cause"])
BATCH_SIZE = Histogram("card_group_commit_batch_size", "Rows written by one group-commit INSERT (app.platform.group_commit)",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))


def verification(scene: str, accepted: bool, reason: str | None) -> None:
    _child(VERIFICATIONS, scene, "accepted" if accepted else "refused", reason or "none").inc()


def unavailable(cause: str) -> None:
    UNAVAILABLE.labels(cause).inc()


def group_commit_batch(size: int) -> None:
    BATCH_SIZE.observe(size)


def instrument(app: Flask) -> None:
    """Count and time every request by its route template and status (the first before_request
    hook, so the time includes the other hooks)."""
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request(_answered)


def _started() -> None:
    g.metrics_started = time.perf_counter()


def _answered(response: Any) -> Any:
    started, req = g.get("metrics_started"), request._get_current_object()  # type: ignore[attr-defined]
    rule = req.url_rule.rule if req.url_rule is not None else "unmatched"
    _child(REQUESTS, req.method, rule, str(response.status_code)).inc()
    if started is not None:
        _child(LATENCY, req.method, rule).observe(time.perf_counter() - started)
    return response


_CHILDREN: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, kept: ``labels`` takes a lock and checks its values on every call
    (the label sets are bounded, see the module's docstring)."""
    key = (metric, *labels)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*labels)
    return child


def exposition() -> tuple[bytes, str]:
    """The text format of every metric: of all gunicorn workers in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """gunicorn's ``child_exit`` hook: a dead worker's live gauges are dropped (counters stay)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
