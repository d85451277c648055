"""``citizencard offline``: the DGC2 offline codes' keys (docs/offline-codes.md, issue 16)."""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from app.runtime import runtime


@click.group()
def offline() -> None:
    """Offline codes (DGC2): keys, the root key gates trust, publishing the lists (docs/offline-codes.md)."""


@offline.group("keys")
def offline_keys() -> None:
    """The root, deny-list and issuing keys (private keys encrypted with CARD_DATA_KEYS)."""


def _describe(rows: list) -> None:
    for row in rows:
        until = row.not_after.isoformat() if row.not_after else "-"
        click.echo(f"{row.role} key {row.id} ({row.alg}) valid until {until}")


@offline_keys.command("init")
@with_appcontext
def keys_init() -> None:
    """Create the root key, the deny-list key and the issuing keys (Ed25519; SM2 with the gm extra).
    Once per installation; it refuses when the keys exist. Then publish the root key to gate vendors
    (citizencard offline root-key) and give them its fingerprint in writing."""
    from app.card.offline_keys import KeysAlreadyInitialised, init_keys

    try:
        _describe(init_keys(runtime()))
    except KeysAlreadyInitialised as exc:
        raise click.ClickException(str(exc)) from None


@offline_keys.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """Add a new issuing key per algorithm (every 30-90 days); the newest signs new certificates and the
    old ones stay in the trust list until they end."""
    from app.card.offline_keys import rotate

    _describe(rotate(runtime()))


@offline.command("root-key")
@with_appcontext
def root_key() -> None:
    """Print the root public key as JSON {"root_kid", "alg", "public_key"} (for gate firmware)."""
    from app.card.offline_keys import root_key_json
    from app.platform.errors import AppError

    try:
        click.echo(json.dumps(root_key_json(runtime())))
    except AppError as exc:
        raise click.ClickException(exc.message) from None


@offline.command("publish")
@click.option("--every", type=click.IntRange(1, 3600), default=None,
              help="Keep publishing every so many seconds (5 keeps the revocation promise); default: once")
@with_appcontext
def publish(every: int | None) -> None:
    """Publish the trust list and the deny list when they are due: the deny list at least every
    minute, and with the revocations pending once its last version is 5 s old (run it with
    --every 5; each tick without work costs one row read and two store reads). Prints the current
    versions."""
    import time

    from app.card.offline_lists import publish as publish_lists
    from app.platform.db import db
    from app.platform.errors import AppError

    while True:
        try:
            trust, deny = publish_lists(runtime())
        except AppError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"trust list version {trust.version}, deny list version {deny.version}")
        db.session.remove()
        if every is None:
            return
        time.sleep(every)
