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
from gunicorn.config import Config
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
    def __init__(self, config: Config) -> None:
        self.built = config
        super().__init__()

    def load_config(self) -> None:
        self.cfg = self.built

    def load(self) -> Any:
        from app import create_app

        return create_app()


def gunicorn_options(bind: str, workers: int, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The options ``serve`` runs gunicorn with before the operator's (:func:`gunicorn_config`)."""
    # gunicorn itself reads X-Forwarded-Proto (its secure_scheme_headers) from these peers only: the
    # same list as app/platform/proxies.py, not its default of loopback (issue 19, item 3).
    env = os.environ if environ is None else environ
    options = {**GUNICORN_SETTINGS, "bind": bind, "workers": workers, "forwarded_allow_ips": env.get("CARD_TRUSTED_PROXIES", "")}
    if (env.get("CARD_LOG_FORMAT") or ("json" if env.get("CARD_ENV") == "production" else "text")) == "json":
        options["accesslog"] = None  # the app logs each request as JSON (app.platform.logs): not twice
    return options


DEFAULT_BIND = "127.0.0.1:8000"
ENV_PREFIX = "CARD_GUNICORN_"
LOCKED = {"logger_class": "app.server.SafeLogger keeps query strings and control characters out of the log"}


def gunicorn_config(bind: str | None, workers: int | None, default_workers: int, config_file: str | None = None,
                    environ: dict[str, str] | None = None) -> Config:
    """gunicorn's settings for ``serve`` (issue 19, item 4), each layer over the one before:
    :data:`GUNICORN_SETTINGS` with ``CARD_WORKERS`` workers on :data:`DEFAULT_BIND`; then the
    Python config FILE (``serve --config``, or ``--config`` in GUNICORN_CMD_ARGS), as gunicorn reads one;
    then each ``CARD_GUNICORN_<SETTING>`` variable (``CARD_GUNICORN_THREADS=4``,
    ``CARD_GUNICORN_STATSD_HOST=stats:8125``); then ``GUNICORN_CMD_ARGS`` (gunicorn's own
    command-line options); last ``serve --bind`` / ``--workers`` when given. Every setting is
    checked by gunicorn's own validator; all refusals are raised together as one ConfigError."""
    from app.config import ConfigError

    env = dict(os.environ if environ is None else environ)
    config, problems = Config(), []

    def put(name: str, value: Any, source: str) -> None:
        if name in LOCKED and value != GUNICORN_SETTINGS.get(name):
            problems.append(f"{source}: {name} cannot be changed ({LOCKED[name]})")
            return
        try:
            config.set(name, value)
        except AttributeError:
            problems.append(f"{source}: gunicorn has no setting {name!r}")
        except (ValueError, TypeError) as exc:
            problems.append(f"{source}: {exc}")

    for name, value in gunicorn_options(DEFAULT_BIND, default_workers, env).items():
        config.set(name, value)
    cmd_args = _cmd_args(config, env, problems)
    for name, value in _config_file(config_file or getattr(cmd_args, "config", None), problems).items():
        put(name, value, "config file")
    for variable in sorted(name for name in env if name.startswith(ENV_PREFIX)):
        put(variable.removeprefix(ENV_PREFIX).lower(), env[variable], variable)
    for name, value in vars(cmd_args).items():
        if value is not None and name not in ("args", "config"):
            put(name, value, "GUNICORN_CMD_ARGS")
    if bind:
        put("bind", bind, "--bind")
    if workers:
        put("workers", workers, "--workers")
    if problems:
        raise ConfigError(problems[0] if len(problems) == 1 else "\n".join(
            [f"{len(problems)} gunicorn settings are refused:", *problems]), problems)
    return config


def _cmd_args(config: Config, env: dict[str, str], problems: list[str]) -> Any:
    """``GUNICORN_CMD_ARGS`` parsed by gunicorn's own option parser (as ``gunicorn`` itself honours it)."""
    import argparse
    import contextlib
    import io
    import shlex

    raw = env.get("GUNICORN_CMD_ARGS", "")
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return config.parser().parse_args(shlex.split(raw))
    except (SystemExit, ValueError):
        problems.append("GUNICORN_CMD_ARGS: not understood by gunicorn's option parser (see gunicorn --help)")
        return argparse.Namespace()


def _config_file(path: str | None, problems: list[str]) -> dict[str, Any]:
    """The settings a gunicorn Python config file assigns (other names in it are ignored, as gunicorn does)."""
    import runpy

    if not path:
        return {}
    if not os.path.isfile(path):
        problems.append(f"config file {path!r} does not exist")
        return {}
    try:
        values = runpy.run_path(path)
    except Exception as exc:  # the operator's Python: name its error, not a traceback
        problems.append(f"config file {path!r} failed: {type(exc).__name__}: {exc}")
        return {}
    settings = Config().settings
    return {name: value for name, value in values.items() if name in settings}


# The gunicorn process starts in a fresh interpreter that monkey-patches before importing anything:
# patched after urllib3 (requests) imported ssl, outgoing HTTPS calls would block a worker's hub.
_GEVENT_LAUNCH = ("from gevent import monkey; monkey.patch_all()\n"
                  "import sys\nfrom app.server import serve_forever\nserve_forever(*sys.argv[1:])")


def run_gunicorn(bind: str | None, workers: int | None, migrate: bool, config_file: str | None = None) -> None:
    """Check the configuration; if ``migrate``, check the keys and the store on the database as it is
    and upgrade the schema; run the start-up checks (schema at the migrations' head, stored values
    open with CARD_DATA_KEYS, blind indexes match CARD_BLIND_INDEX_KEY, the store answers:
    app.startup_checks, which raises StartupRefused), then replace this process with a freshly
    monkey-patched gunicorn master (:data:`_GEVENT_LAUNCH`) that serves until stopped."""
    from app import create_app
    from app.startup_checks import run_checks_before_migrating, run_startup_checks

    app = create_app()
    gunicorn_config(bind, workers, app.config["CARD_WORKERS"], config_file)  # refused settings: before the migration
    if migrate:
        run_checks_before_migrating(app)  # a misconfigured release refuses before it changes the schema
        upgrade_schema(app)
    report = run_startup_checks(app)
    # Printed, not logged: after a migration, alembic.ini's root handler would print a log line twice.
    print(f"start-up checks passed: {report.summary()}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    launch = [bind or "", str(workers or ""), str(app.config["CARD_WORKERS"]), config_file or ""]
    added = metrics_environment()
    before = {name: os.environ.get(name) for name in added}
    os.environ.update(added)  # inherited by the gunicorn master and its workers
    try:
        os.execv(sys.executable, [sys.executable, "-c", _GEVENT_LAUNCH, *launch])  # noqa: S606
    finally:  # reached only when exec is stubbed out (tests): leave this process as it was
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def metrics_environment() -> dict[str, str]:
    """The variables that give gunicorn's workers a directory for their metrics (prometheus-client's
    multiprocess mode, app.platform.metrics): ``PROMETHEUS_MULTIPROC_DIR`` if set, emptied of an
    earlier run's files (the library's rule: values must not outlive the server); else a new
    temporary directory, which the master removes on exit."""
    path = os.environ.get(metrics.MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
        return {metrics.MULTIPROC_ENV: path}
    path = tempfile.mkdtemp(prefix="citizencard-metrics-")
    return {metrics.MULTIPROC_ENV: path, OWN_METRICS_DIR: path}


def _remove_own_metrics_directory() -> None:
    path = os.environ.get(OWN_METRICS_DIR)
    if path and path == os.environ.get(metrics.MULTIPROC_ENV):
        shutil.rmtree(path, ignore_errors=True)


def serve_forever(bind: str, workers: str, default_workers: str, config_file: str) -> None:
    """The gunicorn master (``citizencard serve`` after its checks): runs until stopped."""
    _Gunicorn(gunicorn_config(bind or None, int(workers) if workers else None, int(default_workers), config_file or None)).run()


def upgrade_schema(app: Any) -> None:
    """Apply every migration to the app's database (Flask-Migrate ``upgrade``)."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
