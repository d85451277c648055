"""Partner verification of a scanned code (M-7, M-20; RFC 6238 §5.2; docs/partner-api.md).

The checks, in order; the first that fails gives the ``reason``:

1. ``scene_not_permitted``: the partner may not verify in this scene.
2. ``terminal_unknown``: the terminal is not registered for this partner (or was removed).
   (For both, the code is not even parsed: the refusal names no card, so a partner holding a
   glimpse of someone's code cannot write into that holder's history (issue 15 item 13); it is
   the partner's own record, and it counts against the partner and terminal like an invalid
   code. The code is not used up.)
3. ``code_invalid``: not a DGC1 or DGC2 code, unknown or revoked pseudonym, wrong password, or a time
   step more than one step in the future. A ``DGC2:`` code (docs/offline-codes.md) is checked with
   the gate's algorithm (gate steps 1-8: the platform's own trust list, both signatures, the gate's
   windows of 60 s back and 20 s ahead), then its certificate's scene bit (``scene_not_permitted``,
   not counted as guessing: the code is genuine), then its certificate's revocation and the live
   card status (``card_inactive``); see :func:`_decide_dgc2`.
4. ``code_expired``: a genuine code whose time step is more than one step old.
5. ``card_inactive``: the card is not active.
   (Before the password is checked: ``card_throttled`` while the card is under guessing, and a
   429 for a throttled terminal or partner: app.scanning.guessing. The password's outcome is
   used only once the card's count allows it.)
6. The scene's own check (e.g. ``not_a_member`` on campus); ``scene_unavailable`` when the
   scene's policy fails (fail closed).
7. ``code_used``: this code, or a later one of the same device, was already accepted. The
   replay ledger (Redis, or the embedded store) decides this in one atomic step, so concurrent
   requests cannot both pass; the unique ``use_key`` of accepted records is a durable second
   ledger behind it.

Every verification is recorded (partner, terminal, scene, card, result, time; never the code).
An accepted answer is kept for 60 s per (partner, terminal, code): a scanner that reads the same
code twice gets the original answer with ``duplicate: true``, once the first read's record has
committed (before that: 503, so a gate never opens on an acceptance that was not recorded).
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache, cached_property
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.card.models import (
    LIVE_PHYSICAL_STATES,
    OFFLINE_ISSUING,
    Card,
    Device,
    FamilyMember,
    OfflineCertificate,
    OfflineKey,
    PhysicalCard,
    PrintedCode,
)
from app.identity import documents
from app.identity.models import Citizen, MpAccount
from app.identity.people import ID_NUMBER, NAME, SEED
from app.identity.real_person import COUNTER, KNOWLEDGE, meets
from app.partners.nonces import NonceClaim
from app.partners.partners import PartnerView
from app.partners.terminals import registered_terminal
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.raw_sql import Statement, first_row, may_prepare, on_postgresql, pooled_psycopg
from app.platform.sql import autocommit_connection, release_session, upsert_insert
from app.platform.store import StoreUnavailable, hash_tag
from app.runtime import Runtime
from app.scanning import partitions
from app.scanning.chip_reads import chip_read_allowed
from app.scanning.guessing import card_try_counts, note_invalid_code, refuse_if_throttled, right_password_gate
from app.scanning.lending import check_lending
from app.scanning.models import Verification
from qr import offline, payload, replay, totp

log = logging.getLogger(__name__)
DUPLICATE_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class CardFacts:
    """The card and its holder as stored (personal fields still encrypted)."""

    card_id: int
    card_number: str
    card_status: str
    insured: bool
    disability: bool
    name_enc: str
    id_number_enc: str
    id_number_index: str
    failed_attempts: int = 0
    failures_since: datetime | None = None
    # How the holder's binding was proven (app/identity/real_person.py); a chip read: counter
    assurance: str | None = "knowledge"
    # A family member's code shown by a relative (issue 18): the guardian's relation to the holder
    proxy_relation: str | None = None
    # What the holder owes for declined charges (issue 22): above 0, charging scenes refuse the card
    payment_debt_fen: int = 0


class Holder:
    """The card holder as a scene policy sees them: a personal field is decrypted only when a
    policy asks for it (M-19: each scene sees only what it needs)."""

    def __init__(self, rt: Runtime, facts: CardFacts) -> None:
        self._rt, self.facts = rt, facts
        self._ages: dict[date, int | None] = {}  # an upload settles many records of one holder (issue 16)
        self._tokens: dict[tuple[str, str], str] = {}

    @cached_property
    def name(self) -> str:
        return self._rt.keyring.decrypt(self.facts.name_enc, NAME)

    @cached_property
    def id_number(self) -> str:
        return self._rt.keyring.decrypt(self.facts.id_number_enc, ID_NUMBER)

    def age_on(self, day: date) -> int | None:
        """Age on ``day`` from the birth date the identifier carries; None when the holder's
        document has none (an e-card applicant's travel permit or passport, issue 17 item 1)."""
        if day not in self._ages:
            born = documents.birth_date_of(self.id_number, day)
            self._ages[day] = None if born is None else day.year - born.year - ((day.month, day.day) < (born.month, born.day))
        return self._ages[day]

    def token(self, purpose: str, partner: PartnerView) -> str:
        """Stable for one partner, different between partners: they cannot join their records."""
        key = (purpose, partner.partner_id)
        if key not in self._tokens:
            self._tokens[key] = self._rt.blind_index(f"{partner.partner_id}:{self.facts.card_id}", f"token.{purpose}")[:32]
        return self._tokens[key]


@dataclass(frozen=True)
class SceneContext:
    """What a scene policy may consult: the request, the holder, the runtime (config, clock).
    ``memo`` lets a policy keep a look-up between its check and its acceptance."""

    rt: Runtime
    partner: PartnerView
    terminal_id: str
    direction: str | None
    holder: Holder
    memo: dict[str, Any] = field(default_factory=dict)


class ScenePolicy(Protocol):
    """A scene's rules (scenes/): who may use it, what it checks, what it discloses and records.

    ``accept`` returns ``(subject, record)``: the fields the partner sees, and extra columns of
    the verification record (``direction``, ``linked_verification_id``)."""

    name: str
    identifies: bool  # its answer identifies the holder: bare chip reads are limited (app.scanning.chip_reads)

    def permits(self, partner: PartnerView) -> bool: ...

    def accepts_proxy(self, context: SceneContext) -> bool: ...

    def refusal(self, context: SceneContext) -> str | None: ...

    def accept(self, context: SceneContext) -> tuple[dict[str, Any], dict[str, Any]]: ...


@dataclass(frozen=True)
class VerificationAnswer:
    """The API answer: ``{"verification_id", "accepted", "reason", "scene", "subject", "duplicate"}``."""

    verification_id: str
    accepted: bool
    reason: str | None
    scene: str
    subject: dict[str, Any] | None
    duplicate: bool = False


def verify(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, code: str,
           direction: str | None, nonce: NonceClaim) -> VerificationAnswer:
    """Verify ``code`` for ``partner`` at ``terminal_id`` in the scene ``policy``; always records.

    ``direction`` (``entry``/``exit``) matters to transit only. ``nonce``, the signed request's,
    is claimed before anything changes (401 ``nonce_reused``). Round trips for an accepted code:
    one SELECT, one Redis script (the card's count of wrong passwords checked, app.scanning.guessing:
    a right password under guessing must not pass on an old count; then the nonce and the atomic
    use; on a Redis Cluster a GET of the count and a SET NX for the nonce come first, as their keys
    are in other slots: see app.platform.store.RedisClusterStore), a share of one INSERT
    (app.platform.group_commit). A refusal claims the nonce on its own, and a genuine code refused
    for its age or the card's state also looks up an earlier answer.
    """
    release_session()  # the partner's look-up, if not cached: see app.platform.sql.autocommit_connection
    refuse_if_throttled(rt, partner.id, terminal_id)
    answer_key = _answer_key(partner, terminal_id, code, f"{policy.name}:{direction}")
    decision = _decide(rt, partner, policy, terminal_id, code, direction, nonce)
    if decision.reason is None:
        return _use(rt, partner, policy, terminal_id, decision, answer_key, nonce)
    nonce.claim()
    if decision.reason == "code_invalid" or (decision.reason in PARTNER_REFUSALS and decision.facts is None):
        guessed_card = decision.facts.card_id if decision.facts and decision.guessable else None
        note_invalid_code(rt, partner.id, terminal_id, guessed_card)
    if decision.reason in GENUINE_CODE_REFUSALS:
        earlier = _as_duplicate(rt, rt.store.get(answer_key))
        if earlier is not None:
            return earlier
    return _settle(rt, partner, policy, terminal_id, decision, answer_key)


GENUINE_CODE_REFUSALS = ("code_expired", "card_inactive", "not_a_member", "assurance_too_low", "proxy_not_accepted",
                         "payment_debt")
# The partner's own failures: checked before the code or card number is looked at, recorded
# without a card, counted against the partner (app.scanning.guessing).
PARTNER_REFUSALS = ("scene_not_permitted", "terminal_unknown")


def _partner_refusal(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str) -> str | None:
    if not policy.permits(partner):
        return "scene_not_permitted"
    if registered_terminal(rt, partner.id, terminal_id) is None:
        return "terminal_unknown"
    return None


@dataclass(frozen=True)
class Decision:
    """``facts`` when the code named a card; ``reason`` None when every check but the one-time
    rule passed; ``use`` is what the one-time rule consumes once the code proved genuine;
    ``subject`` and ``extra`` (record columns) are the scene's disclosure, computed before the
    code is used. ``guessable``: the code's secret can be guessed (DGC1's 8 digits), so an
    invalid one counts against its card too; a DGC2 signature cannot be guessed, and counting
    it would let anyone holding a screenshot slow the holder's DGC1 codes down."""

    facts: CardFacts | None
    reason: str | None
    use: OneTimeUse | None = None
    subject: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    carrier: str = "ecard"  # or "physical": a chip reader sent the card number
    guessable: bool = True
    gate: tuple[str, int] | None = None  # a right DGC1 password's count check, left to the use (guessing.right_password_gate)

    def refused(self, reason: str) -> Decision:
        return Decision(self.facts, reason, carrier=self.carrier, guessable=self.guessable)


@dataclass(frozen=True)
class OneTimeUse:
    """The one-time rule for one code: the store's mark (``mark_key`` raised to ``counter`` only if
    higher, atomically, kept ``mark_ttl`` s) and the durable ``use_key`` of the accepted record.

    DGC1: one mark per device pseudonym, its moving factor as counter (a later code retires earlier
    ones); use key ``PSEUDONYM:factor``. DGC2: one mark per (serial, ctr) with counter 1 (exactly a
    second use of the same code is refused); use key ``dgc2:<serial hex>:<ctr>`` (:func:`dgc2_use_key`),
    which offline uploads share, so a code used online and then uploaded (or the reverse) is used once.
    ``code_step``: the record's partition step, a function of the use key (app.scanning.partitions)."""

    mark_key: str
    counter: int
    mark_ttl: int
    use_key: str
    code_step: int
    code_hash: str | None = None  # DGC2: SHA-256 of the code's bytes, kept on the record (clone detection)

    @classmethod
    def dgc1(cls, scanned: payload.CodePayload) -> OneTimeUse:
        factor = totp.moving_factor(scanned.step, scanned.sequence)
        return cls(replay.ledger_key(scanned.pseudonym), factor, replay.MARK_TTL_SECONDS, f"{scanned.pseudonym}:{factor}",
                   partitions.dgc1_code_step(factor))

    @classmethod
    def dgc2(cls, code: offline.Code) -> OneTimeUse:
        use_key = dgc2_use_key(code.certificate.serial, code.ctr)
        return cls(f"replay:{dgc2_tag(code.certificate.serial)}:{code.ctr}", 1, DGC2_MARK_TTL, use_key,
                   partitions.dgc2_code_step(code.certificate.nbf), dgc2_code_hash(code))


def dgc2_tag(serial: bytes) -> str:
    """``{dgc2:<serial hex>}``: the store's hash tag of a DGC2 certificate's codes (their marks and
    kept answers share a Redis Cluster slot, app.platform.store.hash_tag)."""
    return hash_tag(f"dgc2:{serial.hex()}")


def dgc2_code_hash(code: offline.Code) -> str:
    """SHA-256 (hex) of a DGC2 code's bytes: two codes with one (serial, ctr) and different hashes
    were made by two holders of one device key (a clone, docs/offline-codes.md)."""
    return hashlib.sha256(code.to_bytes()).hexdigest()


def dgc2_use_key(serial: bytes, ctr: int) -> str:
    """The durable ledger's key of a DGC2 code: ``dgc2:<serial hex>:<ctr>`` (unique on serial + ctr)."""
    return f"dgc2:{serial.hex()}:{ctr}"


# A DGC2 code is acceptable online for 80 s (t >= now - 60, t <= now + 20): twice that covers it.
DGC2_MARK_TTL = 2 * (offline.MAX_CODE_AGE + offline.FUTURE_GRACE)


def _use(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, decision: Decision,
         answer_key: str, nonce: NonceClaim) -> VerificationAnswer:
    """The one-time rule: the first use is accepted, a re-read gets the earlier answer."""
    answer = _answer(policy, decision)
    use = decision.use
    assert use is not None
    kept = rt.keyring.encrypt(json.dumps({"answer": vars(answer), "at": rt.clock.time(), "step": use.code_step}), KEPT_ANSWER)
    folded = nonce.folded()
    outcome, earlier = rt.store.use_once(use.mark_key, use.counter, use.mark_ttl, answer_key, kept,
                                         DUPLICATE_WINDOW_SECONDS, folded, decision.gate)
    if outcome == "gated":  # the card is under guessing: nothing happened; its counts decide, nonce claimed first
        if not card_try_counts(rt, decision.facts, True, nonce.claim):
            return _settle(rt, partner, policy, terminal_id, decision.refused("card_throttled"), answer_key)
        return _use(rt, partner, policy, terminal_id, replace(decision, gate=None), answer_key, nonce)
    if folded is not None:
        nonce.settle(outcome == "claim_taken")
    if outcome == "earlier" and (duplicate := _as_duplicate(rt, earlier)) is not None:
        return duplicate
    if outcome != "first":
        return _settle(rt, partner, policy, terminal_id, decision.refused("code_used"), answer_key)
    try:
        return _settle(rt, partner, policy, terminal_id, decision, answer_key, answer)
    except Exception:  # used but not recorded (database down): a retry must not replay the kept acceptance
        rt.store.put(answer_key, VOID, DUPLICATE_WINDOW_SECONDS)
        raise


def _settle(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, decision: Decision,
            answer_key: str, answer: VerificationAnswer | None = None) -> VerificationAnswer:
    """Record the answer; an acceptance the durable ledger already holds becomes ``code_used``."""
    answer = answer or _answer(policy, decision)
    if _record(rt, partner, terminal_id, decision, answer):
        return answer
    rt.store.put(answer_key, VOID, DUPLICATE_WINDOW_SECONDS)  # the kept "accepted" answer was wrong
    return _settle(rt, partner, policy, terminal_id, decision.refused("code_used"), answer_key)


VOID = "{}"
# The kept answer holds what the scene disclosed (a name, an ID number): encrypted in the store
# like every personal field at rest (M-19), for its 60 s.
KEPT_ANSWER = "verification.kept_answer"


def _answer(policy: ScenePolicy, decision: Decision) -> VerificationAnswer:
    return VerificationAnswer(
        verification_id="vf_" + secrets.token_hex(12), accepted=decision.reason is None, reason=decision.reason,
        scene=policy.name, subject=decision.subject if decision.reason is None else None,
    )


def _as_duplicate(rt: Runtime, kept_text: str | None) -> VerificationAnswer | None:
    """The accepted answer this terminal got for this code within the last 60 s, as a duplicate.

    Only once that acceptance is recorded (issue 15 item 10): the answer is kept in the store
    before the first read's INSERT commits, and that INSERT may still fail. Until the record is
    there the re-read answers 503 ``service_unavailable`` (retry), never ``accepted``; one
    primary-key look-up in the record's partition, on re-reads only (the accepted path pays nothing)."""
    kept = json.loads(rt.keyring.decrypt(kept_text, KEPT_ANSWER)) if kept_text and kept_text != VOID else {}
    if not kept or rt.clock.time() - kept["at"] > DUPLICATE_WINDOW_SECONDS:
        return None
    with autocommit_connection() as conn:
        if "step" in kept:
            recorded = conn.execute(_RECORDED, {"id": kept["answer"]["verification_id"], "step": kept["step"]}).first()
        else:  # kept by a release before the partitioning, within the last 60 s
            recorded = conn.execute(_RECORDED_ANY_STEP, {"id": kept["answer"]["verification_id"]}).first()
    if recorded is None:
        raise AppError("service_unavailable", 503, "the first read of this code is not recorded yet; retry shortly",
                       headers={"Retry-After": "1"})
    return VerificationAnswer(**{**kept["answer"], "duplicate": True})


_RECORDED = select(Verification.id).where(Verification.id == bindparam("id"), Verification.code_step == bindparam("step"),
                                          Verification.accepted.is_(True))
_RECORDED_ANY_STEP = select(Verification.id).where(Verification.id == bindparam("id"), Verification.accepted.is_(True))


def _answer_key(partner: PartnerView, terminal_id: str, code: str, request: str) -> str:
    """Per partner, terminal, code and request (scene and direction): only the same read repeats.
    ``answer:<device tag>:<digest>``, the tag of the code's one-time mark (:func:`_device_tag`)."""
    digest = hashlib.sha256(f"{partner.id}\n{terminal_id}\n{code}\n{request}".encode()).hexdigest()[:40]
    return f"answer:{_device_tag(code)}{digest}"


def _device_tag(code: str) -> str:
    """The hash tag of the code's one-time mark and a colon (``{<pseudonym>}:``, ``{dgc2:<serial>}:``),
    so that the use-once script's keys share one Redis Cluster slot; empty for text that is no
    code (no use follows) and for card numbers (chip reads use nothing once)."""
    try:
        if code.startswith(offline.PREFIX):
            return dgc2_tag(offline.parse(code).certificate.serial) + ":"
        if code.startswith(offline.printed.PREFIX):
            return hash_tag(f"dgp1:{offline.printed.parse(code).serial.hex()}") + ":"
        return hash_tag(payload.parse(code).pseudonym) + ":"
    except (offline.FormatError, payload.CodeFormatError):
        return ""


def _decide(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, code: str,
            direction: str | None, nonce: NonceClaim) -> Decision:
    """Every check but the one-time rule; no store round trip unless the card is under guessing
    (then the nonce is claimed first). The partner's own checks come first and name no card."""
    if (refusal := _partner_refusal(rt, partner, policy, terminal_id)) is not None:
        return Decision(None, refusal)
    if code.startswith(offline.PREFIX):
        return _decide_dgc2(rt, partner, policy, terminal_id, code, direction)
    if code.startswith(offline.printed.PREFIX):
        return _decide_printed(rt, partner, policy, terminal_id, code, direction)
    try:
        scanned = payload.parse(code)
    except payload.CodeFormatError:
        scanned = None
    found = _device_and_card(scanned.pseudonym) if scanned else None
    if scanned is None or found is None:
        return Decision(None, "code_invalid")
    seed_enc, facts = found
    right = totp.otp_matches(rt.keyring.decrypt(seed_enc, SEED), scanned.step, scanned.sequence, scanned.otp)
    gate = right_password_gate(rt, facts) if right else None
    if gate is None and not card_try_counts(rt, facts, right, nonce.claim):  # counted, then decided (issue 15 item 6)
        return Decision(facts, "card_throttled")
    if not right:
        return Decision(facts, "code_invalid")
    reason = _time_or_card_failure(rt, scanned, facts)
    decision = Decision(facts, reason) if reason is not None else _consult_scene(
        policy, SceneContext(rt, partner, terminal_id, direction, Holder(rt, facts)), OneTimeUse.dgc1(scanned))
    if gate is None:
        return decision
    if decision.reason is not None:  # a refusal tells that the password was right: the card's count decides first
        return decision if card_try_counts(rt, facts, True, nonce.claim) else Decision(facts, "card_throttled")
    return replace(decision, gate=gate)  # checked in the use's own script (_use)


def assurance_refusal(rt: Runtime, scene: str, facts: CardFacts) -> str | None:
    """``assurance_too_low`` when the scene requires a higher assurance of the holder's binding
    than theirs (``CARD_SCENE_MIN_ASSURANCE``; government and finance: ``real_person``, issue 17)."""
    minimum = rt.config.get("CARD_SCENE_MIN_ASSURANCE", {}).get(scene)
    return "assurance_too_low" if minimum and not meets(facts.assurance or KNOWLEDGE, minimum) else None


def proxy_refusal(policy: ScenePolicy, context: SceneContext) -> str | None:
    """``proxy_not_accepted`` when a relative shows the holder's code (issue 18) and the scene
    refuses proxies (government and finance; campus unless the partner accepts them)."""
    if context.holder.facts.proxy_relation is None or policy.accepts_proxy(context):
        return None
    return "proxy_not_accepted"


def payment_refusal(policy: ScenePolicy, context: SceneContext) -> str | None:
    """``payment_debt`` when the holder owes a declined charge (the payment deny list, issue 22;
    docs/payments.md) and the verification is a charging one: the partner holds the ``merchant``
    role in a scene that takes charges (``CARD_CHARGE_SCENE_LIMITS``). Other verifications pass."""
    if context.holder.facts.payment_debt_fen <= 0 or "merchant" not in context.partner.roles:
        return None
    return "payment_debt" if policy.name in context.rt.config["CARD_CHARGE_SCENE_LIMITS"] else None


def _consult_scene(policy: ScenePolicy, context: SceneContext, use: OneTimeUse | None,
                   carrier: str = "ecard", guessable: bool = True) -> Decision:
    """The scene's own check and its disclosure; a policy that fails never accepts (fail closed)."""
    facts = context.holder.facts
    try:
        reason = (proxy_refusal(policy, context) or payment_refusal(policy, context)
                  or assurance_refusal(context.rt, policy.name, facts) or policy.refusal(context))
        if reason is not None:
            return Decision(facts, reason, carrier=carrier, guessable=guessable)
        subject, extra = policy.accept(context)
        if facts.proxy_relation is not None:
            subject = {**subject, "proxy": True, "relation": facts.proxy_relation}
        return Decision(facts, None, use, subject, extra, carrier, guessable)
    except (OperationalError, PoolTimeout, StoreUnavailable):
        raise  # a backing service is down: 503 like everywhere else (the transaction is dead: no record can follow)
    except Exception:
        log.exception("scene policy %s failed; refusing", policy.name)
        db.session.rollback()  # a failed query leaves the transaction unusable for the record
        return Decision(facts, "scene_unavailable", carrier=carrier, guessable=guessable)


def _decide_dgc2(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, code: str,
                 direction: str | None) -> Decision:
    """A ``DGC2:`` code online (issue 16, docs/offline-codes.md): gate steps 1-8 with the platform's
    own trust list (the issuing key of the code's ``kid``, if still trusted) at the server's clock,
    then the certificate's scene bit (gate step 9), then the live state instead of a deny list: the
    certificate revoked, its device replaced or the card not active is ``card_inactive``; then the
    scene policy, as for DGC1. One query (the key, the certificate, the card and its holder).

    A code that fails its format or a signature names no card (``code_invalid``, counted against
    the terminal and partner like an invalid DGC1 code); a genuine one refused for its time names
    its card (the holder sees it) but never counts against it."""
    now = int(rt.clock.time())
    try:
        parsed = offline.parse(code)
    except offline.FormatError:
        return Decision(None, "code_invalid", guessable=False)
    certificate = parsed.certificate
    with autocommit_connection() as conn:
        row = conn.execute(_DGC2_KEY_AND_CARD, {"kid": certificate.kid, "serial": certificate.serial.hex(),
                                                "now": rt.clock.now()}).first()
    trusted = {}
    if row is not None:
        try:
            key = offline.VerifyingKey(row.alg, offline.b64url_decode(row.public_key))
        except ValueError:  # KeyFormatError, SM2Unavailable: this server cannot check the key
            key = None
        if key is not None:
            trusted[certificate.kid] = offline.IssuingKey(certificate.kid, key, int(row.not_before.timestamp()),
                                                          int(row.not_after.timestamp()))
    # verify_code needs no deny-list key: the live state below stands in for the deny list
    checked = offline.verify_code(code, offline.TrustList(0, now, now, trusted, None), now)  # type: ignore[arg-type]
    genuine = row is not None and row.card_id is not None and row.device_public_key == offline.b64url_encode(certificate.dpk)
    if checked.step <= 5 or not genuine:  # format, key or a signature; or a certificate we never issued
        return Decision(None, "code_invalid", guessable=False)
    facts = CardFacts(row.card_id, row.card_number, row.status, row.insured, row.disability, row.name_enc,
                      row.id_number_enc, row.id_number_index, row.failed_attempts, row.failures_since, row.assurance,
                      row.proxy_relation)
    if not checked.accepted:
        return Decision(facts, checked.reason, guessable=False)
    if policy.name not in offline.scene_names(certificate.scenes):
        return Decision(facts, "scene_not_permitted", guessable=False)
    if row.revoked_at is not None or row.device_revoked_at is not None or row.status != "active":
        return Decision(facts, "card_inactive", guessable=False)
    context = SceneContext(rt, partner, terminal_id, direction, Holder(rt, facts))
    return _consult_scene(policy, context, OneTimeUse.dgc2(parsed), guessable=False)


# Built once: the issuing key of a kid (if the trust list still names it: not_after ahead), and
# the certificate of a serial under that key with its device, card and holder (outer joins).
# The assurance of the holder's account on the app whose device showed the code (None: no account
# of that app bound now; issue 17 item 3: each app's binding has its own check)
_ASSURANCE = (select(MpAccount.assurance).where(MpAccount.citizen_id == Citizen.id, MpAccount.platform == Device.platform)
              .limit(1).scalar_subquery().label("assurance"))
_DGC2_KEY_AND_CARD = (
    select(OfflineKey.alg, OfflineKey.public_key, OfflineKey.not_before, OfflineKey.not_after,
           OfflineCertificate.device_public_key, OfflineCertificate.revoked_at,
           Device.revoked_at.label("device_revoked_at"), Card.id.label("card_id"), Card.card_number, Card.status,
           Citizen.insured, Citizen.disability, Citizen.name_enc, Citizen.id_number_enc, Citizen.id_number_index,
           Card.failed_attempts, Card.failures_since, _ASSURANCE, FamilyMember.relation.label("proxy_relation"))
    .select_from(OfflineKey)
    .outerjoin(OfflineCertificate, (OfflineCertificate.kid == OfflineKey.id)
               & (OfflineCertificate.serial == bindparam("serial")))
    .outerjoin(Device, Device.id == OfflineCertificate.device_id)
    .outerjoin(Card, Card.id == OfflineCertificate.card_id)
    .outerjoin(Citizen, Citizen.id == Card.citizen_id)
    .outerjoin(FamilyMember, FamilyMember.device_id == Device.id)
    .where(OfflineKey.id == bindparam("kid"), OfflineKey.role == OFFLINE_ISSUING, OfflineKey.not_after > bindparam("now"))
)


def _decide_printed(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, code: str,
                    direction: str | None) -> Decision:
    """A ``DGP1:`` printed code online (issue 18 item 3; qr.offline.printed): its signature
    under the platform's own trusted issuing key of its ``kid``, its time, then its row: unknown
    is ``code_invalid``; the scene bit (``scene_not_permitted``); revoked or the card not active
    is ``card_inactive`` (the live status: no deny-list delay online); then the scene policy.
    The code is static: the one-time rule accepts it at most once per second (a photocopy at a
    second gate in the same second is ``code_used``), carrier ``printed``."""
    now = int(rt.clock.time())
    try:
        parsed = offline.printed.parse(code)
    except offline.FormatError:
        return Decision(None, "code_invalid", guessable=False)
    with autocommit_connection() as conn:
        row = conn.execute(_PRINTED_KEY_AND_CARD, {"kid": parsed.kid, "serial": parsed.serial.hex(), "now": rt.clock.now()}).first()
    if row is None or row.card_id is None:
        return Decision(None, "code_invalid", guessable=False, carrier="printed")
    key = offline.IssuingKey(parsed.kid, offline.VerifyingKey(row.alg, offline.b64url_decode(row.public_key)),
                             int(row.not_before.timestamp()), int(row.not_after.timestamp()))
    checked = offline.printed.verify_signature(code, offline.TrustList(0, now, now, {parsed.kid: key}, None), now)  # type: ignore[arg-type]
    if checked.step <= 4:
        return Decision(None, "code_invalid", guessable=False, carrier="printed")
    facts = CardFacts(row.card_id, row.card_number, row.status, row.insured, row.disability, row.name_enc,
                      row.id_number_enc, row.id_number_index, row.failed_attempts, row.failures_since, KNOWLEDGE)
    if not checked.accepted:
        return Decision(facts, checked.reason, guessable=False, carrier="printed")
    if policy.name not in offline.scene_names(parsed.scenes):
        return Decision(facts, "scene_not_permitted", guessable=False, carrier="printed")
    if row.revoked_at is not None or row.status != "active":
        return Decision(facts, "card_inactive", guessable=False, carrier="printed")
    use = OneTimeUse(f"replay:{hash_tag('dgp1:' + parsed.serial.hex())}", now, DUPLICATE_WINDOW_SECONDS,
                     f"dgp1:{parsed.serial.hex()}:{now}", partitions.step_of(rt.clock.now()))
    return _consult_scene(policy, SceneContext(rt, partner, terminal_id, direction, Holder(rt, facts)), use, "printed", False)


# The issuing key of a kid (still trusted) and the printed code of a serial with its card and holder.
_PRINTED_KEY_AND_CARD = (
    select(OfflineKey.alg, OfflineKey.public_key, OfflineKey.not_before, OfflineKey.not_after, PrintedCode.revoked_at,
           Card.id.label("card_id"), Card.card_number, Card.status, Citizen.insured, Citizen.disability, Citizen.name_enc,
           Citizen.id_number_enc, Citizen.id_number_index, Card.failed_attempts, Card.failures_since)
    .select_from(OfflineKey)
    .outerjoin(PrintedCode, (PrintedCode.kid == OfflineKey.id) & (PrintedCode.serial == bindparam("serial")))
    .outerjoin(Card, Card.id == PrintedCode.card_id)
    .outerjoin(Citizen, Citizen.id == Card.citizen_id)
    .where(OfflineKey.id == bindparam("kid"), OfflineKey.role == OFFLINE_ISSUING, OfflineKey.not_after > bindparam("now"))
)


def _time_or_card_failure(rt: Runtime, scanned: payload.CodePayload, facts: CardFacts) -> str | None:
    age = totp.step_age(scanned.step, rt.clock.time())
    if age < -totp.WINDOW_AHEAD:
        return "code_invalid"
    if age > totp.WINDOW_BACK:
        return "code_expired"
    return None if facts.card_status == "active" else "card_inactive"


# Built once: constructing a statement costs more than running it on this hot path (and on
# PostgreSQL compiled once and prepared: app.platform.raw_sql).
_DEVICE_AND_CARD = Statement(
    select(Device.seed_enc, Card.id, Card.card_number, Card.status, Citizen.insured, Citizen.disability,
           Citizen.name_enc, Citizen.id_number_enc, Citizen.id_number_index, Card.failed_attempts, Card.failures_since,
           _ASSURANCE, FamilyMember.relation.label("proxy_relation"), Card.payment_debt_fen)
    .join(Card, Card.id == Device.card_id).join(Citizen, Citizen.id == Card.citizen_id)
    .outerjoin(FamilyMember, FamilyMember.device_id == Device.id)  # a proxy device (issue 18)
    .where(Device.pseudonym == bindparam("pseudonym"), Device.revoked_at.is_(None))
)


def _device_and_card(pseudonym: str) -> tuple[str, CardFacts] | None:
    row = first_row(_DEVICE_AND_CARD, {"pseudonym": pseudonym})
    if row is None:
        return None
    return row.seed_enc, CardFacts(row.id, row.card_number, row.status, row.insured, row.disability,
                                   row.name_enc, row.id_number_enc, row.id_number_index,
                                   row.failed_attempts, row.failures_since, row.assurance, row.proxy_relation,
                                   row.payment_debt_fen)


def _record(rt: Runtime, partner: PartnerView, terminal_id: str, decision: Decision, answer: VerificationAnswer) -> bool:
    """INSERT the record, committed before this returns; False when an accepted use was already recorded.

    The record of an accepted verification carries its ``use_key`` (pseudonym and moving factor)
    under a unique index with its ``code_step`` (the code's step; a record without a use key: its
    own time's): a second ledger, durable, behind the store's (a Redis that lost its data cannot
    make a code verify twice). Core, not the unit of work, and in a batch with the other
    requests' records of the moment (app.platform.group_commit): this runs on every scan.
    """
    facts = decision.facts
    use = decision.use if answer.accepted else None
    now = rt.clock.now()
    row = {
        "id": answer.verification_id, "partner_id": partner.id, "terminal_id": terminal_id, "scene": answer.scene,
        "card_id": facts.card_id if facts else None, "accepted": answer.accepted, "reason": answer.reason,
        "use_key": use.use_key if use else None, "created_at": now,
        "code_step": use.code_step if use else partitions.step_of(now),
        "code_hash": use.code_hash if use else None,
        "disclosed": ",".join(answer.subject) if answer.subject else None,
        "direction": None, "linked_verification_id": None, "carrier": decision.carrier,
    }
    extra = decision.extra if answer.accepted else {}
    if not extra.keys() <= row.keys():  # a batch's rows must all have the same columns
        raise ValueError(f"scene {answer.scene} records unknown columns: {sorted(extra.keys() - row.keys())}")
    row.update(extra)
    release_session()  # e.g. an invalid code's count, committed before the batch's INSERT
    return rt.verification_records.submit(row, _insert_records)


def _insert_records(rows: list[dict[str, Any]]) -> list[bool]:
    """The batch in one INSERT, committed; per row, whether it was inserted (False: its use key
    was already recorded). PostgreSQL: :data:`_INSERT_UNNEST`, one prepared statement whatever the
    batch size (issue 25). SQLite: ``INSERT ... ON CONFLICT (use_key, code_step) DO NOTHING
    RETURNING id`` through SQLAlchemy (insertmanyvalues). The conflict target is the one-time key,
    which on the partitioned table includes the partition key (app.scanning.partitions)."""
    if on_postgresql():
        columns = [[row[name] for row in rows] for name, _ in RECORD_COLUMNS]
        with pooled_psycopg() as conn:
            inserted = {found for (found,) in conn.execute(_INSERT_UNNEST, columns, prepare=may_prepare(conn))}
    else:
        with autocommit_connection() as conn:
            inserted = set(conn.execute(_record_statement(db.engine.dialect.name), rows).scalars())
    return [row["id"] in inserted for row in rows]


# Every column a record sets, with its PostgreSQL type for unnest (an explicit list: the table may
# gain columns). ON CONFLICT names the one-time key, (use_key, code_step): a row whose key is already
# there is skipped, which is what a durable ledger needs.
RECORD_COLUMNS = (("id", "varchar"), ("partner_id", "int"), ("terminal_id", "varchar"), ("scene", "varchar"),
                  ("card_id", "int"), ("accepted", "bool"), ("reason", "varchar"), ("use_key", "varchar"),
                  ("created_at", "timestamptz"), ("code_hash", "varchar"), ("disclosed", "varchar"),
                  ("direction", "varchar"), ("linked_verification_id", "varchar"), ("carrier", "varchar"),
                  ("code_step", "bigint"))
_INSERT_UNNEST = (f"INSERT INTO verifications ({', '.join(name for name, _ in RECORD_COLUMNS)}) "
                  f"SELECT * FROM unnest({', '.join(f'%s::{kind}[]' for _, kind in RECORD_COLUMNS)}) "
                  "ON CONFLICT (use_key, code_step) DO NOTHING RETURNING id")


@cache
def _record_statement(dialect: str) -> Any:
    stmt = upsert_insert(dialect, Verification)
    return stmt.on_conflict_do_nothing(index_elements=[Verification.use_key, Verification.code_step]).returning(Verification.id)


# --- The physical card at chip readers (docs/card-lifecycle.md "At terminals") ----------------
# A chip reader sends the card number instead of a code. There is no one-time rule (nothing in
# the read changes between reads), but every other step is the flow above: the scene and
# terminal checks, the throttle for invalid input (an unknown card number counts like an invalid
# code), the scene policy, the record (carrier "physical"). The physical card's state is read
# from the database on every read, never from a cache: a loss report is refused at once.

PHYSICAL_REFUSALS: dict[str | None, str | None] = {
    "activated": None, "suspended": "card_lost", "applied": "card_suspended", "produced": "card_suspended",
    "issued": "card_suspended", "replaced": "card_suspended", "recovered": "card_cancelled", "cancelled": "card_cancelled",
    None: "card_unknown",  # the card never had a physical card
}


def verify_card_number(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, card_number: str,
                       direction: str | None, nonce: NonceClaim) -> VerificationAnswer:
    """Verify a physical card read by a chip reader: refused with ``card_lost`` (loss reported),
    ``card_suspended`` (not activated yet, or replaced), ``card_cancelled``, or ``card_unknown``
    (no such card, or it has no physical card); the scene rules are those of :func:`verify`. A
    scene that identifies the holder answers a bare number within app.scanning.chip_reads's
    limits only (``chip_read_limited``)."""
    release_session()
    refuse_if_throttled(rt, partner.id, terminal_id)
    nonce.claim()
    decision = _decide_physical(rt, partner, policy, terminal_id, card_number, direction)
    if decision.reason is None and policy.identifies and decision.facts is not None \
            and not chip_read_allowed(rt, partner.id, terminal_id, decision.facts.card_id):
        decision = decision.refused("chip_read_limited")  # a bare number is no proof of presence (issue 15 item 2)
    if decision.reason in ("card_unknown", *PARTNER_REFUSALS):
        note_invalid_code(rt, partner.id, terminal_id, None)  # never counted against the card: no password was tried
    answer_key = _answer_key(partner, terminal_id, "card:" + card_number, f"{policy.name}:{direction}")
    answer = _settle(rt, partner, policy, terminal_id, decision, answer_key)
    if answer.accepted and decision.facts is not None:
        check_lending(rt, decision.facts.card_id, answer.verification_id)
    return answer


def _decide_physical(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, card_number: str,
                     direction: str | None) -> Decision:
    if (refusal := _partner_refusal(rt, partner, policy, terminal_id)) is not None:
        return Decision(None, refusal, carrier="physical")
    found = _card_and_physical_state(card_number)
    if found is None:
        return Decision(None, "card_unknown", carrier="physical")
    facts, state = found
    reason = "card_cancelled" if facts.card_status == "cancelled" else PHYSICAL_REFUSALS.get(state, "card_suspended")
    if reason is not None:
        return Decision(facts if state else None, reason, carrier="physical")
    return _consult_scene(policy, SceneContext(rt, partner, terminal_id, direction, Holder(rt, facts)), None, "physical")


# Built once: the card, its holder, and the state of its live physical card, else of its latest one.
_PHYSICAL_STATE = (select(PhysicalCard.state).where(PhysicalCard.card_id == Card.id)
                   .order_by(PhysicalCard.state.in_(LIVE_PHYSICAL_STATES).desc(), PhysicalCard.id.desc())
                   .limit(1).correlate(Card).scalar_subquery())
_CARD_BY_NUMBER = (
    select(Card.id, Card.card_number, Card.status, Citizen.insured, Citizen.disability, Citizen.name_enc,
           Citizen.id_number_enc, Citizen.id_number_index, Card.failed_attempts, Card.failures_since,
           _PHYSICAL_STATE.label("physical_state"))
    .join(Citizen, Citizen.id == Card.citizen_id).where(Card.card_number == bindparam("card_number"))
)


def _card_and_physical_state(card_number: str) -> tuple[CardFacts, str | None] | None:
    """One query: the card's facts and its physical card's state (None: it never had one)."""
    with autocommit_connection() as conn:
        row = conn.execute(_CARD_BY_NUMBER, {"card_number": card_number}).first()
    if row is None:
        return None
    return CardFacts(*row[:-1], assurance=COUNTER), row.physical_state  # the bank handed the chip card over in person
