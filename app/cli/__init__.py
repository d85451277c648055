"""``citizencard ...``: the operators' command line, one module per command group (roster, partner, disburse,
notify, card, flags, financial-account, staff, audit, keys, offline, partitions, retention, sandbox, serve,
check, demo, calendar) beside Flask-Migrate's ``db`` commands."""
from __future__ import annotations

from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup

from app.cli import audit, card, disburse, hub, keys, money, offline, partitions, partner, retention, roster, sandbox, serve, staff
from app.cli.calendar_days import calendar
from app.cli.catalogue import catalogue as catalogue_commands
from app.cli.payments import payments as payment_commands
from app.cli.rp import rp as rp_commands


def _create_app() -> Flask:
    from app import create_app
    from app.config import ConfigError
    from app.platform.crypto import KeyringError

    try:
        return create_app()
    except (ConfigError, KeyringError) as exc:
        raise click.ClickException(f"configuration: {exc}") from None


class CardGroup(FlaskGroup):
    """Turns failures into one-line errors instead of tracebacks: an operator at 3 a.m. needs
    the cause, and a traceback of a database error would print the statement's values."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import ArgumentError, DBAPIError

        from app.platform.crypto import KeyringError

        try:
            return super().invoke(ctx)
        except DBAPIError as exc:
            raise click.ClickException(_database_failure(exc)) from None
        except ArgumentError:
            raise click.ClickException("DATABASE_URL is not a database URL SQLAlchemy understands") from None
        except ImportError as exc:
            raise click.ClickException(f"a driver is missing ({exc}): DATABASE_URL must be PostgreSQL or SQLite") from None
        except (KeyringError, ValueError, ArithmeticError, OSError) as exc:  # our messages: no secrets, no personal data
            raise click.ClickException(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}") from None


def _database_failure(exc: Any) -> str:
    """One line for a database error, from its type and the kind of failure, never its values."""
    text = str(exc.orig).lower()
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return "the database has no tables yet (or an old schema): run `citizencard db upgrade`"
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError):
        return f"database unreachable ({type(exc.orig).__name__}); check DATABASE_URL"
    return f"database error ({type(exc.orig).__name__}); nothing was changed by the failing statement"


@click.group(cls=CardGroup, create_app=_create_app, add_version_option=False, load_dotenv=False)
def main() -> None:
    """Dongguan Citizen Card platform. Settings come from the environment (docs/operations.md)."""


for command in (roster.roster, partner.partner, disburse.disburse, disburse.notify, card.card, card.flags,
                money.financial_account, staff.staff, audit.audit, keys.keys, offline.offline, partitions.partitions,
                retention.retention, sandbox.sandbox, serve.serve, serve.check, serve.demo, rp_commands,
                catalogue_commands, hub.hub, calendar):
    main.add_command(command)
main.add_command(payment_commands)  # payments clear / replay (docs/payments.md)
