"""``citizencard keys``: data-encryption keys: a new key entry, re-encryption under the current key."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.cli.operators import audited
from app.runtime import runtime


@click.group()
def keys() -> None:
    """Data-encryption keys (docs/operations.md, Keys)."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Introduce a new data key: prints a CARD_DATA_KEYS entry. Add it after the current key on every
    server and restart them all; then move it first and restart again (docs/operations.md, Keys)."""
    from app.keys import new_key_entry

    click.echo(new_key_entry())


@keys.command("reencrypt")
@with_appcontext
@audited("keys_reencrypt", fields=("encrypted_columns",))
def keys_reencrypt() -> None:
    """Re-encrypt every stored value under the current (first) key; afterwards old keys may go. Refuses,
    as "citizencard check" would, when CARD_DATA_KEYS does not open the stored values."""
    from app.keys import reencrypt
    from app.startup_checks import StartupRefused, check_runtime_data_keys

    try:
        check_runtime_data_keys(runtime())
    except StartupRefused as exc:
        raise click.ClickException(str(exc)) from None
    report = reencrypt(runtime())
    for column, moved in report.moved.items():
        click.echo(f"{column}: {moved} re-encrypted")
