"""Campus (M-23.6): only holders on the campus partner's member roster pass; never for a partner
that also holds the medical scene (base.sees_birth_dates)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.partners.partners import PartnerView
from app.scanning.verification import SceneContext

from .base import Scene, membership, sees_birth_dates


class Campus(Scene):
    name, requirement = "campus", "M-23.6"
    identifies = True
    class Subject(ma.Schema):
        EXAMPLES = [{"member_id": "S2026010437", "name": "陈小明"}]

        member_id = ma.fields.String(required=True, metadata={"description": "From the campus's member roster"})
        name = ma.fields.String(required=True)

    def permits(self, partner: PartnerView) -> bool:
        return super().permits(partner) and not sees_birth_dates(partner)

    def accepts_proxy(self, context: SceneContext) -> bool:
        """Only campuses listed in ``CARD_CAMPUS_PROXY_PARTNERS`` (partner ids) accept a relative's
        code, e.g. a parent showing a pupil's code at a school gate (issue 18)."""
        return context.partner.partner_id in context.rt.config.get("CARD_CAMPUS_PROXY_PARTNERS", frozenset())

    def refusal(self, context: SceneContext) -> str | None:
        return None if membership(context) else "not_a_member"

    def subject(self, context: SceneContext) -> dict[str, Any]:
        return {"member_id": membership(context), "name": context.holder.name}
