"""``citizencard roster``: import the resident roster (M-5, M-17)."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.cli.operators import audited, file_name
from app.runtime import runtime


@click.group()
def roster() -> None:
    """The resident roster (M-5, M-17)."""


@roster.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--full", is_flag=True, help="The file is the complete roster: report residents absent from it (never deleted)")
@with_appcontext
@audited("roster_import", file_name(), ("name", "id_number", "phone", "insured"))
def roster_import(path: str, full: bool) -> None:
    """Import a roster CSV (header name,id_number,phone,insured[,disability[,town[,household]]]). Exit 1 if
    rows were rejected. --full lists the internal ids of residents absent from the file, for review."""
    from app.identity.roster import import_roster
    from app.platform.csvfile import CsvFileError, open_csv

    try:
        with open_csv(path) as stream:
            report = import_roster(runtime(), stream, full=full)
    except CsvFileError as exc:
        raise click.ClickException(str(exc)) from None
    for line, reason in report.rejected:
        click.echo(f"line {line}: rejected: {reason}", err=True)
    click.echo(f"inserted {report.inserted}, updated {report.updated}, unchanged {report.unchanged}, "
               f"rejected {len(report.rejected)}")
    if report.absent is not None:
        click.echo(f"absent from the complete file (kept; review them): {len(report.absent)}")
        for citizen_id in report.absent:
            click.echo(f"absent: citizen {citizen_id}")
    sys.exit(1 if report.rejected else 0)
