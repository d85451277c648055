"""Running the app under gunicorn (``citizencard serve``).

Workers: ``CARD_WORKERS`` (default one per core) of the ``gevent`` class, up to 1,000
connections each: a client that sends its request slowly holds one greenlet, not a thread or a
worker (with ``gthread``, 64 clients trickling their headers kept a 3-worker server from
answering anyone; tests/e2e/test_slow_clients.py). psycopg 3 detects gevent's monkey-patching and
waits cooperatively; redis-py and SQLAlchemy's pool use the patched socket and threading modules.
The schema is upgraded once, in the master, before workers start (once the keys and the store have
passed on the database as it was); then the start-up checks (app/startup_checks.py) must pass, or
``serve`` exits 1 with one line saying why.
"""
from __future__ import annotations

import gc
import glob
import json
import os
import re
import shutil
import sys
import tempfile
from typing import Any

import gunicorn.util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from app.platform import metrics
from app.platform.errors import AppError
from app.platform.http_errors import HTTP_CODES

GUNICORN_SETTINGS = {
    "worker_class": "gevent",
    "worker_connections": 1000,
    "timeout": 30,
    "graceful_timeout": 20,
    "keepalive": 5,
    "limit_request_line": 4094,
    "limit_request_fields": 50,
    "limit_request_field_size": 8190,
    "accesslog": "-",
    "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
    "logger_class": "app.server.SafeLogger",
    # gunicorn's runtime control socket is one path per user: two servers on a machine would
    # fight over it, and nothing here uses it.
    "control_socket_disable": True,
    "post_worker_init": lambda worker: freeze_startup_heap(),
    "child_exit": lambda server, worker: metrics.worker_exited(worker.pid),
    "on_exit": lambda server: _remove_own_metrics_directory(),
}
OWN_METRICS_DIR = "CITIZENCARD_OWN_METRICS_DIR"  # set when serve made the directory: the master removes it on exit


def freeze_startup_heap() -> None:
    """Move every object alive once a worker has loaded the app into the collector's permanent
    generation (``gc.freeze``, Python docs "gc"), so a full collection no longer walks them.

    A worker holds about 200,000 objects after start-up (Flask, SQLAlchemy, marshmallow, the
    routes). Unfrozen, the full collection that the caches' slow growth sets off now and then
    walked all of them: one stopped a worker for 116 ms during a 500/s run of bench/verify.py with
    20,000 citizens (verification p99 25-32 ms in two runs); frozen, the worst collection took
    under 2 ms (p99 9-27 ms in three such runs; docs/operations.md "Sizing" has the larger runs).
    Objects made after start-up are collected as usual."""
    gc.freeze()


class SafeLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with request-supplied text escaped: an encoded newline in a path
    cannot forge a log line, and the log stays ASCII. gunicorn's own messages about a bad request
    quote its request line: the query string (which may carry personal data) is cut out."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        return {key: _printable(value) if isinstance(value, str) else value
                for key, value in super().atoms(resp, req, environ, request_time).items()}

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().critical(_redacted(msg), *args, **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().error(_redacted(msg), *args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().warning(_redacted(msg), *args, **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().info(_redacted(msg), *args, **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().debug(_redacted(msg), *args, **kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().exception(_redacted(msg), *args, **kwargs)


def _printable(text: str) -> str:
    return text if text.isascii() and text.isprintable() else text.encode("unicode_escape").decode("ascii")


_QUERY = re.compile(r"\?[^\s'\"]*")


def _redacted(message: Any) -> str:
    """``message`` with every query string replaced by ``?<query>``, escaped to printable ASCII."""
    return _printable(_QUERY.sub("?<query>", str(message)))


def _json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own refusals (bad request line, 414, 431, ...) in our JSON envelope, not HTML.
    The detail text is not echoed: it may quote the request."""
    envelope = AppError(HTTP_CODES.get(status_int, "bad_request"), status_int, reason.lower()).envelope()
    body = json.dumps(envelope).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)


gunicorn.util.write_error = _json_error  # workers answer gunicorn-level errors through this function


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from app import create_app

        return create_app()


def gunicorn_options(bind: str, workers: int) -> dict[str, Any]:
    """The options ``serve`` (and the e2e tests and benchmarks) run gunicorn with."""
    # gunicorn itself reads X-Forwarded-Proto (its secure_scheme_headers) from these peers only: the
    # same list as app/platform/proxies.py, not its default of loopback (issue 19, item 3).
    trusted = os.environ.get("CARD_TRUSTED_PROXIES", "")
    return {**GUNICORN_SETTINGS, "bind": bind, "workers": workers, "forwarded_allow_ips": trusted}


# The gunicorn process starts in a fresh interpreter that monkey-patches before importing anything:
# patched after urllib3 (requests) imported ssl, outgoing HTTPS calls would block a worker's hub.
_GEVENT_LAUNCH = ("from gevent import monkey; monkey.patch_all()\n"
                  "import sys\nfrom app.server import serve_forever\nserve_forever(sys.argv[1], int(sys.argv[2]))")


def run_gunicorn(bind: str, workers: int | None, migrate: bool) -> None:
    """Check the configuration; if ``migrate``, check the keys and the store on the database as it is
    and upgrade the schema; run the start-up checks (schema at the migrations' head, stored values
    open with CARD_DATA_KEYS, blind indexes match CARD_BLIND_INDEX_KEY, the store answers:
    app.startup_checks, which raises StartupRefused), then replace this process with a freshly
    monkey-patched gunicorn master (:data:`_GEVENT_LAUNCH`) that serves until stopped."""
    from app import create_app
    from app.startup_checks import run_checks_before_migrating, run_startup_checks

    metrics_directory()
    app = create_app()
    if migrate:
        run_checks_before_migrating(app)  # a misconfigured release refuses before it changes the schema
        upgrade_schema(app)
    report = run_startup_checks(app)
    # Printed, not logged: after a migration, alembic.ini's root handler would print a log line twice.
    print(f"start-up checks passed: {report.summary()}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-c", _GEVENT_LAUNCH, bind, str(workers or app.config["CARD_WORKERS"])])  # noqa: S606


def metrics_directory() -> str:
    """The directory where gunicorn's workers keep their metrics (prometheus-client's multiprocess
    mode, app.platform.metrics): ``PROMETHEUS_MULTIPROC_DIR`` if set, emptied of an earlier run's
    files (the library's rule: values must not outlive the server); else a new temporary directory,
    set in the environment the gunicorn master and its workers inherit."""
    path = os.environ.get(metrics.MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
    else:
        path = os.environ[metrics.MULTIPROC_ENV] = os.environ[OWN_METRICS_DIR] = tempfile.mkdtemp(prefix="citizencard-metrics-")
    return path


def _remove_own_metrics_directory() -> None:
    path = os.environ.get(OWN_METRICS_DIR)
    if path and path == os.environ.get(metrics.MULTIPROC_ENV):
        shutil.rmtree(path, ignore_errors=True)


def serve_forever(bind: str, workers: int) -> None:
    """The gunicorn master (``citizencard serve`` after its checks): runs until stopped."""
    _Gunicorn(gunicorn_options(bind, workers)).run()


def upgrade_schema(app: Any) -> None:
    """Apply every migration to the app's database (Flask-Migrate ``upgrade``)."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
