"""``citizencard partner``: partners, their scenes, roles and secrets, terminals and member rosters (M-11)."""
from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask.cli import with_appcontext

from app.cli.operators import argument, audited
from app.cli.params import COMMA_LIST, ITEMS, plural
from app.runtime import runtime


@click.group()
def partner() -> None:
    """Partners that verify codes through the signed API."""


@partner.command("create")
@click.option("--name", required=True, help="The partner's display name")
@click.option("--scenes", type=COMMA_LIST, default="", help="Comma-separated scenes it verifies in, e.g. transit,culture")
@click.option("--roles", type=COMMA_LIST, default="",
              help="Comma-separated roles: bank, disburse, medical_insurance, catalogue, data_hub, merchant")
@click.option("--kind", default="organisation", show_default=True, type=click.Choice(["organisation", "government", "library"]),
              help="government: a government department (may see full identities in the government scene)")
@click.option("--json", "as_json", is_flag=True, help='Print {"partner_id", "secret"} as JSON')
@with_appcontext
@audited("partner_create")
def partner_create(name: str, scenes: list[str], roles: list[str], kind: str, as_json: bool) -> None:
    """Create a partner with scenes and/or roles; prints its id and secret ONCE (the secret is stored encrypted)."""
    from app.partners.partners import create_partner

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
    except ValueError as exc:  # app.platform.csvfile.CsvFileError too
        known = f" (known scenes: {', '.join(SCENE_NAMES)})" if "scene" in str(exc) else ""
        raise click.BadParameter(f"{exc}{known}") from None


@partner.command("list")
@with_appcontext
@audited("partner_list")
def partner_list() -> None:
    """List partners (never their secrets): id, state, kind, scenes, roles, name."""
    from app.partners.partners import list_partners

    for item in list_partners():
        state = "disabled" if item.disabled_at else "active"
        click.echo(f"{item.partner_id}\t{state}\t{item.kind}\t{item.scenes or '-'}\t{item.roles or '-'}\t{item.name}")


@partner.command("grant")
@click.argument("partner_id")
@click.argument("scenes", type=ITEMS)
@with_appcontext
@audited("partner_grant", argument("partner_id", "partner:"))
def partner_grant(partner_id: str, scenes: list[str]) -> None:
    """Let PARTNER_ID verify in SCENES (comma-separated)."""
    from app.partners.partners import change_scenes

    result = _partner_call(lambda known: change_scenes(partner_id, scenes, [], known))
    click.echo(f"{partner_id}: {','.join(result)}")


@partner.command("revoke")
@click.argument("partner_id")
@click.argument("scenes", type=ITEMS)
@with_appcontext
@audited("partner_revoke", argument("partner_id", "partner:"))
def partner_revoke(partner_id: str, scenes: list[str]) -> None:
    """Stop PARTNER_ID verifying in SCENES (comma-separated); at least one scene must remain."""
    from app.partners.partners import change_scenes

    result = _partner_call(lambda known: change_scenes(partner_id, [], scenes, known))
    click.echo(f"{partner_id}: {','.join(result)}")


@partner.command("roles")
@click.argument("partner_id")
@click.option("--grant", type=ITEMS, default=None, help="Comma-separated roles to add")
@click.option("--revoke", type=ITEMS, default=None, help="Comma-separated roles to remove")
@with_appcontext
@audited("partner_roles", argument("partner_id", "partner:"))
def partner_roles(partner_id: str, grant: list[str] | None, revoke: list[str] | None) -> None:
    """Show, grant or revoke PARTNER_ID's roles (bank, disburse, medical_insurance, catalogue, data_hub, merchant)."""
    from app.partners.partners import change_roles

    result = _partner_call(lambda _known: change_roles(partner_id, grant or [], revoke or []))
    click.echo(f"{partner_id}: {','.join(result) or '(no roles)'}")


@partner.command("rotate-secret")
@click.argument("partner_id")
@click.option("--grace", type=click.IntRange(0, 30 * 86400), default=None,
              help="Seconds the old secret stays valid (default CARD_SECRET_GRACE_SECONDS, 86400)")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
@audited("partner_secret", argument("partner_id", "partner:"))
def partner_rotate(partner_id: str, grace: int | None, as_json: bool) -> None:
    """Issue a new secret, printed once; the old one keeps working for the grace period."""
    from app.partners.partners import rotate_secret

    rt = runtime()
    grace = rt.config["CARD_SECRET_GRACE_SECONDS"] if grace is None else grace
    secret = _partner_call(lambda _known: rotate_secret(rt, partner_id, grace))
    click.echo(json.dumps({"partner_id": partner_id, "secret": secret}) if as_json else f"secret: {secret}")


@partner.command("request-key")
@click.argument("partner_id")
@click.option("--alg", type=click.Choice(["ed25519", "sm2"]), default=None, help="ed25519 (RFC 8032) or sm2 (GB/T 32918, SM3)")
@click.option("--public-key", default=None, help="The partner's raw public key, base64 (Ed25519: 32 bytes; SM2: 33-byte compressed point)")
@click.option("--remove", is_flag=True, help="Forget the key: the partner signs with its HMAC secret again")
@with_appcontext
def partner_request_key(partner_id: str, alg: str | None, public_key: str | None, remove: bool) -> None:
    """Asymmetric request signing (docs/partner-api.md): from now on (within 10 s on every server)
    PARTNER_ID signs its requests with its private key (CC-ED25519 or CC-SM2-SM3), not the HMAC
    secret, so only it can have made them (non-repudiation)."""
    from app.partners.partners import set_request_key

    if remove == bool(alg or public_key) or (not remove and not (alg and public_key)):
        raise click.UsageError("give --alg and --public-key, or --remove")
    _partner_call(lambda _known: set_request_key(partner_id, alg, public_key))
    click.echo(f"{partner_id}: " + ("signs with its HMAC secret" if remove else f"signs with its {alg} key"))


@partner.command("disable")
@click.argument("partner_id")
@with_appcontext
@audited("partner_disable", argument("partner_id", "partner:"))
def partner_disable(partner_id: str) -> None:
    """Refuse every request of PARTNER_ID (within 10 s on every server)."""
    from app.partners.partners import disable_partner

    _partner_call(lambda _known: disable_partner(runtime(), partner_id))
    click.echo(f"{partner_id}: disabled")


@partner.command("enable")
@click.argument("partner_id")
@with_appcontext
@audited("partner_enable", argument("partner_id", "partner:"))
def partner_enable(partner_id: str) -> None:
    """Accept PARTNER_ID's requests again after "partner disable"."""
    from app.partners.partners import enable_partner

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
@audited("terminal_add", argument("partner_id", "partner:"))
def terminal_add(partner_id: str, terminal_id: str, name: str, location: str, latitude: float | None, longitude: float | None) -> None:
    """Register one terminal of PARTNER_ID, or update (rename, move) a registered one, or restore a
    removed one. Without --latitude/--longitude a registered terminal keeps its stored coordinates.
    Says which: registered (new), updated or restored (was removed)."""
    from app.partners.terminals import RESTORED, register_terminal

    outcome = _partner_call(lambda _known: register_terminal(runtime(), partner_id, terminal_id, name, location, latitude, longitude))
    click.echo(f"{partner_id}: terminal {terminal_id} {outcome}" + (" (was removed)" if outcome == RESTORED else ""))


@terminal.command("import")
@click.argument("partner_id")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
@audited("terminal_import", argument("partner_id", "partner:"))
def terminal_import(partner_id: str, path: str) -> None:
    """Register every terminal of a CSV with the header terminal_id,name,location[,latitude,longitude]:
    new ones are registered, registered ones updated, removed ones restored; a row without coordinates
    keeps the stored ones. One bad row registers nothing."""
    from app.partners.terminals import REGISTERED, RESTORED, UPDATED, import_terminals
    from app.platform.csvfile import open_csv

    with open_csv(path) as stream:
        outcomes = _partner_call(lambda _known: import_terminals(runtime(), partner_id, stream))
    counts = ", ".join(f"{outcomes[outcome]} {outcome}" for outcome in (REGISTERED, UPDATED, RESTORED))
    click.echo(f"{partner_id}: {plural(outcomes.total(), 'terminal')}: {counts}")


@terminal.command("list")
@click.argument("partner_id")
@with_appcontext
def terminal_list(partner_id: str) -> None:
    """List PARTNER_ID's registered terminals (not removed ones): id, name, location, and latitude,longitude when given."""
    from app.partners.terminals import list_terminals

    for item in _partner_call(lambda _known: list_terminals(partner_id)):
        place = f"\t{item.latitude},{item.longitude}" if item.latitude is not None else ""
        click.echo(f"{item.terminal_id}\t{item.name}\t{item.location}{place}")


@terminal.command("remove")
@click.argument("partner_id")
@click.argument("terminal_id")
@with_appcontext
@audited("terminal_remove", argument("partner_id", "partner:"))
def terminal_remove(partner_id: str, terminal_id: str) -> None:
    """Remove a stolen or retired terminal: every server refuses it (terminal_unknown) within 10 s.
    Its verification records and history stay; "partner terminal add" with its id restores it."""
    from app.partners.terminals import CACHE_SECONDS, remove_terminal

    _partner_call(lambda _known: remove_terminal(runtime(), partner_id, terminal_id))
    click.echo(f"{partner_id}: terminal {terminal_id} removed; servers refuse it (terminal_unknown) within {CACHE_SECONDS} s, "
               "once their cached copy expires")


@partner.command("members")
@click.argument("partner_id")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
@audited("members_import", argument("partner_id", "partner:"))
def partner_members(partner_id: str, path: str) -> None:
    """Replace PARTNER_ID's member roster (campus, library) with a CSV: id_number,member_id.
    All or nothing: a rejected line leaves the roster unchanged (exit 1)."""
    from app.partners.memberships import replace_members_of
    from app.platform.csvfile import open_csv

    with open_csv(path) as stream:
        report = _partner_call(lambda _known: replace_members_of(runtime(), partner_id, stream))
    for line, reason in report.rejected:
        click.echo(f"line {line}: rejected: {reason}", err=True)
    if report.rejected:
        click.echo(f"{partner_id}: roster unchanged: {plural(len(report.rejected), 'row')} rejected")
    else:
        click.echo(f"{partner_id}: {plural(report.accepted, 'member')}")
    sys.exit(1 if report.rejected else 0)
