"""Partner verification of a scanned code (M-7, M-20; RFC 6238 §5.2; docs/partner-api.md).

The checks, in order; the first that fails gives the ``reason``:

1. ``scene_not_permitted``: the partner may not verify in this scene.
2. ``code_invalid``: not a DGC1 code, unknown or revoked pseudonym, wrong password, or a time
   step more than one step in the future.
3. ``code_expired``: a genuine code whose time step is more than one step old.
4. ``card_inactive``: the card is not active.
5. ``code_used``: this code, or a later one of the same device, was already accepted. The
   replay ledger decides this in one atomic step, so concurrent requests cannot both pass.

Every verification is recorded (partner, terminal, scene, card, result, time; never the code).
An accepted answer is kept for 60 s per (partner, terminal, code): a scanner that reads the same
code twice gets the original answer with ``duplicate: true``.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any, Protocol

from sqlalchemy import bindparam, select

from qr import payload, replay, totp

from ..extensions import db
from ..models import Card, Citizen, Device, Verification
from ..runtime import Runtime
from ..sql import upsert_insert
from .partners import PartnerView
from .people import SEED

DUPLICATE_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class CardFacts:
    """What a scene policy may draw on to build its disclosure."""

    card_id: int
    card_number: str
    card_status: str
    insured: bool


class ScenePolicy(Protocol):
    """A scene's rules (scenes/): who may use it and what it discloses."""

    name: str

    def permits(self, partner: PartnerView) -> bool: ...

    def disclose(self, facts: CardFacts) -> dict[str, Any]: ...


@dataclass(frozen=True)
class VerificationAnswer:
    """The API answer: ``{"verification_id", "accepted", "reason", "scene", "subject", "duplicate"}``."""

    verification_id: str
    accepted: bool
    reason: str | None
    scene: str
    subject: dict[str, Any] | None
    duplicate: bool = False


def verify(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, code: str) -> VerificationAnswer:
    """Verify ``code`` for ``partner`` at ``terminal_id`` in the scene ``policy``; always records."""
    answer_key = _answer_key(partner, terminal_id, code)
    earlier = _earlier_answer(rt, answer_key)
    if earlier is not None:
        return earlier
    decision = _decide(rt, partner, policy, code)
    answer = _answer(policy, decision)
    if not _record(rt, partner, terminal_id, decision, answer):  # the durable ledger knew this use
        decision = Decision(decision.facts, "code_used", None)
        answer = _answer(policy, decision)
        _record(rt, partner, terminal_id, decision, answer)
    if answer.accepted:
        kept = {"answer": asdict(answer), "at": rt.clock.time()}
        rt.store.put(answer_key, json.dumps(kept), DUPLICATE_WINDOW_SECONDS)
    return answer


@dataclass(frozen=True)
class Decision:
    """``facts`` when the code named a card; ``reason`` None when accepted; ``use_key``
    (pseudonym and moving factor) names the use of a genuine code, for the durable ledger."""

    facts: CardFacts | None
    reason: str | None
    use_key: str | None


def _answer(policy: ScenePolicy, decision: Decision) -> VerificationAnswer:
    accepted = decision.reason is None
    return VerificationAnswer(
        verification_id="vf_" + secrets.token_hex(12), accepted=accepted, reason=decision.reason, scene=policy.name,
        subject=policy.disclose(decision.facts) if accepted and decision.facts else None,
    )


def _earlier_answer(rt: Runtime, answer_key: str) -> VerificationAnswer | None:
    """The accepted answer this terminal got for this code within the last 60 s, as a duplicate."""
    cached = rt.store.get(answer_key)
    if cached is None:
        return None
    kept = json.loads(cached)
    if rt.clock.time() - kept["at"] > DUPLICATE_WINDOW_SECONDS:
        return None
    return VerificationAnswer(**{**kept["answer"], "duplicate": True})


def _answer_key(partner: PartnerView, terminal_id: str, code: str) -> str:
    digest = hashlib.sha256(f"{partner.id}\n{terminal_id}\n{code}".encode()).hexdigest()[:40]
    return f"answer:{digest}"


def _decide(rt: Runtime, partner: PartnerView, policy: ScenePolicy, code: str) -> Decision:
    if not policy.permits(partner):
        return Decision(None, "scene_not_permitted", None)
    try:
        scanned = payload.parse(code)
    except payload.CodeFormatError:
        return Decision(None, "code_invalid", None)
    found = _device_and_card(scanned.pseudonym)
    if found is None:
        return Decision(None, "code_invalid", None)
    seed_enc, facts = found
    use_key = f"{scanned.pseudonym}:{totp.moving_factor(scanned.step, scanned.sequence)}"
    return Decision(facts, _first_failure(rt, scanned, seed_enc, facts), use_key)


def _first_failure(rt: Runtime, scanned: payload.CodePayload, seed_enc: str, facts: CardFacts) -> str | None:
    checks: list[tuple[str, Callable[[], bool]]] = [
        ("code_invalid", lambda: totp.otp_matches(rt.keyring.decrypt(seed_enc, SEED), scanned.step, scanned.sequence, scanned.otp)),
        ("code_invalid", lambda: totp.step_age(scanned.step, rt.clock.time()) >= -totp.WINDOW_AHEAD),
        ("code_expired", lambda: totp.step_age(scanned.step, rt.clock.time()) <= totp.WINDOW_BACK),
        ("card_inactive", lambda: facts.card_status == "active"),
        ("code_used", lambda: replay.first_use(rt.store, scanned.pseudonym, scanned.step, scanned.sequence)),
    ]
    return next((reason for reason, passes in checks if not passes()), None)


# Built once: constructing a statement costs more than running it on this hot path.
_DEVICE_AND_CARD = (
    select(Device.seed_enc, Card.id, Card.card_number, Card.status, Citizen.insured)
    .join(Card, Card.id == Device.card_id).join(Citizen, Citizen.id == Card.citizen_id)
    .where(Device.pseudonym == bindparam("pseudonym"), Device.revoked_at.is_(None))
)


def _device_and_card(pseudonym: str) -> tuple[str, CardFacts] | None:
    row = db.session.connection().execute(_DEVICE_AND_CARD, {"pseudonym": pseudonym}).first()
    if row is None:
        return None
    return row.seed_enc, CardFacts(row.id, row.card_number, row.status, row.insured)


def _record(rt: Runtime, partner: PartnerView, terminal_id: str, decision: Decision, answer: VerificationAnswer) -> bool:
    """INSERT the record and commit; False when an accepted use was already recorded.

    The record of an accepted verification carries its ``use_key`` under a unique index: a second
    ledger, durable, behind the store's (a Redis that lost its data cannot make a code verify
    twice). Core, not the unit of work: this runs on every scan.
    """
    facts = decision.facts
    row = {
        "id": answer.verification_id, "partner_id": partner.id, "terminal_id": terminal_id, "scene": answer.scene,
        "card_id": facts.card_id if facts else None, "accepted": answer.accepted, "reason": answer.reason,
        "use_key": decision.use_key if answer.accepted else None, "created_at": rt.clock.now(),
    }
    inserted = db.session.connection().execute(_record_statement(db.engine.dialect.name), row).first()
    db.session.commit()
    return inserted is not None


@cache
def _record_statement(dialect: str) -> Any:
    stmt = upsert_insert(dialect, Verification)
    return stmt.on_conflict_do_nothing(index_elements=[Verification.use_key]).returning(Verification.id)
