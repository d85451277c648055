"""What an id_token says about the citizen, scope by scope, following the scenes' disclosure rules (M-19).

- ``sub``: pairwise (OpenID Connect Core 1.0 section 8.1): a keyed hash of the relying party and
  the citizen, so two relying parties cannot join their records by it.
- ``acr``: how the citizen's binding was proven (app/identity/real_person.py levels), as
  ``urn:dg-citizencard:acr:<level>``.
- ``name``, ``id_number``: government relying parties only, and only with that scope (as the
  government scene, scenes/policies/government.py).
- narrow claims: ``insured`` (enrolled in city social security, M-5), ``age_band``
  (:data:`AGE_BANDS`), ``concession`` (the fare concession class of ``CARD_CONCESSION_AGES``,
  as scenes/policies/base.py ``concession``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.identity import idnumber
from app.identity.models import Citizen
from app.identity.people import ID_NUMBER, citizen_name
from app.oidc.parties import GOVERNMENT_ONLY, NARROW, Client
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.runtime import Runtime

ACR_PREFIX = "urn:dg-citizencard:acr:"
AGE_BANDS = ((70, "70+"), (60, "60-69"), (18, "18-59"), (0, "0-17"))


@dataclass(frozen=True)
class Subject:
    """The citizen a code or token speaks for: Authlib's ``user``."""

    citizen_id: int
    account_id: int
    consent_id: int
    sub: str
    assurance: str
    auth_time: int


def pairwise_sub(rt: Runtime, client: Client, citizen_id: int) -> str:
    """Stable for one relying party, different between relying parties (48 hex characters)."""
    return rt.blind_index(f"{client.get_client_id()}:{citizen_id}", "oidc.sub")[:48]


def released_claims(client: Client, scope: str) -> list[str]:
    """The claim names a grant of ``scope`` releases to ``client`` (besides ``sub`` and ``acr``)."""
    granted = set(scope.split()) & client.scopes
    names = [name for name in GOVERNMENT_ONLY if name in granted and client.kind == "government"]
    return names + [name for name in NARROW if name in granted]


def user_claims(rt: Runtime, client: Client, subject: Subject, scope: str) -> dict[str, Any]:
    """The claims of :func:`released_claims` with their values, plus ``sub``."""
    citizen = db.session.get(Citizen, subject.citizen_id)
    assert citizen is not None  # a consent's citizen is never deleted while it has tokens
    claims: dict[str, Any] = {"sub": subject.sub}
    for name in released_claims(client, scope):
        claims[name] = _value(rt, citizen, name)
    return claims


def _value(rt: Runtime, citizen: Citizen, name: str) -> Any:
    if name == "name":
        return citizen_name(rt, citizen)
    if name == "insured":
        return citizen.insured
    id_number = rt.keyring.decrypt(citizen.id_number_enc, ID_NUMBER)
    if name == "id_number":
        return id_number
    age = age_on(id_number, datetime.fromtimestamp(rt.clock.time(), DISPLAY_ZONE).date())
    if name == "age_band":
        return next(band for minimum, band in AGE_BANDS if age >= minimum)
    return concession_class(rt.config["CARD_CONCESSION_AGES"], citizen.disability, age)


def age_on(id_number: str, day: date) -> int:
    """Whole years from the ID number's birth date to ``day``."""
    born = idnumber.birth_date(id_number)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def concession_class(ages: tuple[tuple[str, int], ...], disability: bool, age: int) -> str:
    """``disabled``, else the highest category of ``ages`` reached, else ``standard``."""
    if disability:
        return "disabled"
    return next((category for category, minimum in ages if age >= minimum), "standard")
