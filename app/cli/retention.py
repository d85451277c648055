"""``citizencard retention``: delete what the retention table (docs/operations.md) no longer keeps."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.runtime import runtime


@click.group()
def retention() -> None:
    """Personal data past its retention period (PIPL art. 19, 47; docs/operations.md)."""


@retention.command("run")
@with_appcontext
def retention_run() -> None:
    """Delete the rows whose retention period is over (run daily); prints the count per table."""
    from app.service_desk.retention import run

    for table, count in run(runtime()).items():
        click.echo(f"{table}\t{count}")
