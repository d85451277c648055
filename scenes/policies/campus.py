"""Campus (M-23.6): only holders on the campus partner's member roster pass."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.scanning.verification import SceneContext

from .base import Scene, membership


class Campus(Scene):
    name, requirement = "campus", "M-23.6"
    identifies = True
    class Subject(ma.Schema):
        member_id = ma.fields.String(required=True, metadata={"description": "From the campus's member roster"})
        name = ma.fields.String(required=True)

    def refusal(self, context: SceneContext) -> str | None:
        return None if membership(context) else "not_a_member"

    def subject(self, context: SceneContext) -> dict[str, Any]:
        return {"member_id": membership(context), "name": context.holder.name}
