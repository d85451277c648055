"""Card fees (M-24), in integer fen; docs/card-lifecycle.md "Fees" has worked examples.

The rules, first match wins:

1. ``first_card``: the citizen's first physical card is free; the partner bank bears the cost.
2. ``technology_upgrade``: the first card of the current technology (``CARD_TECHNOLOGY``) after
   cards of an older one is free; the bank bears the cost.
3. ``replacement``: any other physical card costs ``CARD_REPLACEMENT_FEE_FEN``, paid by the citizen.

The e-card is always free (``ecard``). Each decision names the rule that produced it; it is
stored on the physical card and shown to the citizen before they confirm.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from app.card.models import PhysicalCard
from app.platform.db import db

FIRST_CARD, TECHNOLOGY_UPGRADE, REPLACEMENT, ECARD = "first_card", "technology_upgrade", "replacement", "ecard"


@dataclass(frozen=True)
class FeeDecision:
    """``fee_fen`` (integer fen) due from ``payer`` (``bank`` or ``citizen``), and the ``rule``."""

    rule: str
    fee_fen: int
    payer: str
    technology: str


def decide_fee(earlier_technologies: list[str], technology: str, replacement_fee_fen: int) -> FeeDecision:
    """The fee for a new physical card of ``technology`` given the technologies of the citizen's
    earlier physical cards (any state). Pure: the worked examples test it directly."""
    if not earlier_technologies:
        return FeeDecision(FIRST_CARD, 0, "bank", technology)
    if technology not in earlier_technologies:
        return FeeDecision(TECHNOLOGY_UPGRADE, 0, "bank", technology)
    return FeeDecision(REPLACEMENT, replacement_fee_fen, "citizen", technology)


def ecard_fee() -> FeeDecision:
    """The e-card is always free."""
    return FeeDecision(ECARD, 0, "none", "ecard")


def fee_for_next_card(config: dict, card_id: int) -> FeeDecision:
    """The decision for the next physical card of card ``card_id`` under the current configuration."""
    earlier = list(db.session.scalars(select(PhysicalCard.technology).where(PhysicalCard.card_id == card_id)))
    return decide_fee(earlier, config["CARD_TECHNOLOGY"], config["CARD_REPLACEMENT_FEE_FEN"])
