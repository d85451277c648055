"""Console pages: log-in, queue, ticket, citizen (purpose-bound), breaches, audit trail.

Handlers are thin: read the form, call a service with the logged-in actor, render or redirect.
Services enforce the roles (app.service_desk.complaints, app.service_desk.lookup) and raise AppError,
which is rendered here as an HTML page with the same status.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, stream_with_context, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from app.platform import xlsxfile
from app.platform.clock import DISPLAY_ZONE
from app.platform.errors import AppError
from app.runtime import runtime
from app.service_desk import audit, audit_search, complaints, dashboard, help_centre, lookup, queue, staff

from . import csrf, forms
from .text import has_text, text

blp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                static_folder="static", static_url_path="/static")
PUBLIC_ENDPOINTS = ("console.login", "console.static")


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


@blp.app_template_filter("rating_items")
def _rating_items(ratings: dict[int, int]) -> dict[str, int]:
    """Score -> count as the bar chart's labels, ``★5`` first."""
    return {f"★{score}": ratings.get(score, 0) for score in range(5, 0, -1)}


@blp.app_template_filter("workload_items")
def _workload_items(workload: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Username -> open tickets now, for the workload chart."""
    return {username: counts[0] for username, counts in workload.items()}


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
    """The role's start page: the queue (an auditor: the audit trail; a counter, a reviewer, an investigator:
    their own pages). ?q= finds a ticket by its number; the filter form (console.forms.QueueForm)
    pages, filters, sorts and searches."""
    actor = g.actor
    if actor.role == "auditor":
        return redirect(url_for("console.audit_trail"))
    if actor.role == "counter":
        return redirect(url_for("console.counter_home"))
    if actor.role == "reviewer":
        return redirect(url_for("console.applications"))
    if actor.role == "investigator":
        return redirect(url_for("console.case_list"))
    if actor.role == "catalogue_editor":
        return redirect(url_for("console.catalogue_items"))
    wanted = request.args.get("q", "").strip()[:24]
    if wanted:
        try:
            return redirect(url_for("console.ticket", number=complaints.staff_ticket(actor, wanted).ticket_number))
        except AppError:
            flash(text("not_found", g.language), "error")
    rt = runtime()
    staff_list = queue.front_line_staff()
    form = forms.QueueForm(request.args)
    form.validate()
    filters = form.wanted(rt.config["CARD_COMPLAINT_CATEGORIES"], rt.config["CARD_DEPARTMENTS"])
    result = queue.load(actor, filters, rt.clock.now())
    args = {k: v for k, v in request.args.items() if k not in ("page", "view", "q", "suffix", "after") and v}
    return render_template("console/queue.html", result=result, tickets=result.tickets, view=filters.view,
                           views=tuple(result.counts), form=form,
                           statuses=queue.STATUSES, sorts=queue.SORTS, args=args, staff_list=staff_list,
                           assignees=complaints.assignee_names(result.tickets), query=wanted)


@blp.route("/tickets/<number>")
def ticket(number: str) -> Any:
    """One ticket: the complaint, its messages, the actions the role may take."""
    return _ticket_page(complaints.staff_ticket(g.actor, number))


def _ticket_page(complaint: Any, failed: str | None = None, status: int = 200) -> Any:
    rt = runtime()
    ticket_forms = forms.ticket_forms(rt.config["CARD_DEPARTMENTS"], queue.front_line_staff(),
                                      request.form if failed else None, failed)
    if failed:
        ticket_forms[failed].validate()
    return render_template("console/ticket.html", ticket=complaint, messages=complaints.messages_of(complaint),
                           assignees=complaints.assignee_names([complaint]), forms=ticket_forms,
                           max_text=forms.MAX_TEXT), status


ACTIONS = {
    "claim": lambda rt, actor, number, form: complaints.claim(rt, actor, number),
    "reply": lambda rt, actor, number, form: complaints.reply(rt, actor, number, form.body.data.strip()),
    "note": lambda rt, actor, number, form: complaints.add_internal_note(rt, actor, number, form.body.data.strip()),
    "transfer": lambda rt, actor, number, form: complaints.transfer(rt, actor, number, form.department.data,
                                                                    (form.note.data or "").strip()),
    "close": lambda rt, actor, number, form: complaints.close(rt, actor, number, form.note.data.strip()),
    "reassign": lambda rt, actor, number, form: complaints.reassign(rt, actor, number, form.username.data),
}


@blp.route("/tickets/<number>/<action>", methods=["POST"])
def act(number: str, action: str) -> Any:
    """claim, reply, note (internal), transfer, close, reassign: then back to the ticket (a liaison to the queue
    once answered). A form that does not validate comes back as the ticket page (422) with the
    error beside its field."""
    if action not in ACTIONS:
        abort(404)
    rt = runtime()
    form = None
    if action in forms.FORMS:
        form = forms.ticket_forms(rt.config["CARD_DEPARTMENTS"], queue.front_line_staff(), request.form, action)[action]
        if not form.validate():
            return _ticket_page(complaints.staff_ticket(g.actor, number), failed=action, status=422)
    complaint = ACTIONS[action](rt, g.actor, number, form)
    flash(text("done", g.language), "ok")
    if g.actor.role == "liaison" and complaint.status != "transferred":
        return redirect(url_for("console.home"))
    return redirect(url_for("console.ticket", number=complaint.ticket_number))


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
    tickets, total = complaints.breaches(runtime())
    return render_template("console/breaches.html", tickets=tickets, total=total, assignees=complaints.assignee_names(tickets))


@blp.route("/dashboard")
def dashboard_page() -> Any:
    """Supervisors: volumes per day, deadline rates, backlog, workload, ratings (SVG charts drawn here)."""
    complaints.require_role(g.actor, "supervisor")
    days = request.args.get("days", "30")
    window = int(days) if days in ("7", "30", "90") else 30
    board = dashboard.build(runtime().clock.now(), window)
    return render_template("console/dashboard.html", board=board, window=window)


@blp.route("/queue.csv", defaults={"suffix": "csv"})
@blp.route("/queue.xlsx", defaults={"suffix": "xlsx"})
def queue_export(suffix: str) -> Any:
    """Supervisors: the filtered queue tab for Excel (ticket metadata, no complaint text): ``.csv``
    (UTF-8 with BOM, streamed) or ``.xlsx`` (a workbook with Chinese headers); the same rows."""
    complaints.require_role(g.actor, "supervisor")
    rt = runtime()
    form = forms.QueueForm(request.args)
    form.validate()
    wanted = form.wanted(rt.config["CARD_COMPLAINT_CATEGORIES"], rt.config["CARD_DEPARTMENTS"])
    query = queue.tab_query(g.actor, wanted, rt.clock.now())
    if suffix == "xlsx":
        return _workbook(dashboard.export_xlsx(query), "queue")
    return _csv(stream_with_context(dashboard.export_csv(query)), "queue")


def _stamped(name: str, suffix: str) -> str:
    return f'attachment; filename="{name}-{runtime().clock.now().astimezone(DISPLAY_ZONE):%Y%m%d-%H%M}.{suffix}"'


def _csv(rows: Any, name: str) -> Response:
    return Response(rows, mimetype="text/csv", headers={"Content-Disposition": _stamped(name, "csv")})


def _workbook(body: bytes, name: str) -> Response:
    return Response(body, mimetype=xlsxfile.MIMETYPE, headers={"Content-Disposition": _stamped(name, "xlsx")})


@blp.route("/help")
def help_list() -> Any:
    """Front line: the help centre's articles (``?q=``); supervisors see drafts too and edit."""
    complaints.require_role(g.actor, *complaints.FRONT_LINE)
    q = request.args.get("q", "")[:100]
    articles = help_centre.search(q, None, help_centre.MAX_RESULTS, published_only=g.actor.role != "supervisor")
    return render_template("console/help.html", articles=articles, q=q)


@blp.route("/help/new", methods=["GET", "POST"])
@blp.route("/help/<int:article_id>", methods=["GET", "POST"])
def help_edit(article_id: int | None = None) -> Any:
    """Supervisors: write or edit an article (409 ``article_changed`` shown inline when someone saved first)."""
    complaints.require_role(g.actor, "supervisor")
    rt = runtime()
    article = help_centre.get(article_id) if article_id else None
    form = forms.HelpArticleForm(obj=article) if request.method == "GET" else forms.HelpArticleForm()
    form.category.choices = [SelectChoice("", text("general", g.language))] + [
        SelectChoice(k, v) for k, v in rt.config["CARD_COMPLAINT_CATEGORIES"].items()]
    if request.method == "POST" and form.validate():
        fields = (form.title.data.strip(), form.body.data.strip(), form.category.data or None, bool(form.published.data))
        try:
            saved = (help_centre.save(rt, g.actor, article.id, form.version.data or 0, *fields) if article
                     else help_centre.create(rt, g.actor, *fields))
        except AppError as exc:
            if exc.code != "article_changed":
                raise
            form.version.errors = [exc.code]
        else:
            flash(text("done", g.language), "ok")
            return redirect(url_for("console.help_edit", article_id=saved.id))
    status = 422 if request.method == "POST" else 200
    return render_template("console/help_edit.html", form=form, article=article), status


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
    """Auditors: the trail, filtered (actor, action, dates, citizen) and paged, newest first (ids
    and field names, no personal data); POST verifies the chain."""
    complaints.require_role(g.actor, "auditor")
    report = audit.verify_chain(runtime()) if request.method == "POST" else None
    form = forms.AuditForm(request.args)
    form.validate()
    result = audit_search.search(form.wanted())
    args = {k: v for k, v in request.args.items() if k not in ("page", "suffix") and v}
    return render_template("console/audit.html", result=result, records=result.records, report=report, form=form,
                           args=args, actions=audit_search.actions())


@blp.route("/audit.csv", defaults={"suffix": "csv"})
@blp.route("/audit.xlsx", defaults={"suffix": "xlsx"})
def audit_export(suffix: str) -> Any:
    """Auditors: the filtered trail as ``.csv`` (UTF-8 with BOM) or ``.xlsx`` (Chinese headers),
    the same rows, at most 100,000."""
    complaints.require_role(g.actor, "auditor")
    form = forms.AuditForm(request.args)
    form.validate()
    if suffix == "xlsx":
        return _workbook(audit_search.export_xlsx(form.wanted()), "audit")
    return _csv(stream_with_context(audit_search.export_csv(form.wanted())), "audit")
