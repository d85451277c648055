"""``citizencard catalogue``: the service catalogue's consistency checks, export and history (M-16)."""
from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from app.runtime import runtime


@click.group()
def catalogue() -> None:
    """The catalogue of services that accept the card (docs/service-catalogue.md)."""


@catalogue.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON")
@with_appcontext
def catalogue_check(as_json: bool) -> None:
    """Every enabled scene has an open item; every partner granted a scene appears in some item;
    items not reviewed for a year. Exit 1 when any check fails."""
    from app.catalogue.checks import check
    from app.catalogue.items import today
    from scenes.registry import SCENE_NAMES

    rt = runtime()
    chosen = rt.config["CARD_SCENES_ENABLED"]  # None: all
    enabled = [name for name in SCENE_NAMES if chosen is None or name in chosen]
    findings = check(enabled, today(rt))
    if as_json:
        click.echo(json.dumps({"ok": findings.ok, "scenes_without_items": findings.scenes_without_items,
                               "partners_without_items": findings.partners_without_items,
                               "items_not_reviewed": findings.items_not_reviewed}, ensure_ascii=False))
    else:
        click.echo(f"scenes without an open item: {', '.join(findings.scenes_without_items) or 'none'}")
        click.echo(f"partners granted a scene but in no item: {', '.join(findings.partners_without_items) or 'none'}")
        click.echo(f"items not reviewed for a year: {', '.join(findings.items_not_reviewed) or 'none'}")
    if not findings.ok:
        sys.exit(1)


@catalogue.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@with_appcontext
def catalogue_export(fmt: str) -> None:
    """Print the whole catalogue (open data) as JSON or CSV."""
    from app.catalogue.search import export_csv, export_items

    items = export_items()
    click.echo(export_csv(items) if fmt == "csv" else json.dumps({"items": items}, ensure_ascii=False), nl=fmt == "json")


@catalogue.command("history")
@click.argument("code")
@with_appcontext
def catalogue_history(code: str) -> None:
    """Every version of item CODE: version, when, by which partner."""
    from app.catalogue.items import history

    for row in history(code):
        click.echo(f"{row.version}\t{row.changed_at.isoformat()}\t{row.changed_by}")
