"""``citizencard sandbox up`` and ``sandbox seed``: the integrators' sandbox (app/sandbox.py,
docs/partner-api.md "The sandbox"). CARD_SANDBOX=1 is set for them; CARD_ENV=production refuses."""
from __future__ import annotations

import os

import click

from app.cli.serve import BindAddress


def _sandbox_app() -> object:
    from app import create_app
    from app.config import ConfigError

    os.environ["CARD_SANDBOX"] = "1"  # inherited by gunicorn's workers
    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def _seed(app: object) -> None:
    from app import sandbox
    from app.runtime import runtime

    with app.app_context():  # type: ignore[attr-defined]
        sandbox.seed(runtime())
    click.echo(f"sandbox: {len(sandbox.residents())} test residents on the roster; POST /api/sandbox/v1/partners "
               "for a test partner, /api/sandbox/v1/e-card-codes for a valid code (docs/partner-api.md)")


@click.group("sandbox")
def sandbox() -> None:
    """The integrators' sandbox: test partners, residents, login and e-card codes (never in production)."""


@sandbox.command("seed")
def seed() -> None:
    """Put the test residents on the roster of the database in DATABASE_URL (idempotent)."""
    _seed(_sandbox_app())


@sandbox.command("up")
@click.option("--bind", type=BindAddress(), default=None, help="HOST:PORT  [default: 127.0.0.1:8000]")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Default: CARD_WORKERS")
def up(bind: str | None, workers: int | None) -> None:
    """Migrate, seed the test residents and serve with CARD_SANDBOX=1 (citizencard serve's start-up checks)."""
    from app.server import run_gunicorn, upgrade_schema
    from app.startup_checks import StartupRefused

    app = _sandbox_app()
    upgrade_schema(app)
    _seed(app)
    try:
        run_gunicorn(bind, workers, migrate=False)
    except StartupRefused as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None
