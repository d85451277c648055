"""Culture and tourism (M-23.4): scenic spots, venues, libraries. A per-partner visitor token and
the concession; a library (partner kind ``library``) lends only to members and sees the member id."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.partners.partners import PartnerView
from app.scanning.verification import SceneContext

from .base import Scene, concession, membership, sees_birth_dates


class Culture(Scene):
    name, requirement = "culture", "M-23.4"
    class Subject(ma.Schema):
        visitor_token = ma.fields.String(required=True, metadata={"description": "Stable per partner, differs between partners"})
        concession = ma.fields.String(required=True)
        member_id = ma.fields.String(required=True, allow_none=True, metadata={"description": "Libraries only; null elsewhere"})

    def permits(self, partner: PartnerView) -> bool:
        return super().permits(partner) and not (partner.kind == "library" and sees_birth_dates(partner))

    def refusal(self, context: SceneContext) -> str | None:
        if context.partner.kind == "library" and not membership(context):
            return "not_a_member"
        return None

    def subject(self, context: SceneContext) -> dict[str, Any]:
        return {
            "visitor_token": context.holder.token("culture", context.partner),
            "concession": concession(context),
            "member_id": membership(context) if context.partner.kind == "library" else None,
        }
