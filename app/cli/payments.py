"""``citizencard payments clear`` (the daily clearing run per merchant and per bank) and
``citizencard payments replay`` (recompute every balance from the ledger and compare;
docs/payments.md "Clearing", "The ledger")."""
from __future__ import annotations

from datetime import date, timedelta

import click
from flask.cli import with_appcontext

from app.runtime import runtime


@click.group("payments")
def payments() -> None:
    """Paying with the card: clearing and the ledger (docs/payments.md)."""


@payments.command("clear")
@click.option("--day", "day_text", help="The city day to clear, YYYY-MM-DD (default: yesterday, Asia/Shanghai)")
@click.option("--lookback-days", type=click.IntRange(1, 3660), default=7, show_default=True,
              help="Also clear what earlier runs missed this many days back (after an outage: more)")
@with_appcontext
def clear_command(day_text: str | None, lookback_days: int) -> None:
    """Clear DAY for every merchant and bank: one statement each of the ledger entries written
    before its end and not cleared yet. Safe to run again (nothing is cleared twice)."""
    from app.money.charges import city_day
    from app.money.clearing import run_clearing

    rt = runtime()
    try:
        day = date.fromisoformat(day_text) if day_text else city_day(rt.clock.now()) - timedelta(days=1)
    except ValueError:
        raise click.BadParameter("YYYY-MM-DD", param_hint="--day") from None
    done = run_clearing(rt, day, timedelta(days=lookback_days))
    for clearing in done:
        click.echo(f"{day} {clearing.party} {clearing.partner_id}: {clearing.entries} entries, gross {clearing.gross_fen}, "
                   f"reversed {clearing.reversed_fen}, fee {clearing.fee_fen}, net {clearing.net_fen} fen")
    click.echo(f"{day}: {len(done)} statements")


@payments.command("replay")
@with_appcontext
def replay_command() -> None:
    """Replay the whole ledger and compare each charge's status and refunds and each card's debt
    with the stored state; exits 1 on any difference."""
    from app.money.ledger import check

    problems = check()
    for problem in problems[:50]:
        click.echo(problem)
    if problems:
        raise click.ClickException(f"{len(problems)} differences between the ledger and the stored state")
    click.echo("the ledger and the stored state agree")


@payments.command("charge-unfinished-rides")
@with_appcontext
def unfinished_command() -> None:
    """Charge the maximum fare for transit entries whose exit never came (older than 4 hours, the
    last 2 days) at operators with a fare table. Run it every hour; it never charges a ride twice."""
    from scenes.rides import charge_unfinished_rides

    report = charge_unfinished_rides(runtime())
    skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(report.skipped.items())) or "none"
    click.echo(f"charged {len(report.charged)} unfinished rides; skipped: {skipped}")
