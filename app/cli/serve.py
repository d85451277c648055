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
@click.option("--bind", type=BindAddress(), default="127.0.0.1:8000", show_default=True,
              help="HOST:PORT (port 1-65535), unix:PATH or fd://N")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Default: CARD_WORKERS (one per core)")
@click.option("--migrate/--no-migrate", default=True, show_default=True,
              help="Upgrade the schema first; --no-migrate skips the upgrade, not the start-up checks")
def serve(bind: str, workers: int | None, migrate: bool) -> None:
    """Serve the API with gunicorn (see app.server for the worker settings).

    Before starting it upgrades the schema (unless --no-migrate) and runs the start-up checks, the
    same as "citizencard check": the schema is at the migrations' head, the data keys open the
    stored values, the blind-index key remakes their indexes and the store answers. A failed check
    exits 1 naming it, and nothing is served."""
    from app.config import ConfigError
    from app.platform.crypto import KeyringError
    from app.server import run_gunicorn
    from app.startup_checks import StartupRefused

    try:
        run_gunicorn(bind, workers, migrate)
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
