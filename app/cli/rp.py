"""``citizencard rp``: relying parties of the OpenID Connect provider (M-20; docs/identity-provider.md)."""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from app.cli.params import COMMA_LIST
from app.runtime import runtime

ID_TOKEN_ALGS = ["ES256", "EdDSA", "SM2-SM3"]  # app.oidc.signing.ALGORITHMS (SM2-SM3 refused at create without the gm extra)


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
@click.option("--id-token-alg", type=click.Choice(ID_TOKEN_ALGS), default="ES256", show_default=True,
              help="Its id_token_signed_response_alg (EdDSA: Ed25519; SM2-SM3: SM2 with SM3, non-standard, needs the gm extra)")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id", "client_secret"} as JSON')
@with_appcontext
def rp_create(name: str, kind: str, scopes: list[str], redirect_uris: tuple[str, ...], logout_uri: str | None,
              id_token_alg: str, as_json: bool) -> None:
    """Register a relying party; prints its client id and secret ONCE (only the secret's digest is stored)."""
    from app.oidc.parties import create_rp

    try:
        made = create_rp(runtime(), name, kind, scopes, list(redirect_uris), logout_uri, id_token_alg)
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
        click.echo(f"{row.client_id}\t{state}\t{row.kind}\t{row.id_token_alg}\t{row.scopes}\t{row.name}\t"
                   f"{' '.join(row.redirect_uris.split())}")


@rp.command("disable")
@click.argument("client_id")
@with_appcontext
def rp_disable(client_id: str) -> None:
    """Disable a relying party at once: its log-in requests, codes, refresh tokens and userinfo calls are refused."""
    _set_disabled(client_id, True)


@rp.command("enable")
@click.argument("client_id")
@with_appcontext
def rp_enable(client_id: str) -> None:
    """Enable a disabled relying party again (tokens it held while disabled stay refused only if expired or revoked)."""
    _set_disabled(client_id, False)


def _set_disabled(client_id: str, disabled: bool) -> None:
    from app.oidc.parties import set_disabled

    word = "disabled" if disabled else "enabled"
    if not set_disabled(runtime(), client_id, disabled):
        raise click.ClickException(f"{client_id}: no such relying party, or already {word}")
    click.echo(f"{client_id} {word}")


@rp.command("keygen")
@click.option("--kid", required=True, help="The key id, e.g. 2027-01")
@click.option("--alg", type=click.Choice(ID_TOKEN_ALGS), default="ES256", show_default=True,
              help="ES256: a P-256 key; EdDSA: an Ed25519 key; SM2-SM3: an SM2 key")
def rp_keygen(kid: str, alg: str) -> None:
    """Print a new CARD_OIDC_SIGNING_KEYS entry (a P-256 key for ES256, an Ed25519 key for EdDSA, an SM2 key for SM2-SM3 id_tokens)."""
    from app.oidc.signing import new_key_entry

    click.echo(new_key_entry(kid, alg))
