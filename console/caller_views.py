"""Console pages for callers without the app (issue 21 item 3; app/service_desk/callers.py).

``/console/callers/new``: an agent opens a phone or walk-in ticket from the ID number the caller
gives (a counted, recorded caller check). ``/console/callers/<number>``: the caller's ticket:
send and check the SMS code, then (verified only) the card, the card actions and an unbinding
request. ``/console/unbindings``: supervisors approve or refuse unbinding requests. Forms are
WTForms through Flask-WTF (errors beside their field); the services enforce roles and states.
"""
from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from app.platform.errors import AppError
from app.runtime import runtime
from app.service_desk import callers, complaints, lookup

from .forms import MAX_TEXT
from .text import text
from .views import blp


class CallerTicketForm(FlaskForm):
    """A caller's ticket: how they came, the ID number they give, what they need, why we look them up."""

    channel = RadioField(choices=[SelectChoice(c, c) for c in callers.CHANNELS], default="phone", validators=[DataRequired()])
    id_number = StringField(validators=[DataRequired(), Length(min=15, max=20)])
    category = SelectField(validators=[DataRequired()])
    description = TextAreaField(validators=[DataRequired(), Length(max=MAX_TEXT)])
    reason = StringField(validators=[DataRequired(), Length(min=4, max=200)])


class CodeForm(FlaskForm):
    code = StringField(validators=[DataRequired(), Regexp(r"^\d{6}$")])


class CardActionForm(FlaskForm):
    action = SelectField(choices=[SelectChoice(a, a) for a in callers.CARD_ACTIONS], validators=[DataRequired()])
    device_id = IntegerField(validators=[Optional()])
    reason = StringField(validators=[DataRequired(), Length(min=4, max=200)])


class UnbindingForm(FlaskForm):
    reason = StringField(validators=[DataRequired(), Length(min=4, max=200)])


@blp.route("/callers/new", methods=["GET", "POST"])
def caller_new() -> Any:
    """Front line: open a ticket for a phone or walk-in caller (404 ``caller_not_found`` shown inline)."""
    complaints.require_role(g.actor, *complaints.FRONT_LINE)
    rt = runtime()
    form = CallerTicketForm()
    form.category.choices = [SelectChoice(k, v) for k, v in rt.config["CARD_COMPLAINT_CATEGORIES"].items()]
    if request.method == "POST" and form.validate():
        try:
            complaint = callers.open_caller_ticket(rt, g.actor, form.channel.data, form.id_number.data,
                                                   form.category.data, form.description.data.strip(), form.reason.data)
        except AppError as exc:
            if exc.code != "caller_not_found":
                raise
            form.id_number.errors = [text("caller_not_found", g.language)]
        else:
            return redirect(url_for("console.caller_ticket", number=complaint.ticket_number))
    status = 422 if request.method == "POST" else 200
    return render_template("console/caller_new.html", form=form), status


@blp.route("/callers/<number>")
def caller_ticket(number: str) -> Any:
    """The caller's ticket: verification, then (verified) the card, its actions and unbinding."""
    return _caller_page(number)


def _caller_page(number: str, status: int = 200, **extra: Any) -> Any:
    rt = runtime()
    complaint = callers.caller_ticket(g.actor, number)
    verified = complaint.caller_verified_at is not None
    overview = lookup.card_overview(rt, g.actor, number) if verified else None  # recorded as a view
    return render_template("console/caller.html", ticket=complaint, verified=verified, citizen=overview,
                           devices=callers.live_devices(complaint) if verified else [],
                           code_form=extra.pop("code_form", None) or CodeForm(formdata=None),
                           action_form=extra.pop("action_form", None) or CardActionForm(formdata=None),
                           unbinding_form=extra.pop("unbinding_form", None) or UnbindingForm(formdata=None),
                           **extra), status


@blp.route("/callers/<number>/code", methods=["POST"])
def caller_send_code(number: str) -> Any:
    """Send the SMS code to the card's phone (counted; recorded)."""
    phone = callers.send_caller_code(runtime(), g.actor, number)
    flash(text("caller_code_sent", g.language) + " " + phone, "ok")
    return redirect(url_for("console.caller_ticket", number=number))


@blp.route("/callers/<number>/verify", methods=["POST"])
def caller_verify(number: str) -> Any:
    """Check the code the caller reads out (counted first; recorded)."""
    form = CodeForm()
    if not form.validate():
        return _caller_page(number, 422, code_form=form)
    if not callers.check_caller_code(runtime(), g.actor, number, form.code.data):
        form.code.errors = [text("caller_code_wrong", g.language)]
        return _caller_page(number, 422, code_form=form)
    flash(text("caller_verified_now", g.language), "ok")
    return redirect(url_for("console.caller_ticket", number=number))


@blp.route("/callers/<number>/action", methods=["POST"])
def caller_action(number: str) -> Any:
    """A card action under the verified ticket (emergency loss report, suspend the e-card, end a device)."""
    form = CardActionForm()
    if not form.validate():
        return _caller_page(number, 422, action_form=form)
    callers.card_action(runtime(), g.actor, number, form.action.data, form.reason.data, form.device_id.data)
    flash(text("done", g.language), "ok")
    return redirect(url_for("console.caller_ticket", number=number))


@blp.route("/callers/<number>/unbinding", methods=["POST"])
def caller_unbinding(number: str) -> Any:
    """Ask a supervisor to end the caller's mini-program bindings."""
    form = UnbindingForm()
    if not form.validate():
        return _caller_page(number, 422, unbinding_form=form)
    callers.request_unbinding(runtime(), g.actor, number, form.reason.data)
    flash(text("unbinding_requested", g.language), "ok")
    return redirect(url_for("console.caller_ticket", number=number))


@blp.route("/unbindings")
def unbindings() -> Any:
    """Supervisors: unbinding requests, pending first."""
    return render_template("console/unbindings.html", lines=callers.unbinding_requests(g.actor))


@blp.route("/unbindings/<int:request_id>/<decision>", methods=["POST"])
def unbinding_decide(request_id: int, decision: str) -> Any:
    """Supervisors: ``approve`` or ``refuse`` (one conditional change; a lost race is 409 ``unbinding_decided``)."""
    if decision not in ("approve", "refuse"):
        return render_template("console/error.html", message=decision, code="not_found"), 404
    status = callers.decide_unbinding(runtime(), g.actor, request_id, decision == "approve")
    flash(text(f"unbinding_{status}", g.language), "ok")
    return redirect(url_for("console.unbindings"))
