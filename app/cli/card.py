"""``citizencard card cancel`` and ``citizencard flags list|close`` (docs/card-lifecycle.md)."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.cli.operators import audited, card_holder, operator_identity
from app.platform.errors import AppError
from app.runtime import runtime


@click.group("card")
def card() -> None:
    """Citizen cards: cancellation by an operator."""


@card.command("cancel")
@click.argument("card_number")
@click.option("--reason", required=True, help="Why (recorded with the transition)")
@with_appcontext
@audited("card_cancel", citizen=card_holder(), fields=("card",))
def card_cancel(card_number: str, reason: str) -> None:
    """Cancel CARD_NUMBER and every carrier: the e-card (its device revoked) and the physical card."""
    from app.card.lifecycle import cancel_card

    try:
        transitions = cancel_card(runtime(), card_number, f"operator:{operator_identity()}"[:64], reason)
    except AppError as exc:
        raise click.ClickException(exc.message) from None
    for item in transitions:
        click.echo(f"{item.carrier}: {item.from_state} -> {item.to_state}")


@click.group("flags")
def flags() -> None:
    """Card-lending flags (M-27): cards seen at terminals too far apart for the time between scans."""


@flags.command("list")
@with_appcontext
def flags_list() -> None:
    """Open flags: id, card number, distance (m), seconds between the scans, the two verifications, when."""
    from app.scanning.lending import open_flags

    for flag in open_flags():
        click.echo(f"{flag.flag_id}\t{flag.card_number}\t{flag.distance_m}\t{flag.seconds}\t"
                   f"{flag.first_verification_id}\t{flag.second_verification_id}\t{flag.created_at.isoformat()}")


@flags.command("close")
@click.argument("flag_id", type=int)
@with_appcontext
def flags_close(flag_id: int) -> None:
    """Mark FLAG_ID reviewed."""
    from app.scanning.lending import close_flag

    if not close_flag(runtime(), flag_id):
        raise click.ClickException(f"no open flag {flag_id}")
    click.echo(f"flag {flag_id}: closed")
