"""Console pages: log-in, queue, ticket, citizen (purpose-bound), breaches, audit trail.

Handlers are thin: read the form, call a service with the logged-in actor, render or redirect.
Services enforce the roles (app.service_desk.complaints, app.service_desk.lookup) and raise AppError,
which is rendered here as an HTML page with the same status.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app.platform.clock import DISPLAY_ZONE
from app.platform.errors import AppError
from app.runtime import runtime
from app.service_desk import audit, complaints, lookup, staff

from . import csrf
from .text import has_text, text

blp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                static_folder="static", static_url_path="/static")
PUBLIC_ENDPOINTS = ("console.login", "console.static")
MAX_TEXT = 2000
QUEUE_VIEWS = ("open", "new", "mine", "closed")


@blp.before_request
def _guard() -> Response | None:
    """CSRF on every POST; on every page but log-in, a session that has not ended
    (app.service_desk.staff.session_actor: log-out, disabled account, idle or maximum life)."""
    g.language = request.accept_languages.best_match(["zh", "en"], default="zh")
    if request.method == "POST":
        csrf.protect()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    rt = runtime()
    actor = staff.session_actor(rt, session)
    if actor is None:
        expired = "staff_id" in session
        session.clear()
        if expired:
            flash(text("session_expired", g.language), "error")
        return redirect(url_for("console.login"))
    session["seen"] = rt.clock.time()
    g.actor = actor
    return None


@blp.app_template_filter("local")
def _local(moment: Any) -> str:
    return moment.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M") if moment else ""


@blp.context_processor
def _helpers() -> dict[str, Any]:
    rt = runtime()
    language = g.get("language", "zh")
    return {"t": lambda key: text(key, language), "label": lambda key, raw: text(key, language) if has_text(key) else raw,
            "actor": g.get("actor"), "now": rt.clock.now(),
            "open_alerts": (lambda: lookup.open_alert_count(g.actor)) if g.get("actor") else (lambda: 0),
            "departments": rt.config["CARD_DEPARTMENTS"], "categories": rt.config["CARD_COMPLAINT_CATEGORIES"]}


@blp.errorhandler(AppError)
def _app_error(error: AppError) -> Any:
    message = text(error.code, g.get("language", "zh")) if has_text(error.code) else error.message
    return render_template("console/error.html", message=message, code=error.code), error.http_status


@blp.errorhandler(CSRFError)
def _csrf_error(error: CSRFError) -> Any:
    return render_template("console/error.html", message=text("csrf_failed", g.get("language", "zh")), code="csrf_failed"), 400


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Any:
    return render_template("console/error.html", message=error.description, code=error.name), error.code or 500


@blp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The log-in form: username, password, TOTP code."""
    if request.method == "GET":
        return render_template("console/login.html")
    form = request.form
    try:
        actor = staff.authenticate(runtime(), form.get("username", "")[:64], form.get("password", "")[:256],
                                   form.get("otp", "").strip()[:12], request.remote_addr or "unknown")
    except AppError as exc:
        flash(text(exc.code, g.language), "error")
        return render_template("console/login.html", username=form.get("username", "")[:64]), exc.http_status, exc.headers
    session.clear()
    session.update(staff.open_session(runtime(), actor))
    return redirect(url_for("console.home"))


@blp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End the session on the server too (every copy of the cookie), then forget it."""
    staff.end_sessions(g.actor.staff_id)
    session.clear()
    return redirect(url_for("console.login"))


@blp.route("/")
def home() -> Any:
    """The role's start page: the queue (an auditor: the audit trail; an investigator: misuse
    cases). ``?q=`` finds a ticket."""
    actor = g.actor
    if actor.role == "auditor":
        return redirect(url_for("console.audit_trail"))
    if actor.role == "counter":
        return redirect(url_for("console.counter_home"))
    if actor.role == "reviewer":
        return redirect(url_for("console.applications"))
    if actor.role == "investigator":
        return redirect(url_for("console.case_list"))
    wanted = request.args.get("q", "").strip()[:24]
    if wanted:
        try:
            return redirect(url_for("console.ticket", number=complaints.staff_ticket(actor, wanted).ticket_number))
        except AppError:
            flash(text("not_found", g.language), "error")
    view = request.args.get("view", "open")
    view = view if view in QUEUE_VIEWS else "open"
    page = request.args.get("page", "1")
    page = int(page) if page.isascii() and page.isdigit() and len(page) <= 5 and int(page) > 0 else 1
    tickets, more = complaints.queue(actor, view, page)
    return render_template("console/queue.html", tickets=tickets, view=view, views=QUEUE_VIEWS, page=page, more=more,
                           assignees=complaints.assignee_names(tickets), query=wanted)


@blp.route("/tickets/<number>")
def ticket(number: str) -> Any:
    """One ticket: the complaint, its messages, the actions the role may take."""
    complaint = complaints.staff_ticket(g.actor, number)
    return render_template("console/ticket.html", ticket=complaint, messages=complaints.messages_of(complaint),
                           assignees=complaints.assignee_names([complaint]))


ACTIONS = {
    "claim": lambda rt, actor, number, form: complaints.claim(rt, actor, number),
    "reply": lambda rt, actor, number, form: complaints.reply(rt, actor, number, _text(form, "body")),
    "note": lambda rt, actor, number, form: complaints.add_internal_note(rt, actor, number, _text(form, "body")),
    "transfer": lambda rt, actor, number, form: complaints.transfer(rt, actor, number, form.get("department", ""),
                                                                    _text(form, "note", required=False)),
    "close": lambda rt, actor, number, form: complaints.close(rt, actor, number, _text(form, "note")),
    "reassign": lambda rt, actor, number, form: complaints.reassign(rt, actor, number, form.get("username", "")[:64]),
}


@blp.route("/tickets/<number>/<action>", methods=["POST"])
def act(number: str, action: str) -> Any:
    """claim, reply, note (internal), transfer, close, reassign: then back to the ticket (a liaison to the queue
    once answered)."""
    if action not in ACTIONS:
        abort(404)
    complaint = ACTIONS[action](runtime(), g.actor, number, request.form)
    flash(text("done", g.language), "ok")
    if g.actor.role == "liaison" and complaint.status != "transferred":
        return redirect(url_for("console.home"))
    return redirect(url_for("console.ticket", number=complaint.ticket_number))


def _text(form: Any, name: str, required: bool = True) -> str:
    value = form.get(name, "").strip()
    if (required and not value) or len(value) > MAX_TEXT:
        raise AppError("text_required", 422, f"{name}: 1-{MAX_TEXT} characters")
    return value


@blp.route("/tickets/<number>/citizen")
def citizen(number: str) -> Any:
    """The ticket's citizen, masked (recorded in the audit trail)."""
    return _citizen_page(number)


@blp.route("/tickets/<number>/citizen/unmask", methods=["POST"])
def unmask(number: str) -> Any:
    """Show one field in full, with a reason (recorded)."""
    field = request.form.get("field", "")
    value = lookup.unmask(runtime(), g.actor, number, field, request.form.get("reason", "")[:200])
    return _citizen_page(number, revealed={field: value})


@blp.route("/tickets/<number>/citizen/lookup", methods=["POST"])
def identify(number: str) -> Any:
    """Check whether a caller's phone or ID number is the ticket's citizen's, with a reason
    (counted, limited and recorded: app.service_desk.lookup.find_in_ticket)."""
    matched = lookup.find_in_ticket(runtime(), g.actor, number, request.form.get("query", "")[:32],
                                    request.form.get("reason", "")[:200])
    return _citizen_page(number, matched=matched)


def _citizen_page(number: str, revealed: dict[str, str] | None = None, matched: bool | None = None) -> Any:
    overview = lookup.card_overview(runtime(), g.actor, number)
    return render_template("console/citizen.html", number=number, citizen=overview, revealed=revealed or {},
                           matched=matched, fields=tuple(lookup.UNMASKABLE))


@blp.route("/breaches")
def breaches() -> Any:
    """Supervisors: tickets past a deadline."""
    complaints.require_role(g.actor, "supervisor")
    tickets = complaints.breaches(runtime())
    return render_template("console/breaches.html", tickets=tickets, assignees=complaints.assignee_names(tickets))


@blp.route("/alerts")
def alerts() -> Any:
    """Supervisors: staff alerts (caller-check misuse), unacknowledged first."""
    return render_template("console/alerts.html", alerts=lookup.alerts(g.actor))


@blp.route("/alerts/<int:alert_id>/ack", methods=["POST"])
def acknowledge(alert_id: int) -> Any:
    """Supervisors: mark an alert as seen."""
    lookup.acknowledge_alert(runtime(), g.actor, alert_id)
    return redirect(url_for("console.alerts"))


@blp.route("/audit", methods=["GET", "POST"])
def audit_trail() -> Any:
    """Auditors: the newest records (ids and field names, no personal data); POST verifies the chain."""
    complaints.require_role(g.actor, "auditor")
    report = audit.verify_chain(runtime()) if request.method == "POST" else None
    return render_template("console/audit.html", records=audit.recent_records(), report=report)
