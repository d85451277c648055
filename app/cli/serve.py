"""``citizencard serve``, ``check`` and ``demo``: run the platform, check it would start, show the whole story."""
from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import with_appcontext


class BindAddress(click.ParamType):
    """An address gunicorn can listen on, read by gunicorn's own parser: ``HOST:PORT`` (port
    1-65535; ``[::1]:8000`` for IPv6), ``unix:PATH`` or ``fd://N``. Checked before anything else
    runs: gunicorn would only fail on it after the start-up checks and the migration."""

    name = "address"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from gunicorn.util import parse_address

        try:
            address = parse_address(str(value))
        except RuntimeError as exc:  # gunicorn's words: "'x' is not a valid port number."
            self.fail(f"{exc} Give HOST:PORT, unix:PATH or fd://N", param, ctx)
        if isinstance(address, tuple) and not 1 <= address[1] <= 65535:
            self.fail(f"port {address[1]} is not within 1-65535", param, ctx)
        if address == "":
            self.fail("unix: needs a socket path (unix:/run/citizencard.sock)", param, ctx)
        return str(value)



@click.command("serve")
@click.option("--bind", type=BindAddress(), default=None,
              help="HOST:PORT (port 1-65535), unix:PATH or fd://N  [default: 127.0.0.1:8000, or the gunicorn settings']")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Default: CARD_WORKERS (one per core), or the gunicorn settings'")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A gunicorn config file (Python: workers = 4, statsd_host = ...)")
@click.option("--migrate/--no-migrate", default=True, show_default=True,
              help="Upgrade the schema first; --no-migrate skips the upgrade, not the start-up checks")
def serve(bind: str | None, workers: int | None, config_file: str | None, migrate: bool) -> None:
    """Serve the API with gunicorn (gevent workers; see app.server for the defaults).

    Before starting it upgrades the schema (unless --no-migrate) and runs the start-up checks, the
    same as "citizencard check": the schema is at the migrations' head, the data keys open the
    stored values, the blind-index key remakes their indexes and the store answers. A failed check
    exits 1 naming it, and nothing is served.

    \b
    gunicorn settings, each over the one before:
      1. defaults: gevent workers (CARD_WORKERS of them), 1000 connections each,
         timeout 30, graceful_timeout 20, keepalive 5, access log to stderr
      2. --config FILE (or --config in GUNICORN_CMD_ARGS): a gunicorn config file
      3. CARD_GUNICORN_<SETTING> variables, any gunicorn setting by name, e.g.
         CARD_GUNICORN_WORKERS=8  CARD_GUNICORN_WORKER_CLASS=gevent
         CARD_GUNICORN_THREADS=4  CARD_GUNICORN_TIMEOUT=60
         CARD_GUNICORN_GRACEFUL_TIMEOUT=30  CARD_GUNICORN_KEEPALIVE=5
         CARD_GUNICORN_BIND=0.0.0.0:8000  CARD_GUNICORN_WORKER_CONNECTIONS=1000
         CARD_GUNICORN_STATSD_HOST=stats:8125  CARD_GUNICORN_STATSD_PREFIX=card
         CARD_GUNICORN_ACCESSLOG=-  CARD_GUNICORN_ERRORLOG=-  CARD_GUNICORN_LOGLEVEL=info
         CARD_GUNICORN_ACCESS_LOG_FORMAT='%(h)s "%(m)s %(U)s" %(s)s'
      4. GUNICORN_CMD_ARGS: gunicorn's own options ("--threads 4 --timeout 60")
      5. --bind and --workers given here
    A setting gunicorn does not know or refuses stops serve before the migration, naming it;
    logger_class stays app.server.SafeLogger (it keeps query strings out of the log)."""
    from app.config import ConfigError
    from app.platform.crypto import KeyringError
    from app.server import run_gunicorn
    from app.startup_checks import StartupRefused

    try:
        run_gunicorn(bind, workers, migrate, config_file)
    except StartupRefused as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None
    except (ConfigError, KeyringError) as exc:  # every refused setting, one per line (issue 19, item 6)
        raise click.ClickException(f"configuration: {exc}") from None


@click.command("check")
@with_appcontext
def check() -> None:
    """The checks "citizencard serve" runs before starting: the schema is at the migrations' head,
    CARD_DATA_KEYS opens the stored encrypted values (every one in a small table, a sample of a
    large one), CARD_BLIND_INDEX_KEY remakes their
    blind indexes and the store answers. Exit 1 naming the first failure; else one line naming what
    was checked."""
    from flask import current_app

    from app.startup_checks import StartupRefused, run_startup_checks

    try:
        report = run_startup_checks(current_app)
    except StartupRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"ok: {report.summary()}")


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the demo's database folder")
def demo(keep: bool) -> None:
    """The whole story on the embedded default: roster, login, binding, QR, scan, verify, replay."""
    from app.demo import run_demo

    sys.exit(run_demo(keep))
