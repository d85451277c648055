"""``citizencard ...``: demo, serve, check, roster, partner, keys, staff, audit, and Flask-Migrate's ``db`` commands."""
from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from . import cli_disburse
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
    """Turns failures into one-line errors instead of tracebacks: an operator at 3 a.m. needs
    the cause, and a traceback of a database error would print the statement's values."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import ArgumentError, DBAPIError

        from .crypto import KeyringError

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


class CommaList(click.ParamType):
    """A comma-separated list (``transit, culture``): each item stripped, empty items dropped.
    With ``allow_empty=False`` a list with no item left (``" , "``) is a usage error: for
    arguments, and options given explicitly, whose command would do nothing with it."""

    name = "list"

    def __init__(self, allow_empty: bool = True) -> None:
        self.allow_empty = allow_empty

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
        items = value if isinstance(value, list) else [item.strip() for item in str(value).split(",") if item.strip()]
        if not items and not self.allow_empty:
            self.fail("give at least one item (comma-separated, e.g. transit,culture)", param, ctx)
        return items


COMMA_LIST = CommaList()
ITEMS = CommaList(allow_empty=False)


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


def plural(count: int, noun: str) -> str:
    """``1 terminal``, ``2 terminals``, ``0 terminals``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@click.group(cls=CardGroup, create_app=_create_app, add_version_option=False, load_dotenv=False)
def main() -> None:
    """Dongguan Citizen Card platform. Settings come from the environment (docs/operations.md)."""


for command in cli_disburse.COMMANDS:  # disburse, notify (docs/benefits.md)
    main.add_command(command)


@main.group()
def roster() -> None:
    """The resident roster (M-5, M-17)."""


@roster.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def roster_import(path: str) -> None:
    """Import a roster CSV (header name,id_number,phone,insured). Exit 1 if rows were rejected."""
    from .csvfile import CsvFileError, open_csv
    from .services.roster import import_roster

    try:
        with open_csv(path) as stream:
            report = import_roster(runtime(), stream)
    except CsvFileError as exc:
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
@click.option("--scenes", type=COMMA_LIST, default="", help="Comma-separated scenes it verifies in, e.g. transit,culture")
@click.option("--roles", type=COMMA_LIST, default="", help="Comma-separated roles: bank, disburse, medical_insurance")
@click.option("--kind", default="organisation", show_default=True, type=click.Choice(["organisation", "government", "library"]),
              help="government: a government department (may see full identities in the government scene)")
@click.option("--json", "as_json", is_flag=True, help='Print {"partner_id", "secret"} as JSON')
@with_appcontext
def partner_create(name: str, scenes: list[str], roles: list[str], kind: str, as_json: bool) -> None:
    """Create a partner with scenes and/or roles; prints its id and secret ONCE (the secret is stored encrypted)."""
    from .services.partners import create_partner

    credentials = _partner_call(lambda known: create_partner(runtime(), name, scenes, known, kind, roles))
    if as_json:
        click.echo(json.dumps({"partner_id": credentials.partner_id, "secret": credentials.secret}))
    else:
        click.echo(f"partner_id: {credentials.partner_id}\nsecret:     {credentials.secret}\n"
                   "Store the secret now: it is not shown again.")


def _partner_call(call: Any) -> Any:
    """Run a partner service with the known scene names; its ValueError becomes a usage error."""
    from scenes.registry import SCENE_NAMES

    try:
        return call(SCENE_NAMES)
    except ValueError as exc:  # app.csvfile.CsvFileError too
        known = f" (known scenes: {', '.join(SCENE_NAMES)})" if "scene" in str(exc) else ""
        raise click.BadParameter(f"{exc}{known}") from None


@partner.command("list")
@with_appcontext
def partner_list() -> None:
    """List partners (never their secrets): id, state, kind, scenes, roles, name."""
    from .services.partners import list_partners

    for item in list_partners():
        state = "disabled" if item.disabled_at else "active"
        click.echo(f"{item.partner_id}\t{state}\t{item.kind}\t{item.scenes or '-'}\t{item.roles or '-'}\t{item.name}")


@partner.command("grant")
@click.argument("partner_id")
@click.argument("scenes", type=ITEMS)
@with_appcontext
def partner_grant(partner_id: str, scenes: list[str]) -> None:
    """Let PARTNER_ID verify in SCENES (comma-separated)."""
    from .services.partners import change_scenes

    result = _partner_call(lambda known: change_scenes(partner_id, scenes, [], known))
    click.echo(f"{partner_id}: {','.join(result)}")


@partner.command("revoke")
@click.argument("partner_id")
@click.argument("scenes", type=ITEMS)
@with_appcontext
def partner_revoke(partner_id: str, scenes: list[str]) -> None:
    """Stop PARTNER_ID verifying in SCENES (comma-separated); at least one scene must remain."""
    from .services.partners import change_scenes

    result = _partner_call(lambda known: change_scenes(partner_id, [], scenes, known))
    click.echo(f"{partner_id}: {','.join(result)}")


@partner.command("roles")
@click.argument("partner_id")
@click.option("--grant", type=ITEMS, default=None, help="Comma-separated roles to add")
@click.option("--revoke", type=ITEMS, default=None, help="Comma-separated roles to remove")
@with_appcontext
def partner_roles(partner_id: str, grant: list[str] | None, revoke: list[str] | None) -> None:
    """Show, grant or revoke PARTNER_ID's roles (bank, disburse, medical_insurance)."""
    from .services.partners import change_roles

    result = _partner_call(lambda _known: change_roles(partner_id, grant or [], revoke or []))
    click.echo(f"{partner_id}: {','.join(result) or '(no roles)'}")


@partner.command("rotate-secret")
@click.argument("partner_id")
@click.option("--grace", type=click.IntRange(0, 30 * 86400), default=None,
              help="Seconds the old secret stays valid (default CARD_SECRET_GRACE_SECONDS, 86400)")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def partner_rotate(partner_id: str, grace: int | None, as_json: bool) -> None:
    """Issue a new secret, printed once; the old one keeps working for the grace period."""
    from .services.partners import rotate_secret

    rt = runtime()
    grace = rt.config["CARD_SECRET_GRACE_SECONDS"] if grace is None else grace
    secret = _partner_call(lambda _known: rotate_secret(rt, partner_id, grace))
    click.echo(json.dumps({"partner_id": partner_id, "secret": secret}) if as_json else f"secret: {secret}")


@partner.command("disable")
@click.argument("partner_id")
@with_appcontext
def partner_disable(partner_id: str) -> None:
    """Refuse every request of PARTNER_ID (within 10 s on every server)."""
    from .services.partners import disable_partner

    _partner_call(lambda _known: disable_partner(runtime(), partner_id))
    click.echo(f"{partner_id}: disabled")


@partner.command("enable")
@click.argument("partner_id")
@with_appcontext
def partner_enable(partner_id: str) -> None:
    """Accept PARTNER_ID's requests again after "partner disable"."""
    from .services.partners import enable_partner

    _partner_call(lambda _known: enable_partner(partner_id))
    click.echo(f"{partner_id}: enabled")


@partner.group("terminal")
def terminal() -> None:
    """Registered scanning terminals: unregistered ones are refused (terminal_unknown)."""


@terminal.command("add")
@click.argument("partner_id")
@click.option("--terminal-id", required=True)
@click.option("--name", required=True)
@click.option("--location", required=True)
@click.option("--latitude", type=click.FloatRange(-90, 90), default=None, help="WGS 84 degrees (with --longitude): the lending signal")
@click.option("--longitude", type=click.FloatRange(-180, 180), default=None, help="WGS 84 degrees (with --latitude)")
@with_appcontext
def terminal_add(partner_id: str, terminal_id: str, name: str, location: str, latitude: float | None, longitude: float | None) -> None:
    """Register one terminal of PARTNER_ID, or update (rename, move) a registered one, or restore a
    removed one. Without --latitude/--longitude a registered terminal keeps its stored coordinates.
    Says which: registered (new), updated or restored (was removed)."""
    from .services.terminals import RESTORED, register_terminal

    outcome = _partner_call(lambda _known: register_terminal(runtime(), partner_id, terminal_id, name, location, latitude, longitude))
    click.echo(f"{partner_id}: terminal {terminal_id} {outcome}" + (" (was removed)" if outcome == RESTORED else ""))


@terminal.command("import")
@click.argument("partner_id")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def terminal_import(partner_id: str, path: str) -> None:
    """Register every terminal of a CSV with the header terminal_id,name,location[,latitude,longitude]:
    new ones are registered, registered ones updated, removed ones restored; a row without coordinates
    keeps the stored ones. One bad row registers nothing."""
    from .csvfile import open_csv
    from .services.terminals import REGISTERED, RESTORED, UPDATED, import_terminals

    with open_csv(path) as stream:
        outcomes = _partner_call(lambda _known: import_terminals(runtime(), partner_id, stream))
    counts = ", ".join(f"{outcomes[outcome]} {outcome}" for outcome in (REGISTERED, UPDATED, RESTORED))
    click.echo(f"{partner_id}: {plural(outcomes.total(), 'terminal')}: {counts}")


@terminal.command("list")
@click.argument("partner_id")
@with_appcontext
def terminal_list(partner_id: str) -> None:
    """List PARTNER_ID's registered terminals (not removed ones): id, name, location, and latitude,longitude when given."""
    from .services.terminals import list_terminals

    for item in _partner_call(lambda _known: list_terminals(partner_id)):
        place = f"\t{item.latitude},{item.longitude}" if item.latitude is not None else ""
        click.echo(f"{item.terminal_id}\t{item.name}\t{item.location}{place}")


@terminal.command("remove")
@click.argument("partner_id")
@click.argument("terminal_id")
@with_appcontext
def terminal_remove(partner_id: str, terminal_id: str) -> None:
    """Remove a stolen or retired terminal: every server refuses it (terminal_unknown) within 10 s.
    Its verification records and history stay; "partner terminal add" with its id restores it."""
    from .services.terminals import CACHE_SECONDS, remove_terminal

    _partner_call(lambda _known: remove_terminal(runtime(), partner_id, terminal_id))
    click.echo(f"{partner_id}: terminal {terminal_id} removed; servers refuse it (terminal_unknown) within {CACHE_SECONDS} s, "
               "once their cached copy expires")


@partner.command("members")
@click.argument("partner_id")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def partner_members(partner_id: str, path: str) -> None:
    """Replace PARTNER_ID's member roster (campus, library) with a CSV: id_number,member_id.
    All or nothing: a rejected line leaves the roster unchanged (exit 1)."""
    from .csvfile import open_csv
    from .services.memberships import replace_members_of

    with open_csv(path) as stream:
        report = _partner_call(lambda _known: replace_members_of(runtime(), partner_id, stream))
    for line, reason in report.rejected:
        click.echo(f"line {line}: rejected: {reason}", err=True)
    if report.rejected:
        click.echo(f"{partner_id}: roster unchanged: {plural(len(report.rejected), 'row')} rejected")
    else:
        click.echo(f"{partner_id}: {plural(report.accepted, 'member')}")
    sys.exit(1 if report.rejected else 0)


@main.group()
def keys() -> None:
    """Data-encryption keys (docs/operations.md, Keys)."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Introduce a new data key: prints a CARD_DATA_KEYS entry. Add it after the current key on every
    server and restart them all; then move it first and restart again (docs/operations.md, Keys)."""
    from .services.keys import new_key_entry

    click.echo(new_key_entry())


@keys.command("reencrypt")
@with_appcontext
def keys_reencrypt() -> None:
    """Re-encrypt every stored value under the current (first) key; afterwards old keys may go. Refuses,
    as "citizencard check" would, when CARD_DATA_KEYS does not open the stored values."""
    from .services.keys import reencrypt
    from .startup_checks import StartupRefused, check_runtime_data_keys

    try:
        check_runtime_data_keys(runtime())
    except StartupRefused as exc:
        raise click.ClickException(str(exc)) from None
    report = reencrypt(runtime())
    for column, moved in report.moved.items():
        click.echo(f"{column}: {moved} re-encrypted")


@main.group()
def staff() -> None:
    """Customer-service console accounts (docs/customer-service.md)."""


@staff.command("create")
@click.option("--role", required=True, type=click.Choice(["agent", "supervisor", "liaison", "auditor"]))
@click.option("--username", required=True, help="3-64 of a-z 0-9 _ . - starting with a letter")
@click.option("--department", default=None, help="Liaisons only: a key of CARD_DEPARTMENTS")
@click.option("--name", "display_name", default=None, help="Display name (default: the username)")
@click.password_option(help="At least 12 characters; prompted (twice) if not given")
@click.option("--json", "as_json", is_flag=True, help='Print {"username", "totp_seed", "provisioning_uri"} as JSON')
@with_appcontext
def staff_create(role: str, username: str, department: str | None, display_name: str | None, password: str,
                 as_json: bool) -> None:
    """Create a staff account; prints the TOTP seed ONCE (enrol it in an authenticator app)."""
    from .services.staff import create_staff

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

    from .services.staff import list_staff

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
    from .services.staff import set_disabled

    try:
        changed = set_disabled(runtime(), username, disabled)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="USERNAME") from None
    state = "disabled" if disabled else "active"
    click.echo(f"{username}: {state}" if changed else f"{username}: already {state}")


@main.group()
def audit() -> None:
    """The hash-chained audit trail of access to personal data (M-25)."""


@audit.command("seal")
@with_appcontext
def audit_seal() -> None:
    """Copy settled partner verifications (older than 60 s) into the chain, oldest first. Run it every minute."""
    from .services.audit import seal_pending

    click.echo(f"sealed {seal_pending(runtime())}")


@audit.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check the whole chain; exit 1 naming the first edited, deleted or reordered record."""
    from .services.audit import verify_chain

    report = verify_chain()
    if not report.ok:
        click.echo(f"TAMPERED: {report.first_bad} ({plural(report.checked, 'record')} before it: intact)", err=True)
        sys.exit(1)
    click.echo(f"ok: {plural(report.checked, 'record')}, head {report.head_hash}, {report.pending} pending (not sealed yet)")


@main.command("serve")
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
    from .server import run_gunicorn
    from .startup_checks import StartupRefused

    try:
        run_gunicorn(bind, workers, migrate)
    except StartupRefused as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None


@main.command("check")
@with_appcontext
def check() -> None:
    """The checks "citizencard serve" runs before starting: the schema is at the migrations' head,
    CARD_DATA_KEYS opens the stored encrypted values (every one in a small table, a sample of a
    large one), CARD_BLIND_INDEX_KEY remakes their
    blind indexes and the store answers. Exit 1 naming the first failure; else one line naming what
    was checked."""
    from flask import current_app

    from .startup_checks import StartupRefused, run_startup_checks

    try:
        report = run_startup_checks(current_app)
    except StartupRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"ok: {report.summary()}")


@main.command("demo")
@click.option("--keep", is_flag=True, help="Keep the demo's database folder")
def demo(keep: bool) -> None:
    """The whole story on the embedded default: roster, login, binding, QR, scan, verify, replay."""
    from .demo import run_demo

    sys.exit(run_demo(keep))


from .cli_lifecycle import register_commands  # noqa: E402 (the card-lifecycle commands: card, flags)

register_commands(main)
