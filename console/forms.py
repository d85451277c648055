"""The console's forms (WTForms through Flask-WTF): validation errors are shown beside the field
they concern, in the page's language, instead of an error page with a raw code.

The queue's filter form is a GET form (no CSRF token: it changes nothing); every POST form carries
the CSRF token that console/views.py's guard checks.
"""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.service_desk import audit_search, queue
from app.service_desk.models import TICKET_KINDS

MAX_TEXT = 2000


class QueueForm(FlaskForm):
    """``GET /console/?view=&category=&status=&department=&assignee=&since=&until=&overdue=&text=&sort=&page=&after=``.
    Unknown choices are simply ignored (the field falls back to "all")."""

    class Meta:
        csrf = False

    view = StringField(default="open")
    kind = StringField()
    category = StringField()
    status = StringField()
    department = StringField()
    assignee = StringField()
    since = DateField(validators=[Optional()])
    until = DateField(validators=[Optional()])
    overdue = BooleanField()
    text = StringField(validators=[Optional(), Length(max=queue.MAX_TEXT)])
    sort = StringField(default="fair")
    page = IntegerField(default=1, validators=[Optional(), NumberRange(min=1, max=100000)])
    after = StringField(validators=[Optional(), Length(max=80)])  # the next page's cursor (app.service_desk.queue.load)

    def wanted(self, categories: Any, departments: Any) -> queue.QueueFilter:
        """The filter, with anything invalid or unknown dropped (a bad date, page or choice is
        ignored: never a 500)."""
        def choice(field: Any, allowed: Any) -> str | None:
            return field.data if field.data in allowed else None
        assignee = self.assignee.data or ""
        return queue.QueueFilter(
            view=self.view.data if self.view.data in queue.VIEWS else "open",
            kind=choice(self.kind, TICKET_KINDS),
            category=choice(self.category, categories),
            status=choice(self.status, queue.STATUSES),
            department=choice(self.department, departments),
            assignee_id=int(assignee) if assignee.isascii() and assignee.isdigit() and len(assignee) < 10 else None,
            since=self.since.data if "since" not in self.errors else None,
            until=self.until.data if "until" not in self.errors else None,
            overdue=bool(self.overdue.data),
            text=None if "text" in self.errors else (self.text.data or "").strip() or None,
            sort=self.sort.data if self.sort.data in queue.SORTS else "fair",
            page=self.page.data if "page" not in self.errors and self.page.data else 1,
            after=None if "after" in self.errors else self.after.data or None)


class AuditForm(FlaskForm):
    """``GET /console/audit?actor=&action=&since=&until=&citizen=&page=``; anything malformed is ignored."""

    class Meta:
        csrf = False

    actor = StringField(validators=[Optional(), Length(max=64)])
    action = StringField(validators=[Optional(), Length(max=16)])
    since = DateField(validators=[Optional()])
    until = DateField(validators=[Optional()])
    citizen = IntegerField(validators=[Optional(), NumberRange(min=1, max=2**53)])
    page = IntegerField(default=1, validators=[Optional(), NumberRange(min=1, max=100000)])

    def wanted(self) -> audit_search.AuditFilter:
        """The filter, each invalid field dropped."""
        def ok(name: str) -> Any:
            return None if name in self.errors else getattr(self, name).data
        return audit_search.AuditFilter(actor=(ok("actor") or "").strip() or None, action=(ok("action") or "").strip() or None,
                                        since=ok("since"), until=ok("until"), citizen_id=ok("citizen"), page=ok("page") or 1)


class HelpArticleForm(FlaskForm):
    """A help-centre article: title (1-100), text (1-5,000), category (a complaint category or
    general), published; ``version`` is the version the supervisor started from."""

    title = StringField(validators=[DataRequired(message="field_required"), Length(max=100, message="too_long")])
    body = TextAreaField(validators=[DataRequired(message="field_required"), Length(max=5000, message="too_long")])
    category = SelectField(validate_choice=True)
    published = BooleanField()
    version = IntegerField(validators=[Optional()])


class ReplyForm(FlaskForm):
    """A reply to the citizen (or a department's answer): 1-2,000 characters."""

    body = TextAreaField(validators=[DataRequired(message="field_required"), Length(max=MAX_TEXT, message="too_long")])


class NoteForm(FlaskForm):
    """An internal note: 1-2,000 characters."""

    body = TextAreaField(validators=[DataRequired(message="field_required"), Length(max=MAX_TEXT, message="too_long")])


class CloseForm(FlaskForm):
    """Closing: the closing note the citizen sees (1-2,000 characters)."""

    note = TextAreaField(validators=[DataRequired(message="field_required"), Length(max=MAX_TEXT, message="too_long")])


class TransferForm(FlaskForm):
    """Transfer to a department with an optional note the citizen sees too."""

    department = SelectField(validators=[DataRequired(message="field_required")])
    note = StringField(validators=[Optional(), Length(max=MAX_TEXT, message="too_long")])


class ReassignForm(FlaskForm):
    """Supervisors: give the ticket to an active agent or supervisor chosen from the list."""

    username = SelectField(validators=[DataRequired(message="field_required")])


FORMS: dict[str, type[FlaskForm]] = {"reply": ReplyForm, "note": NoteForm, "close": CloseForm,
                                     "transfer": TransferForm, "reassign": ReassignForm}


def ticket_forms(departments: dict[str, str], staff: list[tuple[int, str, str]], data: Any = None,
                 failed: str | None = None) -> dict[str, FlaskForm]:
    """One form per action of the ticket page; ``failed`` names the one posted (bound to
    ``data`` and validated: its errors show inline), the others are empty."""
    forms = {name: cls(formdata=data if name == failed else None) for name, cls in FORMS.items()}
    forms["transfer"].department.choices = [SelectChoice(k, v) for k, v in departments.items()]  # type: ignore[attr-defined]
    forms["reassign"].username.choices = [SelectChoice(u, f"{n} ({u})") for _, u, n in staff]  # type: ignore[attr-defined]
    return forms
