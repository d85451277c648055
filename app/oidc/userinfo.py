"""The UserInfo endpoint (OpenID Connect Core 1.0 section 5.3), on Authlib's ``UserInfoEndpoint``.

A relying party presents the access token (``Authorization: Bearer``, RFC 6750) and receives, as
JSON, the same claims its id_token carried and under the same disclosure rules
(app/oidc/claims.py): the pairwise ``sub``, and only the claims both the citizen's consent
recorded and the relying party's kind and registered scopes still allow (a relying party whose
scopes or kind were narrowed since gets less, never more). Refused with 401 ``invalid_token``
(RFC 6750 section 3.1): an unknown, expired or revoked token, a withdrawn consent, a disabled
relying party; 403 ``insufficient_scope`` without ``openid``.

The release itself is recorded once, at consent (app/oidc/login.py), in the audit trail and the
citizen's access log; a userinfo call reads the same values again for the same relying party.
"""
from __future__ import annotations

from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from flask import current_app, g, request
from sqlalchemy import select

from app.oidc.claims import Subject, user_claims
from app.oidc.models import Consent, RelyingParty, Token
from app.oidc.parties import Client
from app.platform.crypto import token_digest
from app.platform.db import db
from app.runtime import runtime


class AccessToken:
    """An access token row as Authlib's ``TokenMixin`` and the userinfo endpoint see it."""

    def __init__(self, row: Token, client: Client, subject: Subject) -> None:
        self.row, self.client, self.subject = row, client, subject
        self.scope = row.scope

    def get_scope(self) -> str:
        return self.row.scope

    def get_client(self) -> Client:
        return self.client

    def get_user(self) -> Subject:
        return self.subject

    def is_expired(self) -> bool:
        return self.row.expires_at <= runtime().clock.now()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


class AccessTokenValidator(BearerTokenValidator):
    """Finds the token by its digest; None (401 ``invalid_token``) for a disabled relying party or a withdrawn consent."""

    def authenticate_token(self, token_string: str) -> AccessToken | None:
        if not token_string or len(token_string) > 128:
            return None
        row = db.session.scalars(select(Token).where(Token.access_digest == token_digest(token_string))).first()
        if row is None:
            return None
        party, consent = db.session.get(RelyingParty, row.rp_id), db.session.get(Consent, row.consent_id)
        if party is None or party.disabled_at is not None or consent is None or consent.withdrawn_at is not None:
            return None
        g.oidc_consent_claims = frozenset(consent.claims.split(","))
        subject = Subject(consent.citizen_id, consent.account_id, consent.id, consent.sub, consent.acr,
                          int(row.issued_at.timestamp()))
        return AccessToken(row, Client(party), subject)


class CardUserInfo(UserInfoEndpoint):
    """Authlib's endpoint with our claims: :func:`app.oidc.claims.user_claims`, limited to the consent's."""

    def generate_user_info(self, user: Subject, scope: str) -> UserInfo:
        token: AccessToken = g.authlib_server_oauth2_token
        claims = user_claims(runtime(), token.client, user, scope)
        allowed = g.oidc_consent_claims
        return UserInfo({name: value for name, value in claims.items() if name == "sub" or name in allowed})

    def get_issuer(self) -> str:
        from app.oidc.server import issuer

        return issuer(current_app.config, request.host_url)


def userinfo_endpoint() -> CardUserInfo:
    """The endpoint with its resource protector (bearer access tokens), for ``register_endpoint``."""
    from authlib.integrations.flask_oauth2 import ResourceProtector

    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator())
    return CardUserInfo(resource_protector=protector)


