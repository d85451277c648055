"""What every scene shares: the partner must be granted the scene; nothing extra is checked or recorded."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma

from app.partners.memberships import member_id
from app.partners.partners import PartnerView
from app.platform.clock import DISPLAY_ZONE
from app.scanning.verification import SceneContext


class Scene:
    """Base policy. Subclasses set ``name``, ``requirement`` (the M- article) and ``Subject`` (the
    schema of what ``accept`` discloses: docs/openapi.json publishes it, docs/partner-api.md lists
    its fields, tests hold the answers to it) and implement ``subject``."""

    name = ""
    requirement = ""
    identifies = False  # True: the subject identifies the holder (bare chip reads are limited)
    Subject: type[ma.Schema] = ma.Schema

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.Subject._declared_fields)

    def permits(self, partner: PartnerView) -> bool:
        return self.name in partner.scenes

    def accepts_proxy(self, context: SceneContext) -> bool:
        """Whether a relative may show the holder's code here (issue 18, M-15): transit, culture,
        public venues and medical accept; a scene that must see the holder in person says no."""
        return self.accepts_proxies

    accepts_proxies = True

    def refusal(self, context: SceneContext) -> str | None:
        return None

    def accept(self, context: SceneContext) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.subject(context), {}

    def subject(self, context: SceneContext) -> dict[str, Any]:
        raise NotImplementedError


BIRTH_DATE_SCENES = frozenset({"medical"})


def sees_birth_dates(partner: PartnerView) -> bool:
    """A partner told holders' birth dates (medical) never also answers from a member roster
    (campus, library): it could upload as "members" the 500 ID numbers a medical answer leaves
    possible and learn from the roster answer which one is the holder's (issue 15 item 1)."""
    return not BIRTH_DATE_SCENES.isdisjoint(partner.scenes)


def concession(context: SceneContext) -> str:
    """The fare concession category: ``disabled`` (roster flag), else the highest age category of
    ``CARD_CONCESSION_AGES`` the holder reaches (age from the ID number's birth date, Beijing
    date), else ``standard``."""
    if context.holder.facts.disability:
        return "disabled"
    age = context.holder.age_on(datetime.fromtimestamp(context.rt.clock.time(), DISPLAY_ZONE).date())
    if age is None:  # a document without a birth date (issue 17 item 1): no age concession
        return "standard"
    return next((category for category, minimum in context.rt.config["CARD_CONCESSION_AGES"] if age >= minimum), "standard")


def membership(context: SceneContext) -> str | None:
    """The holder's member id on this partner's roster, looked up once per verification."""
    if "member_id" not in context.memo:
        context.memo["member_id"] = member_id(context.partner.id, context.holder.facts.id_number_index)
    return context.memo["member_id"]
