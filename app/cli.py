"""``citizencard ...``: demo, serve, roster, partner, and Flask-Migrate's ``db`` commands."""
from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from .runtime import runtime


def _create_app() -> Flask:
    from . import create_app
    from .config import ConfigError
    from .crypto import KeyringError

    try:
        return create_app()
    except (ConfigError, KeyringError) as exc:
        raise click.ClickException(f"configuration: {exc}") from None


class CardGroup(FlaskGroup):
    """Turns database failures into one-line errors instead of tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import ArgumentError, OperationalError

        try:
            return super().invoke(ctx)
        except OperationalError as exc:
            raise click.ClickException(f"database unreachable ({type(exc.orig).__name__}); check DATABASE_URL") from None
        except ArgumentError:
            raise click.ClickException("DATABASE_URL is not a database URL SQLAlchemy understands") from None


@click.group(cls=CardGroup, create_app=_create_app, add_version_option=False, load_dotenv=False)
def main() -> None:
    """Dongguan Citizen Card platform. Settings come from the environment (docs/operations.md)."""


@main.group()
def roster() -> None:
    """The resident roster (M-5, M-17)."""


@roster.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def roster_import(path: str) -> None:
    """Import a roster CSV (header name,id_number,phone,insured). Exit 1 if rows were rejected."""
    from .services.roster import RosterFileError, import_roster

    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            report = import_roster(runtime(), stream)
    except RosterFileError as exc:
        raise click.ClickException(str(exc)) from None
    for line, reason in report.rejected:
        click.echo(f"line {line}: rejected: {reason}", err=True)
    click.echo(f"inserted {report.inserted}, updated {report.updated}, unchanged {report.unchanged}, "
               f"rejected {len(report.rejected)}")
    sys.exit(1 if report.rejected else 0)


@main.group()
def partner() -> None:
    """Partners that verify codes through the signed API."""


@partner.command("create")
@click.option("--name", required=True, help="The partner's display name")
@click.option("--scenes", required=True, help="Comma-separated scenes, e.g. transit,culture")
@click.option("--json", "as_json", is_flag=True, help='Print {"partner_id", "secret"} as JSON')
@with_appcontext
def partner_create(name: str, scenes: str, as_json: bool) -> None:
    """Create a partner; prints its id and secret ONCE (the secret is stored encrypted)."""
    from scenes.registry import SCENE_NAMES

    from .services.partners import create_partner

    try:
        credentials = create_partner(runtime(), name, scenes.split(","), SCENE_NAMES)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}; known scenes: {', '.join(SCENE_NAMES)}") from None
    if as_json:
        click.echo(json.dumps({"partner_id": credentials.partner_id, "secret": credentials.secret}))
    else:
        click.echo(f"partner_id: {credentials.partner_id}\nsecret:     {credentials.secret}\n"
                   "Store the secret now: it is not shown again.")


@partner.command("list")
@with_appcontext
def partner_list() -> None:
    """List partners (never their secrets)."""
    from .services.partners import list_partners

    for item in list_partners():
        state = "disabled" if item.disabled_at else "active"
        click.echo(f"{item.partner_id}\t{state}\t{item.scenes}\t{item.name}")


@main.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Default: CARD_WORKERS (2 x cores + 1)")
@click.option("--migrate/--no-migrate", default=True, show_default=True, help="Upgrade the schema first")
def serve(bind: str, workers: int | None, migrate: bool) -> None:
    """Serve the API with gunicorn (see app.server for the worker settings)."""
    from .server import run_gunicorn

    run_gunicorn(bind, workers, migrate)


@main.command("demo")
@click.option("--keep", is_flag=True, help="Keep the demo's database folder")
def demo(keep: bool) -> None:
    """The whole story on the embedded default: roster, login, binding, QR, scan, verify, replay."""
    from .demo import run_demo

    sys.exit(run_demo(keep))


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))
