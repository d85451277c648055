"""``citizencard calendar``: the State Council's holidays and make-up working days, which complaint
deadlines count (issue 21 item 5, M-14; app.service_desk.working_days)."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext


@click.group("calendar")
def calendar() -> None:
    """The official working-day calendar (holidays, make-up working days)."""


@calendar.command("import")
@click.argument("source")
@with_appcontext
def calendar_import(source: str) -> None:
    """Import one year's calendar: SOURCE is a year with a shipped file (2026) or a CSV file
    (header date,kind,name; kind holiday or workday). Replaces that year's days."""
    from app.service_desk.working_days import CalendarFileError, import_year, shipped_file

    try:
        path = shipped_file(int(source)) if source.isdigit() and len(source) == 4 else Path(source)
        text = path.read_text(encoding="utf-8-sig")
        year, holidays, workdays = import_year(text)
    except CalendarFileError as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {source}: {type(exc).__name__}") from None
    click.echo(f"{year}: {holidays} holidays, {workdays} make-up working days imported")


@calendar.command("show")
@with_appcontext
def calendar_show() -> None:
    """The years imported, with their numbers of holidays and make-up working days."""
    from app.service_desk.working_days import imported_years

    years = imported_years()
    if not years:
        click.echo("no year imported: deadlines count Monday-Friday only")
    for year, (holidays, workdays) in years.items():
        click.echo(f"{year}: {holidays} holidays, {workdays} make-up working days")
