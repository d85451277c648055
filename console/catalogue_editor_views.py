"""A department's catalogue editor (role ``catalogue_editor``; app/catalogue/editors.py):
``/console/catalogue/items`` lists the department's service items and edits one
(``?code=``), or creates it when the code is new. Every save is a new version (the same
conditional write as the partner API) and a sealed record in the audit trail (M-16, M-25)."""
from __future__ import annotations

import json
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.catalogue import editors
from app.catalogue.models import CHANNELS, STATUSES
from app.platform.errors import AppError
from app.runtime import runtime
from app.service_desk import audit, complaints
from scenes.registry import SCENE_NAMES

from .text import text
from .views import blp


class ItemForm(FlaskForm):
    """The item's fields as the partner API takes them (locations are kept as they are)."""

    code = StringField(validators=[DataRequired(), Length(4, 64)])
    version = HiddenField(default="0")
    department = StringField(validators=[DataRequired(), Length(1, 100)])
    title = StringField(validators=[DataRequired(), Length(1, 200)])
    scenes = SelectMultipleField(choices=[(name, name) for name in SCENE_NAMES])
    channels = SelectMultipleField(choices=[(name, name) for name in CHANNELS], validators=[DataRequired()])
    conditions = TextAreaField(validators=[Optional(), Length(max=4000)])
    steps = TextAreaField(validators=[Optional(), Length(max=4000)])
    time_limit_days = IntegerField(validators=[Optional(), NumberRange(0, 365)])
    fee_fen = IntegerField(default=0, validators=[NumberRange(0, 10**9)])
    status = SelectField(choices=[(name, name) for name in STATUSES])
    last_reviewed = DateField(validators=[DataRequired()])

    def fields(self) -> dict[str, Any]:
        """The item as app/catalogue/items.py writes it (steps: one per line)."""
        return {"department": self.department.data.strip(), "title": self.title.data.strip(), "scenes": self.scenes.data,
                "channels": self.channels.data, "conditions": (self.conditions.data or "").strip(),
                "steps": [line.strip() for line in (self.steps.data or "").splitlines() if line.strip()][:30],
                "time_limit_days": self.time_limit_days.data, "fee_fen": self.fee_fen.data or 0,
                "status": self.status.data, "last_reviewed": self.last_reviewed.data}


@blp.route("/catalogue/items", methods=["GET", "POST"])
def catalogue_items() -> Any:
    """Catalogue editors: the department's items; ``?code=`` opens one (or a new one) in the form.
    A save refused as ``version_conflict`` (someone saved first) or ``item_not_yours`` is shown on the form."""
    complaints.require_role(g.actor, editors.ROLE)
    rt = runtime()
    owner = editors.department_of(rt, g.actor.department)
    code = (request.form.get("code") if request.method == "POST" else request.args.get("code")) or ""
    item = editors.item_for_editing(owner, code) if code else None
    form = ItemForm() if request.method == "POST" else ItemForm(formdata=None, **_initial(item, code, owner.name))
    if request.method == "POST" and form.validate():
        try:
            written = editors.save(rt, owner, g.actor.username, form.code.data, form.fields(), int(form.version.data or 0),
                                   tuple(SCENE_NAMES))
        except AppError as exc:
            form.code.errors = [exc.code]
        else:
            audit.record_staff_access(rt, g.actor, "item_edit", None, None, form.fields().keys(),
                                      reason=f"service item {written.code} version {written.version}")
            flash(text("done", g.language), "ok")
            return redirect(url_for("console.catalogue_items", code=written.code))
    status = 422 if request.method == "POST" else 200
    return render_template("console/catalogue_items.html", items=editors.items_of(owner), form=form, item=item,
                           owner=owner), status


def _initial(item: Any, code: str, department: str) -> dict[str, Any]:
    if item is None:
        return {"code": code, "version": "0", "department": department, "channels": ["window"], "status": "planned"}
    return {"code": item.code, "version": str(item.version), "department": item.department, "title": item.title,
            "scenes": [name for name in item.scenes.split(",") if name], "channels": item.channels.split(","),
            "conditions": item.conditions, "steps": "\n".join(_steps(item.steps)), "time_limit_days": item.time_limit_days,
            "fee_fen": item.fee_fen, "status": item.status, "last_reviewed": item.last_reviewed}


def _steps(raw: str) -> list[str]:
    return list(json.loads(raw))
