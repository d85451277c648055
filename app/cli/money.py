"""``citizencard financial-account correct``: the city corrects a wrong benefit-account registration (M-21; issue 15 item 11)."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.cli.operators import audited, card_holder
from app.platform.errors import AppError
from app.runtime import runtime


@click.group("financial-account")
def financial_account() -> None:
    """Cards' financial accounts (benefit routing, M-21)."""


@financial_account.command("correct")
@click.argument("card_number")
@click.option("--reason", required=True, help="Why (recorded in the card's history and the audit trail)")
@click.option("--operator", required=True, help="Who does this (recorded in the audit trail)")
@click.option("--close", "close_only", is_flag=True, help="Only close the open account")
@click.option("--bank", "bank_partner_id", help="The bank that really holds the account (partner id)")
@click.option("--account-number", "number", help="The account number at that bank (12-30 digits)")
@with_appcontext
@audited("account_correct", citizen=card_holder(), fields=("financial_account",))
def correct_command(card_number: str, reason: str, operator: str, close_only: bool, bank_partner_id: str | None,
                    number: str | None) -> None:
    """Close CARD_NUMBER's open financial account, and with --bank and --account-number register the
    right one instead. The holder gets a card event and an SMS; the change is audited."""
    from app.money.financial_accounts import correct
    from app.service_desk.audit import StaffActor, record_staff_access

    if close_only == bool(bank_partner_id or number) or bool(bank_partner_id) != bool(number):
        raise click.UsageError("give either --close, or both --bank and --account-number")
    rt = runtime()
    try:
        citizen_id, closed = correct(rt, card_number, reason, bank_partner_id, number)
    except AppError as exc:
        raise click.ClickException(exc.message) from None
    record_staff_access(rt, StaffActor(0, operator[:64], "operator", None), "account_correct", citizen_id, None,
                        ["financial_account"], reason[:200])
    click.echo(f"{card_number}: " + ("closed the open account; " if closed is not None else "no open account; ")
               + (f"registered the account at {bank_partner_id} (ending {number[-4:]})" if number else "none registered"))
