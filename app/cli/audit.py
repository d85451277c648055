"""``citizencard audit``: seal verification records into the hash chain and verify the chain (M-25)."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.cli.params import plural
from app.runtime import runtime


@click.group()
def audit() -> None:
    """The hash-chained audit trail of access to personal data (M-25)."""


@audit.command("seal")
@with_appcontext
def audit_seal() -> None:
    """Copy settled partner verifications (older than 60 s) into the chain, oldest first. Run it every minute."""
    from app.service_desk.audit import seal_pending

    click.echo(f"sealed {seal_pending(runtime())}")


@audit.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check the whole chain; exit 1 naming the first edited, deleted or reordered record."""
    from app.service_desk.audit import verify_chain

    report = verify_chain()
    if not report.ok:
        click.echo(f"TAMPERED: {report.first_bad} ({plural(report.checked, 'record')} before it: intact)", err=True)
        sys.exit(1)
    click.echo(f"ok: {plural(report.checked, 'record')}, head {report.head_hash}, {report.pending} pending (not sealed yet)")
