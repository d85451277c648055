"""Scene policies: what each scene permits and discloses (M-7, M-19, M-23).

A policy is a plain object the verification service consults. Until the scenes get rules of
their own, every scene discloses only the card number and whether the holder is insured, and
is open to partners granted that scene.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.services.partners import PartnerView
from app.services.verification import CardFacts


@dataclass(frozen=True)
class ScenePolicy:
    """The base policy: the partner must be granted the scene; discloses card number and insured."""

    name: str
    requirement: str  # the M- requirement the scene serves

    def permits(self, partner: PartnerView) -> bool:
        return self.name in partner.scenes

    def disclose(self, facts: CardFacts) -> dict[str, Any]:
        return {"card_number": facts.card_number, "insured": facts.insured}
