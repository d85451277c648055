"""Government services (M-23.1): full name and ID number, only for government departments. Every
such disclosure is recorded against the department (the verification record's ``disclosed``)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.partners.partners import PartnerView
from app.scanning.verification import SceneContext

from .base import Scene


class Government(Scene):
    name, requirement = "government", "M-23.1"
    identifies = True
    accepts_proxies = False  # a relative's phone is no proof of the holder at the window (issue 18)
    class Subject(ma.Schema):
        EXAMPLES = [{"name": "陈小明", "id_number": "441900198506151235"}]

        name = ma.fields.String(required=True)
        id_number = ma.fields.String(required=True)

    def permits(self, partner: PartnerView) -> bool:
        return partner.kind == "government" and super().permits(partner)

    def subject(self, context: SceneContext) -> dict[str, Any]:
        return {"name": context.holder.name, "id_number": context.holder.id_number}
