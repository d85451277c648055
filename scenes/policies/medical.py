"""Medical (M-23.3): identity through the care process and settlement of the medical-insurance account:
the physical card's number and the medical-insurance e-voucher reference (医保电子凭证) the bureau
reported (app.money.medical_insurance), so the hospital settles insurance through the national platform.

The subject is reviewed as a whole (M-19, issue 15 item 1): the date of birth and the sex are
digits 7-14 and the parity of digit 17 of the ID number, so the masked ID number shows the region
only (the first 6 digits). Together they leave 500 ID numbers possible (3 sequence digits, one
parity known; the check digit follows), however often the holder is read."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.card.lifecycle import current_physical
from app.identity import documents, idnumber
from app.money.medical_insurance import evoucher_reference
from app.scanning.verification import SceneContext

from .base import Scene


class Medical(Scene):
    name, requirement = "medical", "M-23.3"
    identifies = True
    class Subject(ma.Schema):
        EXAMPLES = [{"name": "陈小明", "sex": "M", "date_of_birth": "1985-06-15", "id_number_masked": "441900************", "insured": True,
                     "social_security_card_number": "4419000000000018", "medical_insurance_evoucher": "EV4419A1B2C3D4E5F6A7B8C9"},
                    {"name": "林秀英", "sex": "F", "date_of_birth": "1956-12-01", "id_number_masked": "441900************",
                     "insured": False, "social_security_card_number": None, "medical_insurance_evoucher": None}]

        name = ma.fields.String(required=True)
        sex = ma.fields.String(required=True, metadata={"description": "M or F (from the ID number)"})
        date_of_birth = ma.fields.Date(required=True)
        id_number_masked = ma.fields.String(required=True, metadata={
            "description": "The region only: the first 6 characters, the other 12 are *"})
        insured = ma.fields.Boolean(required=True, metadata={"description": "Enrolled in city social security (medical insurance)"})
        social_security_card_number = ma.fields.String(required=True, allow_none=True, metadata={
            "description": "The number of the holder's physical social-security card once it is issued (issued or "
                           "activated; the citizen card number printed on it); null for e-card-only holders (self-pay "
                           "goes through charges, docs/payments.md)"})
        medical_insurance_evoucher = ma.fields.String(required=True, allow_none=True, metadata={
            "description": "The holder's medical-insurance e-voucher reference (医保电子凭证) as the medical-insurance "
                           "bureau last reported it (16-64 letters and digits), for settling insurance through the "
                           "national platform; null when the bureau reported none or withdrew it"})

    def refusal(self, context: SceneContext) -> str | None:
        """``scene_unavailable`` for a holder identified by a document other than a resident ID
        number (an e-card applicant's travel permit or passport, issue 17 item 1): there is no sex
        or birth date to disclose, and nothing is."""
        return None if documents.is_resident_id(context.holder.id_number) else "scene_unavailable"

    def subject(self, context: SceneContext) -> dict[str, Any]:
        holder = context.holder
        return {
            "name": holder.name,
            "sex": idnumber.sex(holder.id_number),
            "date_of_birth": idnumber.birth_date(holder.id_number).isoformat(),
            "id_number_masked": region_only(holder.id_number),
            "insured": holder.facts.insured,
            "social_security_card_number": physical_card_number(holder.facts.card_id, holder.facts.card_number),
            "medical_insurance_evoucher": evoucher_reference(context.rt, holder.facts.card_id),
        }


IN_HAND = ("issued", "activated")


def physical_card_number(card_id: int, card_number: str) -> str | None:
    """The card number printed on the holder's physical card when one is in their hands (issued
    or activated), else None (an e-card-only holder, or a card applied for, lost or replaced)."""
    physical = current_physical(card_id)
    return card_number if physical is not None and physical.state in IN_HAND else None


def region_only(id_number: str) -> str:
    """The first 6 characters (the region of issue) and 12 ``*``: with the date of birth and the
    sex beside it, anything more (the old last 4) would give the whole number away."""
    return id_number[:6] + "*" * 12
