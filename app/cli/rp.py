"""``citizencard rp``: relying parties of the OpenID Connect provider (M-20; docs/identity-provider.md)."""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from app.cli.params import COMMA_LIST
from app.runtime import runtime


@click.group()
def rp() -> None:
    """Websites that let citizens log in with the card (OpenID Connect relying parties)."""


@rp.command("create")
@click.option("--name", required=True, help="The verified name citizens see when they confirm")
@click.option("--kind", required=True, type=click.Choice(["government", "public_service", "commercial"]),
              help="government: may ask for name and id_number")
@click.option("--scopes", type=COMMA_LIST, default="openid", show_default=True,
              help="Comma-separated: openid, name, id_number (government only), insured, age_band, concession")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True, help="Exact redirect URI (repeatable)")
@click.option("--logout-uri", default=None, help="Back-channel logout URI (optional)")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id", "client_secret"} as JSON')
@with_appcontext
def rp_create(name: str, kind: str, scopes: list[str], redirect_uris: tuple[str, ...], logout_uri: str | None,
              as_json: bool) -> None:
    """Register a relying party; prints its client id and secret ONCE (only the secret's digest is stored)."""
    from app.oidc.parties import create_rp

    try:
        made = create_rp(runtime(), name, kind, scopes, list(redirect_uris), logout_uri)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"client_id": made.client_id, "client_secret": made.client_secret}))
    else:
        click.echo(f"client_id:     {made.client_id}\nclient_secret: {made.client_secret}\n"
                   "Store the secret now: it is not shown again.")


@rp.command("list")
@with_appcontext
def rp_list() -> None:
    """List relying parties (never secrets): client id, state, kind, scopes, name, redirect URIs."""
    from app.oidc.parties import list_rps

    for row in list_rps():
        state = "disabled" if row.disabled_at else "active"
        click.echo(f"{row.client_id}\t{state}\t{row.kind}\t{row.scopes}\t{row.name}\t{' '.join(row.redirect_uris.split())}")


@rp.command("keygen")
@click.option("--kid", required=True, help="The key id, e.g. 2027-01")
def rp_keygen(kid: str) -> None:
    """Print a new CARD_OIDC_SIGNING_KEYS entry (a P-256 key for ES256 id_tokens)."""
    from app.oidc.signing import new_key_entry

    click.echo(new_key_entry(kid))
