"""Relying parties (M-20): websites the operator registers so citizens can log in with the card.

Each has a kind (:data:`app.oidc.models.RP_KINDS`), the scopes it may ask for and its redirect
URIs (matched exactly, RFC 6749 section 3.1.2.3; also its allowed post-logout redirect URIs).
``name`` and ``id_number`` are scopes of government relying parties only: a public service or a
commercial website is refused them at registration and at every authorization request.
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update

from app.oidc.models import RP_KINDS, RelyingParty
from app.oidc.signing import ALGORITHM, ALGORITHMS, signing_keys
from app.oidc.sm2 import SM2_SM3
from app.oidc.sm2 import available as sm2_available
from app.platform.crypto import token_digest
from app.platform.db import db
from app.runtime import Runtime

OPENID = "openid"
GOVERNMENT_ONLY = ("name", "id_number")
NARROW = ("insured", "age_band", "concession")
SCOPES = (OPENID, *GOVERNMENT_ONLY, *NARROW)
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token")


@dataclass(frozen=True)
class Credentials:
    """What ``citizencard rp create`` prints once: the secret is stored only as its digest."""

    client_id: str
    client_secret: str


def allowed_scopes(kind: str, scopes: list[str]) -> list[str]:
    """``scopes`` checked for a relying party of ``kind``; ValueError names what is refused."""
    if kind not in RP_KINDS:
        raise ValueError(f"unknown kind {kind!r} (one of {', '.join(RP_KINDS)})")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(unknown)} (known: {', '.join(SCOPES)})")
    if kind != "government" and set(scopes) & set(GOVERNMENT_ONLY):
        raise ValueError(f"only a government relying party may ask for {' or '.join(GOVERNMENT_ONLY)} (M-19)")
    return [OPENID, *[scope for scope in SCOPES if scope in scopes and scope != OPENID]]


def checked_redirect_uri(uri: str) -> str:
    """An absolute https URI without a fragment (http only for loopback, RFC 8252 section 7.3); ValueError."""
    parts = urlsplit(uri)
    loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not (parts.scheme == "https" or loopback) or not parts.hostname or parts.fragment:
        raise ValueError(f"redirect URI {uri!r}: must be https://host/path without a fragment")
    return uri


def checked_id_token_alg(config: dict[str, Any], alg: str) -> str:
    """``alg`` if this provider can sign id_tokens with it; ValueError says why not: unknown, SM2-SM3
    without the gm extra (gmssl-pyx), or no key of that algorithm in ``CARD_OIDC_SIGNING_KEYS``."""
    if alg not in ALGORITHMS:
        raise ValueError(f"id_token algorithm {alg!r}: one of {', '.join(ALGORITHMS)}")
    if alg == SM2_SM3 and not sm2_available():
        raise ValueError(f"id_token algorithm {SM2_SM3} (SM2 with SM3, non-standard) needs the gm extra, which is not "
                         "installed: pip install 'citizencard[gm]' (gmssl-pyx)")
    if alg not in signing_keys(config).algorithms:
        raise ValueError(f"id_token algorithm {alg}: CARD_OIDC_SIGNING_KEYS has no key for it "
                         f"(add one: citizencard rp keygen --alg {alg})")
    return alg


def create_rp(rt: Runtime, name: str, kind: str, scopes: list[str], redirect_uris: list[str],
              logout_uri: str | None = None, id_token_alg: str = ALGORITHM) -> Credentials:
    """Register a relying party; returns its client id and secret (shown once). ``id_token_alg``:
    ES256 (default), EdDSA or SM2-SM3 (:func:`checked_id_token_alg`). ValueError on a refused kind,
    scope, URI or algorithm."""
    scopes = allowed_scopes(kind, scopes)
    checked_id_token_alg(rt.config, id_token_alg)
    if not redirect_uris:
        raise ValueError("at least one redirect URI is needed")
    uris = [checked_redirect_uri(uri) for uri in redirect_uris]
    if logout_uri:
        checked_redirect_uri(logout_uri)
    credentials = Credentials("rp_" + secrets.token_hex(12), secrets.token_urlsafe(32))
    db.session.add(RelyingParty(client_id=credentials.client_id, secret_digest=token_digest(credentials.client_secret),
                                name=name.strip(), kind=kind, scopes=" ".join(scopes), redirect_uris="\n".join(uris),
                                logout_uri=logout_uri or None, id_token_alg=id_token_alg, created_at=rt.clock.now()))
    db.session.commit()
    return credentials


def set_disabled(rt: Runtime, client_id: str, disabled: bool) -> bool:
    """Disable (or enable again) a relying party, in one conditional UPDATE; False when it is
    unknown or already in that state. A disabled relying party is unknown to every endpoint: its
    authorization requests, codes, refresh tokens and userinfo calls are refused."""
    changed = db.session.execute(
        update(RelyingParty).where(RelyingParty.client_id == client_id,
                                   RelyingParty.disabled_at.is_(None) if disabled else RelyingParty.disabled_at.is_not(None))
        .values(disabled_at=rt.clock.now() if disabled else None).returning(RelyingParty.id)).first()
    db.session.commit()
    return changed is not None


def list_rps() -> list[RelyingParty]:
    """Every relying party, oldest first."""
    return list(db.session.scalars(select(RelyingParty).order_by(RelyingParty.id)))


class Client:
    """A relying party as Authlib's ``ClientMixin`` (authlib.oauth2.rfc6749.models) sees it."""

    def __init__(self, row: RelyingParty) -> None:
        self.row = row
        self.id, self.kind, self.name = row.id, row.kind, row.name
        self.scopes = frozenset(row.scopes.split())
        self.redirect_uris = tuple(row.redirect_uris.split("\n"))
        self.id_token_alg = row.id_token_alg

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {"post_logout_redirect_uris": list(self.redirect_uris), "id_token_signed_response_alg": self.id_token_alg}

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # redirect_uri is required (OpenID Connect Core 1.0 section 3.1.2.1)

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(item for item in scope.split() if item in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(token_digest(client_secret), self.row.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


def find_client(client_id: str | None) -> Client | None:
    """The enabled relying party with ``client_id``, or None."""
    if not client_id or len(client_id) > 40:
        return None
    row = db.session.scalars(select(RelyingParty).where(RelyingParty.client_id == client_id,
                                                        RelyingParty.disabled_at.is_(None))).first()
    return Client(row) if row else None
