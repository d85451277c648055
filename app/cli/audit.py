"""``citizencard audit``: seal verification records into the hash chain, verify the chain, anchor
it outside the database (checkpoints) and re-sign an unsigned head after checking it (M-25)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.cli.params import plural
from app.platform.errors import AppError
from app.runtime import runtime


@click.group()
def audit() -> None:
    """The hash-chained audit trail of access to personal data (M-25)."""


@audit.command("seal")
@click.option("--loop", is_flag=True, help="Keep running, sealing every --interval seconds (a service: deploy/systemd)")
@click.option("--interval", type=click.FloatRange(1, 3600), default=60.0, show_default=True)
@with_appcontext
def audit_seal(loop: bool, interval: float) -> None:
    """Copy settled partner verifications (older than 60 s) into the chain, oldest first. Run it
    every minute, or with --loop. Exit 1 when the chain refuses (an unsigned head: see `audit
    verify`), in a loop too: a service manager then restarts it and the failure is seen."""
    import time

    from app.platform.db import db
    from app.service_desk.audit import seal_pending

    while True:
        try:
            click.echo(f"sealed {seal_pending(runtime())}")
        except AppError as exc:
            click.echo(f"not sealed: {exc.message}", err=True)
            sys.exit(1)
        db.session.remove()
        if not loop:
            return
        time.sleep(interval)


@audit.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file written by `audit checkpoint`: fail if the chain is shorter than it or differs")
@with_appcontext
def audit_verify(checkpoint_file: Path | None) -> None:
    """Check the whole chain and its signed head; exit 1 naming the first edited, deleted,
    reordered or appended record (exit 2: the checkpoint file is not a valid one of ours)."""
    from app.service_desk.audit import load_checkpoint, verify_chain

    rt = runtime()
    checkpoint = None
    if checkpoint_file is not None:
        try:
            checkpoint = load_checkpoint(rt, checkpoint_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            click.echo(f"{checkpoint_file}: {exc}", err=True)
            sys.exit(2)
    report = verify_chain(rt, checkpoint)
    if not report.ok:
        click.echo(f"TAMPERED: {report.first_bad} ({plural(report.checked, 'record')} before it: intact)", err=True)
        sys.exit(1)
    anchored = f"; checkpoint seq {checkpoint.seq}: matches" if checkpoint is not None else ""
    click.echo(f"ok: {plural(report.checked, 'record')}, head {report.head_hash}, {report.pending} pending (not sealed yet){anchored}")


@audit.command("checkpoint")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def audit_checkpoint(path: Path) -> None:
    """Verify the chain, then write its signed head (seq, hash, time) to PATH. Run it periodically
    and copy the file off the database host (an object store with retention): `audit verify
    --checkpoint PATH` later fails if the chain became shorter or different."""
    from app.service_desk.audit import make_checkpoint

    try:
        content = make_checkpoint(runtime())
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(content, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        click.echo(f"checkpoint not written: cannot write {path}: {exc.strerror}", err=True)
        sys.exit(1)
    click.echo(f"checkpoint written to {path}")


@audit.command("resign")
@click.option("--by", required=True, help="Who checked the chain and re-signs it (recorded)")
@click.option("--reason", required=True, help="Why, e.g. the incident number (recorded)")
@with_appcontext
def audit_resign(by: str, reason: str) -> None:
    """Recovery for a head not signed by CARD_AUDIT_KEYS (after `audit verify` said so and you
    compared the records since the last checkpoint): append a `resign` record naming you and the
    reason, and sign the new head."""
    from app.service_desk.audit import resign_head

    if not by.strip() or not reason.strip():
        raise click.BadParameter("--by and --reason must not be empty")
    try:
        seq = resign_head(runtime(), by.strip(), reason.strip())
    except ValueError as exc:
        click.echo(f"not re-signed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"re-signed: head at seq {seq} (the resign record)")
