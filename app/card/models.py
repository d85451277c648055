"""The citizen card (M-3): one per citizen, identified by a random, non-identifying number.

E-card devices: each holds a TOTP seed and a pseudonym that appears in its codes.

The card's carriers besides the e-card (M-3, M-14): the physical social-security card, the
record of every carrier transition and the partner banks' idempotent reports (M-10(8)). The
e-card's own state is ``Card.status``; lending flags (M-27) are the scanning domain's."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, LargeBinary, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.platform.models import Base

CARD_ACTIVE = "active"
CARD_CANCELLED = "cancelled"


class Card(Base):
    """``status`` is the e-card's state: ``active`` <-> ``suspended``, or ``cancelled`` once the
    card itself is cancelled (app/card/lifecycle.py; docs/card-lifecycle.md)."""

    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_number: Mapped[str] = mapped_column(String(32), unique=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=CARD_ACTIVE)
    contact_phone_enc: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # Wrong passwords against this card's codes since ``failures_since`` (docs/qr-format.md, guessing)
    failed_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    failures_since: Mapped[datetime | None]
    # The e-card password (app/card/passwords.py): a scrypt hash, and when it was set (keys its throttle)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_set_at: Mapped[datetime | None]
    # Issue 22: what the holder owes for declined charges (fen), kept by app.money.ledger.append with
    # every ledger entry's debt_fen; above 0 the card is on the payment deny list
    payment_debt_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Device(Base):
    """One e-card carrier. At most one unrevoked device per card and app (``platform``: the
    ``wechat`` or ``alipay`` account it serves, issue 17 item 3): provisioning a new device revokes
    that app's old one, whose codes then stop verifying (docs/qr-format.md); the other app's device
    is untouched. Each app's device has its own seed and pseudonym, so the record of an accepted
    code (its ``use_key`` names the pseudonym) says which app showed it."""

    __tablename__ = "devices"
    __table_args__ = (
        Index(
            "uq_devices_active_card_platform",
            "card_id", "platform",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    platform: Mapped[str] = mapped_column(String(16), default="wechat", server_default="wechat")
    pseudonym: Mapped[str] = mapped_column(String(16), unique=True)
    seed_enc: Mapped[str] = mapped_column(String(200))
    installation_id: Mapped[str | None] = mapped_column(String(64))
    # The digest of the bearer token whose session had this seed handed out (app/card/seeds.py):
    # logging that session out ends the copy. None: the seed never left the server.
    token_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


# The states in which a physical card is the citizen's current one (at most one per card).
LIVE_PHYSICAL_STATES = ("applied", "produced", "issued", "activated", "suspended")
_LIVE = "state IN ('applied', 'produced', 'issued', 'activated', 'suspended')"


class PhysicalCard(Base):
    """One physical social-security card of a citizen card (docs/card-lifecycle.md).

    ``application_id`` is public (the bank names the card by it); ``serial_number`` is set when
    the bank reports production; ``suspended_from`` is the state a loss report interrupted, to
    which cancelling the report returns. ``fee_rule``/``fee_fen``/``fee_payer`` record the fee
    decision (M-24) shown to the citizen before they confirmed. ``pin_hash`` is a scrypt hash."""

    __tablename__ = "physical_cards"
    __table_args__ = (
        Index("uq_physical_cards_live_card", "card_id", unique=True,
              postgresql_where=text(_LIVE), sqlite_where=text(_LIVE)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[str] = mapped_column(String(32), unique=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    bank_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    suspended_from: Mapped[str | None] = mapped_column(String(16))
    serial_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    technology: Mapped[str] = mapped_column(String(32))
    issued_on: Mapped[date | None] = mapped_column(Date)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("physical_cards.id"))
    fee_rule: Mapped[str] = mapped_column(String(32))
    fee_fen: Mapped[int]
    fee_payer: Mapped[str] = mapped_column(String(16))
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CarrierEvent(Base):
    """One transition of a carrier (``ecard``, ``physical``) or of the card itself (``card``):
    what changed, why, who did it (``citizen``, ``bank:<partner_id>``, ``operator``) and when."""

    __tablename__ = "carrier_events"
    __table_args__ = (Index("ix_carrier_events_card_created", "card_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    carrier: Mapped[str] = mapped_column(String(8))
    physical_card_id: Mapped[int | None] = mapped_column(ForeignKey("physical_cards.id"))
    event: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class BankReport(Base):
    """A partner bank's report, kept by its ``request_id`` so that a retry never applies twice:
    the retry gets ``answer`` (the JSON first sent) back. ``digest`` is a keyed HMAC of the body
    (app.card.bank_reports.body_digest), never a plain hash: the body's one unknown may be a phone."""

    __tablename__ = "bank_reports"
    __table_args__ = (UniqueConstraint("partner_id", "request_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    request_id: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime]


# --- DGC2 offline codes (issue 16; docs/offline-codes.md; app/card/offline_*.py) ----------------

OFFLINE_ROOT, OFFLINE_ISSUING, OFFLINE_DENY = "root", "issuing", "deny"


class OfflineKey(Base):
    """A DGC2 signing key: the ``root`` key (signs the trust list; its public key ships in gate
    firmware), the ``deny`` key (signs the deny list) or an ``issuing`` key (signs device
    certificates; ``id`` is its ``kid``). At most one root and one deny key. ``private_enc`` is
    the raw private key, base64url, encrypted with ``CARD_DATA_KEYS`` (purpose
    ``offline_key.private``); ``public_key`` is base64url of the raw public key. An issuing key
    signs certificates lying within [``not_before``, ``not_after``] and stays in the trust list
    until ``not_after``."""

    __tablename__ = "offline_keys"
    __table_args__ = (
        Index("uq_offline_keys_single_role", "role", unique=True,
              postgresql_where=text("role IN ('root', 'deny')"), sqlite_where=text("role IN ('root', 'deny')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(8))
    alg: Mapped[str] = mapped_column(String(8))
    public_key: Mapped[str] = mapped_column(String(64))
    private_enc: Mapped[str] = mapped_column(String(200))
    not_before: Mapped[datetime]
    not_after: Mapped[datetime | None]
    created_at: Mapped[datetime]


class OfflineCertificate(Base):
    """A device certificate issued to the card's current device (its bytes are rebuilt from these
    fields and the key: nothing secret is kept). ``serial`` is the 8 random bytes in hex; a
    certificate with ``revoked_at`` set and not yet expired is on the deny list."""

    __tablename__ = "offline_certificates"
    __table_args__ = (
        Index("ix_offline_certificates_device_expires", "device_id", "expires_at"),
        Index("ix_offline_certificates_card_expires", "card_id", "expires_at"),
        Index("ix_offline_certificates_revoked_expires", "revoked_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(16), unique=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    kid: Mapped[int] = mapped_column(ForeignKey("offline_keys.id"))
    alg: Mapped[str] = mapped_column(String(8))
    device_public_key: Mapped[str] = mapped_column(String(64))
    scenes: Mapped[int]
    fare_class: Mapped[int]
    not_before: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class OfflineList(Base):
    """A published version of the trust list (``kind`` ``trust``: the JSON document) or of the
    deny list (``deny``: the signed bytes). Versions only grow; old deny-list versions are kept
    for a while so that ``?since=V`` can answer a delta."""

    __tablename__ = "offline_lists"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    issued_at: Mapped[datetime]
    body: Mapped[bytes] = mapped_column(LargeBinary)


# --- Family members (issue 18, M-15; app/card/family.py; docs/family.md) ------------------------

FAMILY_PENDING, FAMILY_ACTIVE = "pending", "active"
_FAMILY_LIVE = "removed_at IS NULL"


class FamilyMember(Base):
    """A resident (``member_citizen_id``) on a guardian's list (``guardian_citizen_id``), with the
    ``relation`` in the guardian's words (``spouse``, ``parent``, ``grandparent``, ``child``,
    ``grandchild``) and its quota ``category`` (``spouse``, ``elder``, ``child``).

    Quotas are slots under unique partial indexes (one conditional INSERT claims a slot, so
    concurrent additions cannot pass a limit): per guardian and category ``guardian_slot`` (0-3
    elders, 0-2 children, 0 spouse: 8 members at most), per member ``member_slot`` (0-1: at most 2
    guardians). ``status`` is ``pending`` until an adult member confirms (``active`` at once for a
    child under 16 added by a parent). ``device_id``: the proxy device whose pseudonym names the
    codes the guardian shows for the member (revoked on removal). ``share_benefits`` and
    ``share_history``: the member's consent switches for what the guardian sees. ``proxy_charges``:
    a charge on a code the guardian shows for the member is allowed (issue 22)."""

    __tablename__ = "family_members"
    __table_args__ = (
        Index("uq_family_members_guardian_slot", "guardian_citizen_id", "category", "guardian_slot", unique=True,
              postgresql_where=text(_FAMILY_LIVE), sqlite_where=text(_FAMILY_LIVE)),
        Index("uq_family_members_member_slot", "member_citizen_id", "member_slot", unique=True,
              postgresql_where=text(_FAMILY_LIVE), sqlite_where=text(_FAMILY_LIVE)),
        Index("uq_family_members_pair", "guardian_citizen_id", "member_citizen_id", unique=True,
              postgresql_where=text(_FAMILY_LIVE), sqlite_where=text(_FAMILY_LIVE)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    guardian_citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    member_citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    relation: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(8))
    guardian_slot: Mapped[int]
    member_slot: Mapped[int]
    minor: Mapped[bool]
    status: Mapped[str] = mapped_column(String(8))
    added_by: Mapped[str] = mapped_column(String(64))
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    # How the member's agreement was proven (app/identity/real_person.py levels): real_person (a
    # passed face check of the member), counter (at a counter with the document), else the
    # assurance of the member's own binding (knowledge); None while pending or for a child
    confirmed_assurance: Mapped[str | None] = mapped_column(String(16))
    # A child's relation checked against the roster's household data: True (same household),
    # None (no household data for one of them: recorded as stated)
    household_checked: Mapped[bool | None]
    share_benefits: Mapped[bool] = mapped_column(default=False)
    share_history: Mapped[bool] = mapped_column(default=False)
    # Issue 22: the guardian's proxy codes may be charged (app.card.family.set_proxy_charges)
    proxy_charges: Mapped[bool] = mapped_column(default=False, server_default=false())
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), unique=True)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[str | None] = mapped_column(String(64))


_PRINTED_LIVE = "revoked_at IS NULL"


class PrintedCode(Base):
    """A printed code (DGP1, issue 18 item 3; qr.offline.printed): a signed static credential of
    the card for ``scenes`` (DGC2 scene bits) from ``not_before`` to ``expires_at`` (at most 180
    days). Its text is rebuilt from these fields and the issuing key ``kid`` (Ed25519 signatures
    are deterministic): nothing secret is kept. One live (unrevoked) printed code per card: a
    new one revokes the old. A revoked, unexpired one is on the deny list. ``issued_by``:
    ``relative:<family member id>`` or ``counter:<staff>``."""

    __tablename__ = "printed_codes"
    __table_args__ = (
        Index("uq_printed_codes_live_card", "card_id", unique=True,
              postgresql_where=text(_PRINTED_LIVE), sqlite_where=text(_PRINTED_LIVE)),
        Index("ix_printed_codes_revoked_expires", "revoked_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(16), unique=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    kid: Mapped[int] = mapped_column(ForeignKey("offline_keys.id"))
    scenes: Mapped[int]
    fare_class: Mapped[int]
    not_before: Mapped[datetime]
    expires_at: Mapped[datetime]
    issued_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
