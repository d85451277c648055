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
        EXAMPLES = [{"visitor_token": "b71e5a0c93d24f68a1c7e2094d5b3f86", "concession": "standard", "member_id": None},
                    {"visitor_token": "0f4c9e2a7b1d53e8c6a0f9d2b4e7a135", "concession": "senior", "member_id": "DGLIB-0018824"}]

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
