"""``citizencard staff``: console accounts (roles, TOTP seeds, disabling)."""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from app.runtime import runtime
from app.service_desk.models import STAFF_ROLES


@click.group()
def staff() -> None:
    """Customer-service console accounts (docs/customer-service.md)."""


@staff.command("create")
@click.option("--role", required=True, type=click.Choice(list(STAFF_ROLES)))
@click.option("--username", required=True, help="3-64 of a-z 0-9 _ . - starting with a letter")
@click.option("--department", default=None,
              help="Liaisons: a key of CARD_DEPARTMENTS; catalogue editors: their department's partner id (catalogue role)")
@click.option("--name", "display_name", default=None, help="Display name (default: the username)")
@click.password_option(help="At least 12 characters; prompted (twice) if not given")
@click.option("--json", "as_json", is_flag=True, help='Print {"username", "totp_seed", "provisioning_uri"} as JSON')
@with_appcontext
def staff_create(role: str, username: str, department: str | None, display_name: str | None, password: str,
                 as_json: bool) -> None:
    """Create a staff account; prints the TOTP seed ONCE (enrol it in an authenticator app)."""
    from app.service_desk.staff import create_staff

    try:
        created = create_staff(runtime(), username, role, password, department, display_name)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"username": created.username, "totp_seed": created.totp_seed,
                               "provisioning_uri": created.provisioning_uri}))
    else:
        click.echo(f"{created.username}: created ({role})\nTOTP seed: {created.totp_seed}\n{created.provisioning_uri}\n"
                   "Enrol the seed in an authenticator app now: it is not shown again.")


@staff.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print [{"username", "display_name", "role", "department", "state"}] as JSON')
@with_appcontext
def staff_list(as_json: bool) -> None:
    """Every account: username, role, department, state (active/disabled). Never a password hash or TOTP seed."""
    from dataclasses import asdict

    from app.service_desk.staff import list_staff

    lines = list_staff()
    if as_json:
        click.echo(json.dumps([asdict(line) for line in lines], ensure_ascii=False))
        return
    for line in lines:
        click.echo(f"{line.username}\t{line.role}\t{line.department or '-'}\t{line.state}")


@staff.command("disable")
@click.argument("username")
@with_appcontext
def staff_disable(username: str) -> None:
    """Offboard an account: it can no longer log in, and its live console sessions end at their next request."""
    _set_staff_disabled(username, True)


@staff.command("enable")
@click.argument("username")
@with_appcontext
def staff_enable(username: str) -> None:
    """Let a disabled account log in again (its old sessions stay ended)."""
    _set_staff_disabled(username, False)


def _set_staff_disabled(username: str, disabled: bool) -> None:
    from app.service_desk.staff import set_disabled

    try:
        changed = set_disabled(runtime(), username, disabled)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="USERNAME") from None
    state = "disabled" if disabled else "active"
    click.echo(f"{username}: {state}" if changed else f"{username}: already {state}")
