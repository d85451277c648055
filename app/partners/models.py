"""Partners: organisations whose terminals verify codes through the signed API (M-11, M-20)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.platform.models import Base

PARTNER_KINDS = ("organisation", "government", "library")
# What a partner may do besides verifying in its scenes: a card-issuing bank reports the physical
# card's life and credits disbursements (M-10(8)); a department disburses benefits (M-22); the
# medical-insurance bureau reports personal-account balances (M-21); the city data hub sends
# residents' life events (M-18, docs/data-hub.md).
# catalogue: keeps its service items (M-16); a merchant charges the holder of its verifications (M-4,
# M-23.7; docs/payments.md).
PARTNER_ROLES = ("bank", "disburse", "medical_insurance", "catalogue", "data_hub", "merchant")


class Partner(Base):
    """``partner_id`` is public; ``secret_enc`` is the HMAC secret, encrypted at rest; after a
    rotation ``previous_secret_enc`` stays valid until ``previous_secret_until``.
    ``scenes`` is the comma-separated list of scenes the partner may verify in. ``kind`` is
    ``organisation``, ``government`` (a government department: M-23.1) or ``library``.
    ``roles`` is the comma-separated list of :data:`PARTNER_ROLES` it holds (may be empty)."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_enc: Mapped[str] = mapped_column(String(200))
    previous_secret_enc: Mapped[str | None] = mapped_column(String(200))
    previous_secret_until: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(String(16), default="organisation", server_default="organisation")
    scenes: Mapped[str] = mapped_column(String(500))
    roles: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    # Asymmetric request signing (issue 20): "ed25519" or "sm2" and the raw public key, base64.
    # When set, requests must be signed with the partner's private key (scenes/signing.py), not HMAC.
    request_key_alg: Mapped[str | None] = mapped_column(String(8))
    request_public_key: Mapped[str | None] = mapped_column(String(64))

    @property
    def scene_set(self) -> frozenset[str]:
        return frozenset(filter(None, self.scenes.split(",")))

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(filter(None, self.roles.split(",")))


class Terminal(Base):
    """A registered scanning terminal of a partner (barcode-payment rules require registration).
    ``removed_at``: removed (stolen, retired) and refused from then on; the row stays because
    verification records name the terminal (history, the lending signal). Registering it again clears it."""

    __tablename__ = "terminals"
    __table_args__ = (UniqueConstraint("partner_id", "terminal_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    terminal_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    location: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float | None]  # WGS 84 degrees; both or neither (the card-lending signal, M-27)
    longitude: Mapped[float | None]
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class Membership(Base):
    """A partner's member roster (campus, library): the citizen's ID number by blind index."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("partner_id", "id_number_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    id_number_index: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
