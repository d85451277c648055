"""The Authlib authorization server: authorization code + PKCE (S256 only) with the OpenID
Connect extension, refresh tokens with rotation, revocation (RFC 7009) and RP-initiated logout.

Authlib does the protocol; this module only says where codes, tokens and clients live:

- a code is redeemed by one ``UPDATE ... WHERE used_at IS NULL RETURNING`` (committed at once:
  any second use, even a concurrent one, finds it used); a replayed code revokes every token it
  gave (RFC 6749 section 4.1.2, RFC 9700 section 4.5);
- a refresh token is rotated the same way; a replayed one revokes the whole family;
- tokens are stored as SHA-256 digests only.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import current_app, g, request
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from app.oidc.claims import ACR_PREFIX, Subject, user_claims
from app.oidc.consents import revoke_tokens
from app.oidc.models import AuthorizationCode, Consent, Token
from app.oidc.parties import AUTH_METHODS, SCOPES, Client, find_client
from app.oidc.signing import signing_keys
from app.oidc.userinfo import userinfo_endpoint
from app.platform.crypto import token_digest
from app.platform.db import db
from app.runtime import Runtime, runtime

CODE_SECONDS = 120
ACCESS_SECONDS = 600
REFRESH_SECONDS = 30 * 86400
ID_TOKEN_SECONDS = 600


def issuer(config: dict[str, Any], host_url: str) -> str:
    """``CARD_OIDC_ISSUER``, else this server's own URL (``host_url``, without the trailing slash)."""
    return config.get("CARD_OIDC_ISSUER") or host_url.rstrip("/")


@dataclass
class RedeemedCode:
    """A code row as Authlib's ``AuthorizationCodeMixin`` sees it."""

    row: AuthorizationCode
    consent: Consent

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return self.row.auth_time

    def get_acr(self) -> str:
        return ACR_PREFIX + self.consent.acr

    def get_amr(self) -> None:
        return None


@dataclass
class IssuedToken:
    """A token row as Authlib's ``TokenMixin`` sees it."""

    row: Token

    def check_client(self, client: Client) -> bool:
        return self.row.rp_id == client.id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return ACCESS_SECONDS

    def is_expired(self) -> bool:
        return self.row.expires_at <= runtime().clock.now()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


def subject_of(consent: Consent, auth_time: int) -> Subject:
    return Subject(consent.citizen_id, consent.account_id, consent.id, consent.sub, consent.acr, auth_time)


class S256Challenge(CodeChallenge):
    """PKCE (RFC 7636) required on every authorization request, S256 only (RFC 9700 section 2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: RedeemedCode) -> str:
        return authorization_code.row.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: RedeemedCode) -> str:
        return "S256"


class CardOpenIDCode(OpenIDCode):
    """The id_token: signed with the relying party's registered algorithm (ES256, EdDSA or SM2-SM3)
    by our current key of that algorithm; pairwise ``sub``, ``acr``, the released claims. Authlib
    adds ``at_hash`` for ES256 and EdDSA; for SM2-SM3 it has no hash and leaves it out (optional in
    the code flow, OpenID Connect Core 1.0 section 3.1.3.6)."""

    def resolve_client_private_key(self, client: Client) -> Any:
        return signing_keys(current_app.config).for_alg(client.id_token_alg)

    def get_client_algorithm(self, client: Client) -> str:
        return client.id_token_alg

    def get_encode_header(self, client: Client) -> dict[str, str]:
        key = signing_keys(current_app.config).for_alg(client.id_token_alg)
        return {"alg": client.id_token_alg, "kid": key.kid or "", "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(runtime().clock.time())
        return {"iss": issuer(current_app.config, request.host_url), "aud": client.get_client_id(),
                "iat": now, "exp": now + ID_TOKEN_SECONDS}

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        client = find_client(request.payload.client_id)
        return client is not None and db.session.scalar(
            select(AuthorizationCode.id).where(AuthorizationCode.rp_id == client.id, AuthorizationCode.nonce == nonce)
        ) is not None

    def generate_user_info(self, user: Subject, scope: str) -> dict[str, Any]:
        return user_claims(runtime(), g.oidc_client, user, scope)  # the client: kept by CodeGrant.authenticate_user


class CodeGrant(grants.AuthorizationCodeGrant):
    """Authorization code grant; the code is created when the citizen confirms (app/oidc/login.py)."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_authorization_request(self) -> str:
        redirect_uri = super().validate_authorization_request()
        requested = set((self.request.payload.scope or "").split())
        if "openid" not in requested or not requested <= self.client.scopes:
            raise InvalidScopeError(f"this relying party may ask only for: {' '.join(sorted(self.client.scopes))}",
                                    redirect_uri=redirect_uri)
        return redirect_uri  # type: ignore[no-any-return]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        subject: Subject = request.user
        payload = request.payload.data
        db.session.add(AuthorizationCode(
            digest=token_digest(code), rp_id=request.client.id, consent_id=subject.consent_id,
            redirect_uri=payload["redirect_uri"], scope=payload["scope"], nonce=payload.get("nonce"),
            code_challenge=payload["code_challenge"], auth_time=subject.auth_time,
            expires_at=runtime().clock.now() + timedelta(seconds=CODE_SECONDS)))

    def query_authorization_code(self, code: str, client: Client) -> RedeemedCode | None:
        rt = runtime()
        digest = token_digest(code)
        row = db.session.scalars(
            update(AuthorizationCode).where(AuthorizationCode.digest == digest, AuthorizationCode.rp_id == client.id,
                                            AuthorizationCode.used_at.is_(None), AuthorizationCode.expires_at > rt.clock.now())
            .values(used_at=rt.clock.now()).returning(AuthorizationCode)).first()
        if row is None:
            _revoke_replayed_code(rt, digest)
            return None
        consent = db.session.get(Consent, row.consent_id)
        db.session.commit()  # used, whatever follows (a wrong code_verifier burns it too)
        if consent is None or consent.withdrawn_at is not None:
            return None
        return RedeemedCode(row, consent)

    def delete_authorization_code(self, authorization_code: RedeemedCode) -> None:
        pass  # already marked used by query_authorization_code

    def authenticate_user(self, authorization_code: RedeemedCode) -> Subject:
        _remember_client(self.request.client)
        return subject_of(authorization_code.consent, authorization_code.row.auth_time)


def _revoke_replayed_code(rt: Runtime, digest: str) -> None:
    used = db.session.scalar(select(AuthorizationCode.id).where(AuthorizationCode.digest == digest,
                                                               AuthorizationCode.used_at.is_not(None)))
    if used is not None:
        revoke_tokens(rt, Token.grant_id == used)
    db.session.commit()


class RotatingRefreshGrant(grants.RefreshTokenGrant):
    """Refresh with rotation: each refresh token works once and brings a new one."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        rt = runtime()
        digest, now = token_digest(refresh_token), rt.clock.now()
        row = db.session.scalars(
            update(Token).where(Token.refresh_digest == digest, Token.refreshed_at.is_(None), Token.revoked_at.is_(None),
                                Token.refresh_expires_at > now)
            .values(refreshed_at=now, revoked_at=now).returning(Token)).first()
        if row is None:
            family = db.session.scalar(select(Token.grant_id).where(Token.refresh_digest == digest, Token.refreshed_at.is_not(None)))
            if family is not None:
                revoke_tokens(rt, Token.grant_id == family)
        db.session.commit()
        return IssuedToken(row) if row is not None else None

    def authenticate_user(self, refresh_token: IssuedToken) -> Subject | None:
        consent = db.session.get(Consent, refresh_token.row.consent_id)
        if consent is None or consent.withdrawn_at is not None:
            return None
        return subject_of(consent, int(refresh_token.row.issued_at.timestamp()))

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        pass  # revoked by authenticate_refresh_token's UPDATE


def _remember_client(client: Client) -> None:
    g.oidc_client = client


class Revocation(RevocationEndpoint):
    """RFC 7009: an access or a refresh token; revoking either ends the pair."""

    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        digest = token_digest(token_string)
        row = db.session.scalars(select(Token).where((Token.access_digest == digest) | (Token.refresh_digest == digest))).first()
        return IssuedToken(row) if row else None

    def revoke_token(self, token: IssuedToken, request: OAuth2Request) -> None:
        revoke_tokens(runtime(), Token.id == token.row.id)
        db.session.commit()


class EndSession(EndSessionEndpoint):
    """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) with ``id_token_hint``: every
    token of that relying party for that ``sub`` is revoked."""

    def get_server_jwks(self) -> KeySet:
        return signing_keys(current_app.config).key_set()  # SM2 keys too: not a published JWKS

    def get_algorithms(self) -> list[str]:
        return signing_keys(current_app.config).algorithms

    def end_session(self, end_session_request: Any) -> None:
        claims, client = end_session_request.id_token_claims, end_session_request.client
        if not claims or client is None:
            return
        consents = select(Consent.id).where(Consent.rp_id == client.id, Consent.sub == claims.get("sub"))
        revoke_tokens(runtime(), Token.consent_id.in_(consents))
        db.session.commit()


class CardAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's Flask server with our clients and tokens; accepts a stored request (a confirmed login)."""

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)  # type: ignore[no-any-return]


def stored_request(uri: str, params: dict[str, str]) -> OAuth2Request:
    """An authorization request kept in the store, for Authlib to validate again and answer."""
    request = OAuth2Request("GET", uri)
    request.payload = BasicOAuth2Payload(params)
    return request


def save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    """Store a new access/refresh token pair (digests) for the code's or the old token's grant; commits."""
    now = runtime().clock.now()
    grant_id = request.authorization_code.row.id if request.authorization_code else request.refresh_token.row.grant_id
    subject: Subject = request.user
    db.session.add(Token(access_digest=token_digest(token["access_token"]), refresh_digest=token_digest(token["refresh_token"]),
                         rp_id=request.client.id, consent_id=subject.consent_id, grant_id=grant_id, scope=token["scope"],
                         issued_at=now, expires_at=now + timedelta(seconds=ACCESS_SECONDS),
                         refresh_expires_at=now + timedelta(seconds=REFRESH_SECONDS)))
    db.session.commit()


def build_server(app: Any) -> CardAuthorizationServer:
    """The server with its grants and endpoints, configured from ``app``."""
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", lambda *args, **kwargs: secrets.token_urlsafe(32))
    app.config.setdefault("OAUTH2_ACCESS_TOKEN_GENERATOR", lambda *args, **kwargs: secrets.token_urlsafe(32))
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"authorization_code": ACCESS_SECONDS, "refresh_token": ACCESS_SECONDS})
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(SCOPES))
    server = CardAuthorizationServer(app, query_client=find_client, save_token=save_token)
    server.register_grant(CodeGrant, [S256Challenge(required=True), CardOpenIDCode(require_nonce=True)])
    server.register_grant(RotatingRefreshGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(EndSession)
    server.register_endpoint(userinfo_endpoint())
    return server
