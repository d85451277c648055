"""Medical (M-23.3): identity through the care process and settlement of the medical-insurance account."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.identity import idnumber
from app.scanning.verification import SceneContext

from .base import Scene


class Medical(Scene):
    name, requirement = "medical", "M-23.3"
    class Subject(ma.Schema):
        name = ma.fields.String(required=True)
        sex = ma.fields.String(required=True, metadata={"description": "M or F (from the ID number)"})
        date_of_birth = ma.fields.Date(required=True)
        id_number_masked = ma.fields.String(required=True, metadata={"description": "First 6 and last 4 characters shown"})
        insured = ma.fields.Boolean(required=True, metadata={"description": "Enrolled in city social security (medical insurance)"})
        social_security_card_number = ma.fields.String(required=True, allow_none=True, metadata={
            "description": "The physical card's number; null until physical cards are issued"})

    def subject(self, context: SceneContext) -> dict[str, Any]:
        holder = context.holder
        return {
            "name": holder.name,
            "sex": idnumber.sex(holder.id_number),
            "date_of_birth": idnumber.birth_date(holder.id_number).isoformat(),
            "id_number_masked": idnumber.mask(holder.id_number),
            "insured": holder.facts.insured,
            "social_security_card_number": None,  # the physical card's number, once physical cards are issued
        }
