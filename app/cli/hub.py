"""``citizencard hub``: the city data hub's jobs (docs/data-hub.md)."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.runtime import runtime


@click.group()
def hub() -> None:
    """The city data hub: life events, feeds, figures (docs/data-hub.md)."""


@hub.command("run")
@with_appcontext
def hub_run() -> None:
    """One pass of the hub's jobs (run it every minute): end the cards of leavers whose grace
    period is over, publish new feed events, deliver the due webhooks, flag e-card scans at
    distant terminals and concession cards boarding at too many gates, make misuse decisions final once their appeal period is over."""
    from app.hub.cases import finalize_due, sweep_ecard_lending
    from app.hub.concessions import sweep_concession_misuse
    from app.hub.feeds import collect, deliver_due
    from app.hub.life_events import end_departed

    rt = runtime()
    flagged, concession, final = sweep_ecard_lending(rt), sweep_concession_misuse(rt), finalize_due(rt)
    click.echo(f"e-card lending flags {flagged}, concession-misuse flags {concession}, misuse decisions made final {final}")
    ended = end_departed(rt)
    published = collect(rt)
    report = deliver_due(rt)
    click.echo(f"leavers' cards ended {ended}, feed events published {published}, webhooks sent {report.sent}, "
               f"retrying {report.retrying}, given up {report.failed}")


@hub.command("subscribe")
@click.argument("partner_id")
@click.argument("feed")
@click.option("--url", default=None, help="The webhook (https://); without it the partner pulls")
@with_appcontext
def hub_subscribe(partner_id: str, feed: str, url: str | None) -> None:
    """Subscribe PARTNER_ID to FEED (card_issued, card_cancelled, loss_reported, insured_status)."""
    from app.hub.feeds import subscribe

    try:
        subscribe(runtime(), partner_id, feed, url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{partner_id} subscribed to {feed}" + (f" at {url}" if url else " (pull)"))


@hub.command("figures")
@click.option("--through", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Compute through this day (default: yesterday, Asia/Shanghai)")
@with_appcontext
def hub_figures(through) -> None:  # type: ignore[no-untyped-def]
    """Compute the daily figures of every day not yet computed (run once a day, after midnight)."""
    from app.hub.figures import run_figures

    days = run_figures(runtime(), through.date() if through else None)
    click.echo(f"computed {len(days)} day(s)" + (f": {days[0]} .. {days[-1]}" if days else ""))


@hub.command("credit-export")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Where to write the signed file (CSV, its last line the signature)")
@with_appcontext
def hub_credit_export(out: str) -> None:
    """Write the signed export of final misuse decisions (and withdrawals of overturned ones) for
    the public credit platform (M-27, M-10(6)). Each case is exported once."""
    from app.hub.cases import export_file
    from app.platform.errors import AppError

    try:
        body, rows = export_file(runtime())
    except AppError as exc:
        raise click.ClickException(exc.message) from None
    with open(out, "wb") as handle:
        handle.write(body)
    click.echo(f"{rows} row(s) written to {out}")
