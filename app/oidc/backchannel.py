"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a citizen withdraws a
consent, the relying party registered with a ``--logout-uri`` is told at once, server to server,
with a signed ``logout_token`` (its registered id_token algorithm, ES256 or EdDSA; ``typ``
``logout+jwt``) naming the pairwise ``sub``; it must end its own session for that ``sub``. One
attempt, 5 s; a failure is logged (no personal data) and changes nothing on our side: the tokens
are already revoked."""
from __future__ import annotations

import logging
import secrets
from typing import Any

import requests
from joserfc import jwt

from app.oidc.models import Consent, RelyingParty
from app.oidc.signing import ALGORITHM, signing_keys
from app.platform.db import db
from app.runtime import Runtime

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_SECONDS = 120
TIMEOUT_SECONDS = 5
log = logging.getLogger(__name__)


def logout_token(rt: Runtime, issuer: str, client_id: str, sub: str, alg: str = ALGORITHM) -> str:
    """A signed logout token for ``sub`` at ``client_id`` (section 2.4 of the specification), by our ``alg`` key."""
    key = signing_keys(rt.config).for_alg(alg)
    now = int(rt.clock.time())
    claims: dict[str, Any] = {"iss": issuer, "aud": client_id, "iat": now, "exp": now + TOKEN_SECONDS,
                              "jti": secrets.token_urlsafe(16), "sub": sub, "events": {EVENT: {}}}
    header = {"alg": alg, "kid": key.kid or "", "typ": "logout+jwt"}
    return jwt.encode(header, claims, key, algorithms=[alg])


def notify(rt: Runtime, consent_id: int, issuer: str) -> int | None:
    """POST the logout token for ``consent_id`` to its relying party's logout URI; the HTTP status,
    or None when the relying party has no logout URI or could not be reached."""
    consent = db.session.get(Consent, consent_id)
    party = db.session.get(RelyingParty, consent.rp_id) if consent else None
    if consent is None or party is None or not party.logout_uri:
        return None
    token = logout_token(rt, issuer, party.client_id, consent.sub, party.id_token_alg)
    try:
        answer = requests.post(party.logout_uri, data={"logout_token": token}, timeout=TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        log.warning("back-channel logout to %s failed: %s", party.client_id, type(exc).__name__)
        return None
    if answer.status_code != 200:
        log.warning("back-channel logout to %s answered %s", party.client_id, answer.status_code)
    return answer.status_code
