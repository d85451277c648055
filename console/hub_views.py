"""Console pages of the city data hub (docs/data-hub.md): the daily figures with charts per town
and per scene and their CSV export (every staff role: suppressed aggregates, no personal data),
and the misuse cases of the ``investigator`` role (M-27)."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from flask import Response, flash, g, redirect, render_template, request, url_for

from app.hub import cases as misuse
from app.hub.figures import chart_series, computed_through, figures_of
from app.platform.errors import AppError
from app.runtime import runtime

from .forms import MAX_TEXT
from .text import text
from .views import blp

CHART_WIDTH = 420


def _range() -> tuple[date, date]:
    """``?from=&to=`` (YYYY-MM-DD), default: the 14 days through the last computed one; at most 92 days."""
    last = computed_through() or runtime().clock.now().date()
    try:
        day_to = date.fromisoformat(request.args.get("to", "")[:10]) if request.args.get("to") else last
        day_from = date.fromisoformat(request.args.get("from", "")[:10]) if request.args.get("from") else day_to - timedelta(days=13)
    except ValueError:
        raise AppError("validation_error", 422, "from and to are dates: YYYY-MM-DD") from None
    if not 0 <= (day_to - day_from).days <= 92:
        raise AppError("validation_error", 422, "to must be 0-92 days after from")
    return day_from, day_to


def bars(series: list[tuple[str, int | None]]) -> list[dict[str, Any]]:
    """Bar geometry for an SVG chart: a suppressed value is drawn as an empty, dashed bar."""
    top = max((value for _, value in series if value is not None), default=0) or 1
    return [{"label": label, "value": value, "y": 24 * index, "width": round(CHART_WIDTH * (value or 0) / top)}
            for index, (label, value) in enumerate(series)]


@blp.route("/figures")
def figures() -> Any:
    """Daily figures (M-10(2), M-10(7)): charts per town and per scene, the table, CSV export."""
    day_from, day_to = _range()
    series = chart_series(day_from, day_to)
    return render_template("console/figures.html", day_from=day_from, day_to=day_to,
                           charts={name: bars(values) for name, values in series.items()},
                           items=figures_of(day_from, day_to), computed=computed_through(), chart_width=CHART_WIDTH)


@blp.route("/figures.csv")
def figures_csv() -> Any:
    """The same figures as CSV (UTF-8 with BOM, for spreadsheet programs); suppressed values empty."""
    day_from, day_to = _range()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["day", "town", "department", "metric", "key", "value"])
    for item in figures_of(day_from, day_to):
        writer.writerow([item["day"], item["town"], item["department"], item["metric"], item["key"],
                         "" if item["value"] is None else item["value"]])
    name = f"figures-{day_from}-{day_to}.csv"
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- misuse cases (investigators) -----------------------------------------------------------------


@blp.route("/cases")
def case_list() -> Any:
    """Open lending flags (open a case from one) and the newest cases."""
    return render_template("console/cases.html", flags=misuse.open_flags_for_cases(g.actor), cases=misuse.cases(g.actor))


@blp.route("/cases/open", methods=["POST"])
def case_open() -> Any:
    """Open a case from a flag (its card's other open flags join it)."""
    flag = request.form.get("flag_id", "")
    if not flag.isdigit() or len(flag) > 12:
        raise AppError("validation_error", 422, "flag_id")
    case = misuse.open_case(runtime(), g.actor, int(flag))
    return redirect(url_for("console.case_page", number=case.case_number))


@blp.route("/cases/<number>")
def case_page(number: str) -> Any:
    """One case: the holder (masked), the flags, the statement, the decision, the appeal (an audited read)."""
    return render_template("console/case.html", view=misuse.case_page(runtime(), g.actor, number[:24]))


def _form_text(name: str) -> str:
    value = request.form.get(name, "").strip()
    if not value or len(value) > min(MAX_TEXT, 500):
        raise AppError("text_required", 422, f"{name}: 1-500 characters")
    return value


CASE_ACTIONS = {
    "notify": lambda rt, actor, number: misuse.notify(rt, actor, number),
    "statement": lambda rt, actor, number: misuse.record_statement(rt, actor, number, _form_text("statement")),
    "decide": lambda rt, actor, number: misuse.decide(rt, actor, number, request.form.get("violation") == "1",
                                                      _form_text("reason")),
    "appeal": lambda rt, actor, number: misuse.appeal(rt, actor, number, _form_text("grounds")),
    "appeal_decision": lambda rt, actor, number: misuse.decide_appeal(rt, actor, number, request.form.get("upheld") == "1",
                                                                      _form_text("outcome")),
}


@blp.route("/cases/<number>/<action>", methods=["POST"])
def case_act(number: str, action: str) -> Any:
    """notify, statement, decide, appeal, appeal_decision: then back to the case."""
    if action not in CASE_ACTIONS:
        raise AppError("case_not_found", 404, "no such action")
    CASE_ACTIONS[action](runtime(), g.actor, number[:24])
    flash(text("done", g.language), "ok")
    return redirect(url_for("console.case_page", number=number[:24]))
