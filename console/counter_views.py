"""Counter pages (issue 18 item 4; docs/family.md "At the counter"): the ``counter`` role serves a
resident standing at the counter with their ID document. The resident being served is kept in
the session (``counter_citizen``) after the bind step; every action is audited by
app.service_desk.counter."""
from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from app.card.family import RELATIONS
from app.card.offline_certificates import OFFLINE_SCENES
from app.platform.errors import AppError
from app.runtime import runtime
from app.service_desk import counter

from .text import text
from .views import blp

SERVING = "counter_citizen"


def _serving() -> int:
    citizen_id = session.get(SERVING)
    if not isinstance(citizen_id, int):
        raise AppError("no_resident", 409, "bind the resident at the counter first")
    return citizen_id


@blp.route("/counter", methods=["GET"])
def counter_home() -> Any:
    """The bind form (name, ID number, "document checked"), and the resident being served."""
    counter.require_role(g.actor, counter.ROLE)
    citizen_id = session.get(SERVING)
    if not isinstance(citizen_id, int):
        return render_template("console/counter.html", resident=None, relations=RELATIONS, scenes=OFFLINE_SCENES)
    rt = runtime()
    members, guardians = counter.family_lists(rt, citizen_id)
    return render_template("console/counter.html", resident=counter.resident(rt, g.actor, citizen_id), members=members,
                           guardians=guardians, relations=RELATIONS, scenes=OFFLINE_SCENES)


@blp.route("/counter/bind", methods=["POST"])
def counter_bind() -> Response:
    """Bind (and start serving) the resident whose document is in hand."""
    form = request.form
    session[SERVING] = counter.counter_bind(runtime(), g.actor, form.get("name", "")[:50], form.get("id_number", "")[:32],
                                            form.get("document_seen") == "yes")
    return _done()


@blp.route("/counter/done", methods=["POST"])
def counter_finish() -> Response:
    """Stop serving this resident."""
    session.pop(SERVING, None)
    return redirect(url_for("console.counter_home"))


@blp.route("/counter/family", methods=["POST"])
def counter_family_add() -> Response:
    """Add a member to the resident's list (confirmed at once when the member is present with their document)."""
    form = request.form
    counter.add_member(runtime(), g.actor, _serving(), form.get("name", "")[:50], form.get("id_number", "")[:32],
                       form.get("relation", ""), form.get("member_present") == "yes")
    return _done()


@blp.route("/counter/family/<int:entry_id>/remove", methods=["POST"])
def counter_family_remove(entry_id: int) -> Response:
    """End one of the resident's entries (as guardian or member)."""
    counter.remove_member(runtime(), g.actor, _serving(), entry_id)
    return _done()


@blp.route("/counter/printed", methods=["POST"])
def counter_printed_issue() -> Response:
    """Issue a printed code for the scenes ticked and the days given."""
    days = request.form.get("days", "180")
    counter.issue_printed(runtime(), g.actor, _serving(), request.form.getlist("scenes"),
                          int(days) if days.isascii() and days.isdigit() and len(days) <= 3 else 0)
    return _done()


@blp.route("/counter/printed.pdf", methods=["GET"])
def counter_printed_pdf() -> Response:
    """The A6 PDF to print and hand over."""
    pdf = counter.printed_pdf(runtime(), g.actor, _serving())
    return Response(pdf, mimetype="application/pdf", headers={"Cache-Control": "no-store",
                                                              "Content-Disposition": "inline; filename=printed-code.pdf"})


@blp.route("/counter/printed/revoke", methods=["POST"])
def counter_printed_revoke() -> Response:
    """Revoke the printed code at once."""
    counter.revoke_printed(runtime(), g.actor, _serving())
    return _done()


@blp.route("/counter/loss", methods=["POST"])
def counter_loss() -> Response:
    """Report loss: the e-card suspended, the printed code revoked, the physical card reported lost."""
    counter.report_loss(runtime(), g.actor, _serving())
    return _done()


def _done() -> Response:
    flash(text("done", g.language), "ok")
    return redirect(url_for("console.counter_home"))
