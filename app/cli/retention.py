"""``citizencard retention``: delete what the retention table (docs/operations.md) no longer keeps."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.runtime import runtime


@click.group()
def retention() -> None:
    """Personal data past its retention period (PIPL art. 19, 47; docs/operations.md)."""


@retention.command("run")
@with_appcontext
def retention_run() -> None:
    """Delete the rows whose retention period is over (run daily, after the audit seal); prints the
    count per table (verification_partitions: monthly partitions dropped, PostgreSQL). Exit 1,
    the verification records untouched, while an expired one is not yet sealed into the audit chain."""
    from app.service_desk.retention import Refused, run

    try:
        deleted = run(runtime())
    except Refused as refused:
        deleted = refused.deleted
        click.echo(f"verifications not deleted: {refused}", err=True)
    for table, count in deleted.items():
        click.echo(f"{table}\t{count}")
    if "verifications" not in deleted:
        sys.exit(1)
