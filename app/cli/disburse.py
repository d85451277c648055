"""``citizencard disburse ...`` (import a department's batch, print a reconciliation) and
``citizencard notify run`` (drain the WeChat notice outbox). docs/benefits.md."""
from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

from app.cli.operators import argument, audited
from app.runtime import runtime

if TYPE_CHECKING:
    from app.money.settlement import Reconciliation


@click.group()
def disburse() -> None:
    """Benefit disbursement batches (M-20, M-22)."""


def _department(partner_id: str) -> int:
    """The database id of a partner holding the disburse role; a usage error otherwise."""
    from app.partners.partners import partner_view

    partner = partner_view(runtime(), partner_id)
    if partner is None or partner.disabled or "disburse" not in partner.roles:
        raise click.BadParameter(f"{partner_id} is not an active partner with the disburse role", param_hint="--department")
    return partner.id


@disburse.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--department", required=True, help="The department's partner id (role disburse)")
@click.option("--batch", "batch_reference", default=None,
              help="The batch reference, 1-64 of A-Za-z0-9_.:- (default: the file name without its final .csv)")
@with_appcontext
@audited("disburse_import", argument("department", "department:"), ("id_number", "card_number", "amount_fen"))
def disburse_import(path: str, department: str, batch_reference: str | None) -> None:
    """Import a batch CSV (header line_reference,id_number,card_number,benefit_type,amount_fen,period).
    Rejected lines are printed with their reason; exit 1 if any was rejected."""
    from app.money.disbursement import read_batch_csv, submit_batch
    from app.platform.csvfile import CsvFileError, open_csv

    department_id = _department(department)
    reference = _batch_reference(path, batch_reference)
    started = time.perf_counter()
    try:
        with open_csv(path) as stream:
            report = submit_batch(runtime(), department_id, reference, read_batch_csv(stream))
    except (CsvFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for line, _line_reference, reason in report.rejected:  # never the line's values: they may be personal data
        click.echo(f"line {line}: rejected: {reason}", err=True)
    click.echo(f"batch {reference}: accepted {report.accepted}, duplicates {report.duplicates}, "
               f"rejected {len(report.rejected)} in {time.perf_counter() - started:.1f} s")
    sys.exit(1 if report.rejected else 0)


def _batch_reference(path: str, given: str | None) -> str:
    """``--batch`` (checked by the service) or else the file name without its final ``.csv`` (any
    case); a usage error saying how to pass ``--batch`` when the name does not end in .csv or the
    rest is not a batch reference (``pension-2026-10.csv.bak``, ``.csv``)."""
    from pathlib import Path

    from app.money.disbursement import REFERENCE

    if given is not None:
        return given
    name = Path(path).name
    stem = name[:-len(".csv")] if name.lower().endswith(".csv") else ""
    if not REFERENCE.fullmatch(stem):
        raise click.BadParameter(f"the file name {name!r} does not give a batch reference (the name without .csv, 1-64 of "
                                 "A-Za-z0-9_.:-): give one with --batch REFERENCE, e.g. --batch pension-2026-10", param_hint="PATH")
    return stem


@disburse.command("report")
@click.option("--batch", "batch_reference", default=None, help="One batch (default: all the department's batches)")
@click.option("--department", default=None, help="The department's partner id (needed when several departments used the reference)")
@with_appcontext
@audited("disburse_report", argument("batch_reference", "batch:"), ("amount_fen",))
def disburse_report(batch_reference: str | None, department: str | None) -> None:
    """Print the reconciliation: total = credited + returned + pending, in lines and yuan."""
    from app.money.settlement import batches_named, reconcile

    if batch_reference is None:
        if department is None:
            raise click.UsageError("give --batch, --department or both")
        _print_reconciliation(f"department {department}", reconcile(_department(department)))
        return
    batches = batches_named(batch_reference)
    if department is not None:
        department_id = _department(department)
        batches = [batch for batch in batches if batch.department_id == department_id]
    if not batches:
        raise click.ClickException(f"no batch {batch_reference}")
    if len(batches) > 1:
        raise click.UsageError("several departments used this batch reference: add --department")
    _print_reconciliation(f"batch {batch_reference}", reconcile(batches[0].department_id, batches[0].id))


def _print_reconciliation(title: str, totals: Reconciliation) -> None:
    from app.money.notifications import format_yuan

    click.echo(title)
    for name in ("credited", "returned", "pending", "total"):
        tally = getattr(totals, name)
        click.echo(f"  {name:<9}{tally.count:>10} lines {format_yuan(tally.amount_fen):>20}")
    click.echo("  balanced: total = credited + returned + pending" if totals.balanced else "  NOT BALANCED")
    if not totals.balanced:
        sys.exit(2)


@click.group()
def notify() -> None:
    """WeChat subscribe messages and Alipay template messages (benefits, service desk, payments)."""


@notify.command("run")
@click.option("--loop", is_flag=True, help="Keep running, polling every --interval seconds")
@click.option("--interval", type=click.FloatRange(0.1, 3600), default=5.0, show_default=True)
@with_appcontext
def notify_run(loop: bool, interval: float) -> None:
    """Send the notices that are due (benefits credited; service-desk replies and closings; large
    charges and declines; WeChat and Alipay); failures are retried with backoff, a final refusal (43101, ...) is not."""
    from app.money import notifications, payment_notices
    from app.outbox.outbox import senders
    from app.service_desk import notices

    rt = runtime()
    both = senders(rt)
    while True:
        report = notifications.deliver_due(rt, both)
        click.echo(f"sent {report.sent}, failed {report.failed}, retrying {report.retrying}")
        desk = notices.deliver_due(rt, both)
        click.echo(f"service desk: sent {desk.sent}, failed {desk.failed}, retrying {desk.retrying}")
        paid = payment_notices.deliver_due(rt, both)
        click.echo(f"payments: sent {paid.sent}, failed {paid.failed}, retrying {paid.retrying}")
        if not loop:
            return
        time.sleep(interval)

