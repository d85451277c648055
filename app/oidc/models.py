"""Relying parties, authorization codes, tokens and consents of the OpenID Connect provider."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.platform.models import Base

RP_KINDS = ("government", "public_service", "commercial")


class RelyingParty(Base):
    """A website registered by the operator (``citizencard rp create``). ``client_id`` is public;
    ``secret_digest`` the SHA-256 of its client secret (``client_secret_basic``). ``scopes``:
    space-separated scopes it may ask for; ``redirect_uris``: newline-separated, matched exactly.
    ``logout_uri``: its back-channel logout endpoint (OpenID Back-Channel Logout 1.0), optional.
    ``id_token_alg``: its registered ``id_token_signed_response_alg`` (OpenID Connect Dynamic
    Client Registration 1.0 section 2), ``ES256`` or ``EdDSA``."""

    __tablename__ = "oidc_relying_parties"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    secret_digest: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(300))
    redirect_uris: Mapped[str] = mapped_column(Text)
    logout_uri: Mapped[str | None] = mapped_column(String(500))
    id_token_alg: Mapped[str] = mapped_column(String(8), default="ES256", server_default="ES256")
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class Consent(Base):
    """One release of claims to a relying party, confirmed by the citizen: ``claims`` are the
    released claim names (never values). ``withdrawn_at`` set by the citizen revokes its tokens."""

    __tablename__ = "oidc_consents"
    __table_args__ = (Index("ix_oidc_consents_citizen", "citizen_id", "created_at"), Index("ix_oidc_consents_sub", "sub"))

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("mp_accounts.id"))
    rp_id: Mapped[int] = mapped_column(ForeignKey("oidc_relying_parties.id"))
    sub: Mapped[str] = mapped_column(String(64))  # the pairwise subject this RP knows
    scopes: Mapped[str] = mapped_column(String(300))
    claims: Mapped[str] = mapped_column(String(300))
    acr: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]


class AuthorizationCode(Base):
    """A code from a confirmed login request, stored as its digest; ``used_at`` set by the one
    statement that redeems it (a replay finds it set and revokes what the code gave)."""

    __tablename__ = "oidc_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    rp_id: Mapped[int] = mapped_column(ForeignKey("oidc_relying_parties.id"))
    consent_id: Mapped[int] = mapped_column(ForeignKey("oidc_consents.id"))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(300))
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128))
    auth_time: Mapped[int]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class Token(Base):
    """An access token and its refresh token (digests). ``grant_id`` is the code it descends from
    (refresh rotation keeps it), so a replayed code or refresh token revokes the whole family."""

    __tablename__ = "oidc_tokens"
    __table_args__ = (Index("ix_oidc_tokens_consent", "consent_id"), Index("ix_oidc_tokens_grant", "grant_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    access_digest: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    rp_id: Mapped[int] = mapped_column(ForeignKey("oidc_relying_parties.id"))
    consent_id: Mapped[int] = mapped_column(ForeignKey("oidc_consents.id"))
    grant_id: Mapped[int] = mapped_column(ForeignKey("oidc_codes.id"))
    scope: Mapped[str] = mapped_column(String(300))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    refresh_expires_at: Mapped[datetime]
    refreshed_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
