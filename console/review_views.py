"""Console pages of the ``reviewer`` role (issue 17 item 1, M-5): e-card applications of residents
off the roster. A list (paged; by status, or the overdue ones), a detail page (its read recorded
first: app.service_desk.reviews.detail) and three decisions, each one conditional change (the
service enforces the role and the state; a lost race renders 409 ``application_decided``)."""
from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from app.runtime import runtime
from app.service_desk import reviews
from app.service_desk.models import APPLICATION_STATUSES

from .text import text
from .views import blp


def _page() -> int:
    page = request.args.get("page", "1")
    return int(page) if page.isascii() and page.isdigit() and len(page) <= 5 and int(page) > 0 else 1


@blp.route("/applications")
def applications() -> Any:
    """Reviewers: applications, earliest deadline first; ``?status=`` one status, ``?overdue=1``
    pending past the deadline, ``?page=`` (50 a page)."""
    status = request.args.get("status") or None
    status = status if status in APPLICATION_STATUSES else None
    overdue = request.args.get("overdue") == "1"
    page = _page()
    lines, more = reviews.queue(runtime(), g.actor, status, overdue, page)
    return render_template("console/applications.html", lines=lines, more=more, page=page, status=status,
                           overdue=overdue, statuses=APPLICATION_STATUSES)


@blp.route("/applications/<reference>")
def application(reference: str) -> Any:
    """Reviewers: one application (the read is recorded before it is shown)."""
    return render_template("console/application.html", item=reviews.detail(runtime(), g.actor, reference))


@blp.route("/applications/<reference>/approve", methods=["POST"])
def approve(reference: str) -> Any:
    """Approve: the applicant's e-card is issued (``counter=1``: the original was seen at a counter)."""
    reviews.approve(runtime(), g.actor, reference, request.form.get("counter") == "1")
    flash(text("application_approved", g.language), "ok")
    return redirect(url_for("console.applications"))


@blp.route("/applications/<reference>/refuse", methods=["POST"])
def refuse(reference: str) -> Any:
    """Refuse with a reason the applicant reads."""
    reviews.refuse(runtime(), g.actor, reference, request.form.get("reason", "")[:reviews.MAX_TEXT + 1])
    flash(text("done", g.language), "ok")
    return redirect(url_for("console.applications"))


@blp.route("/applications/<reference>/ask", methods=["POST"])
def ask(reference: str) -> Any:
    """Ask the applicant for more information (they answer in the mini-program)."""
    reviews.ask(runtime(), g.actor, reference, request.form.get("question", "")[:reviews.MAX_TEXT + 1])
    flash(text("done", g.language), "ok")
    return redirect(url_for("console.applications"))
