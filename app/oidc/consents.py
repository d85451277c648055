"""Consents (M-20, M-25): each release of claims to a relying party, listed for the citizen and
withdrawable; a withdrawal revokes every token the consent gave, at once, in one statement each."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from app.oidc.models import Consent, RelyingParty, Token
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

MAX_ID = 2**31 - 1  # the column's range: a larger id is no consent (not a database error)


@dataclass(frozen=True)
class ConsentView:
    """One release as the citizen sees it: the relying party's registered name and kind, the
    claim names released (never values), when, and whether it was withdrawn."""

    consent_id: int
    relying_party: str
    kind: str
    claims: list[str]
    acr: str
    created_at: datetime
    withdrawn_at: datetime | None


def list_consents(citizen_id: int, limit: int = 100) -> list[ConsentView]:
    """The citizen's consents, newest first (at most ``limit``)."""
    rows = db.session.execute(
        select(Consent, RelyingParty.name, RelyingParty.kind).join(RelyingParty, RelyingParty.id == Consent.rp_id)
        .where(Consent.citizen_id == citizen_id).order_by(Consent.created_at.desc(), Consent.id.desc()).limit(limit))
    return [ConsentView(row.Consent.id, row.name, row.kind, row.Consent.claims.split(","), row.Consent.acr,
                        row.Consent.created_at, row.Consent.withdrawn_at) for row in rows]


def withdraw(rt: Runtime, citizen_id: int, consent_id: int) -> int:
    """Withdraw one of the citizen's consents and revoke its tokens; returns how many tokens were
    live. 404 ``consent_not_found`` (unknown, another citizen's, or already withdrawn)."""
    if not 0 < consent_id <= MAX_ID:
        raise AppError("consent_not_found", 404, "no such consent, or it was already withdrawn")
    now = rt.clock.now()
    done = db.session.execute(
        update(Consent).where(Consent.id == consent_id, Consent.citizen_id == citizen_id, Consent.withdrawn_at.is_(None))
        .values(withdrawn_at=now).returning(Consent.id)).first()
    if done is None:
        db.session.rollback()
        raise AppError("consent_not_found", 404, "no such consent, or it was already withdrawn")
    revoked = revoke_tokens(rt, Token.consent_id == consent_id)
    db.session.commit()
    return revoked


def revoke_tokens(rt: Runtime, *where: object) -> int:
    """Revoke every live token matching ``where`` (one UPDATE); the caller commits."""
    result = db.session.execute(update(Token).where(*where, Token.revoked_at.is_(None)).values(revoked_at=rt.clock.now()))  # type: ignore[arg-type]
    return int(result.rowcount or 0)
