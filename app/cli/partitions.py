"""``citizencard partitions``: the monthly partitions of the verification records on PostgreSQL
(issue 19 item 10; app/scanning/partitions.py; docs/operations.md "Partitioned verification records")."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.cli.params import plural
from app.runtime import runtime


@click.group()
def partitions() -> None:
    """Monthly partitions of the verification records (PostgreSQL; nothing to do on SQLite)."""


def _partitioned_connection():  # type: ignore[no-untyped-def]
    from app.platform.db import db
    from app.scanning.partitions import is_partitioned

    conn = db.session.connection()
    if not is_partitioned(conn):
        click.echo("verifications is not partitioned here (SQLite, or the schema is older): nothing to do")
        sys.exit(0)
    return conn


@partitions.command("ensure")
@click.option("--ahead", type=click.IntRange(0, 24), default=2, show_default=True,
              help="Months after this one (UTC) whose partitions must exist")
@with_appcontext
def partitions_ensure(ahead: int) -> None:
    """Create the missing partitions of this month and the next ones. Run daily (and at deploy)."""
    from app.platform.db import db
    from app.scanning.partitions import ensure

    conn = _partitioned_connection()
    created = ensure(conn, runtime().clock.now(), ahead)
    db.session.commit()
    click.echo(f"created {plural(len(created), 'partition')}" + (f": {', '.join(created)}" if created else ""))


@partitions.command("check")
@click.option("--ahead", type=click.IntRange(0, 24), default=1, show_default=True,
              help="Months after this one whose partitions must exist")
@with_appcontext
def partitions_check(ahead: int) -> None:
    """Exit 1 when the default partition holds rows (a month had no partition when they were
    written) or a partition of this month or the next --ahead ones is missing."""
    from app.scanning.partitions import Month, default_rows, monthly_partitions, step_of

    conn = _partitioned_connection()
    problems = []
    if (stray := default_rows(conn)) > 0:
        problems.append(f"the default partition holds {plural(stray, 'row')}: create their months' partitions "
                        "and move them (docs/operations.md)")
    existing = set(monthly_partitions(conn))
    month = Month.of_step(step_of(runtime().clock.now()))
    missing = [m.partition for m in (month.plus(n) for n in range(ahead + 1)) if m not in existing]
    if missing:
        problems.append(f"missing partitions: {', '.join(missing)} (run `citizencard partitions ensure`)")
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(1)
    click.echo(f"ok: {plural(len(existing), 'monthly partition')}, the default partition is empty")
