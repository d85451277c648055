"""A website's log-in request, confirmed by the citizen in the mini-program (M-20).

1. The relying party sends the browser to ``/oidc/authorize``; Authlib validates the request
   (client, exact redirect URI, scopes, PKCE S256, nonce) and :func:`open_request` keeps it in the
   store under a random id for ``CARD_OIDC_LOGIN_SECONDS`` (120): the page shows it as a QR code.
2. The mini-program scans it: :func:`describe` shows the relying party's registered name, kind,
   redirect domain and the claims asked for (anti-phishing: the citizen sees who will receive them).
3. :func:`confirm` proves the holder (the e-card password, or a real-person check for a
   government relying party), claims the request once (Redis ``SET NX``: a second confirmation,
   even a concurrent one, is refused), records the consent and the release in the audit trail,
   and lets Authlib issue the code.
4. The browser, polling :func:`result` with the page's own poll secret (never in the QR), is
   sent on to the relying party once.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error

from app.card.devices import bound_card
from app.card.passwords import require_password
from app.identity.models import Citizen, MpAccount
from app.identity.real_person import confirm_holder
from app.oidc.claims import Subject, pairwise_sub, released_claims
from app.oidc.models import Consent
from app.oidc.parties import Client, find_client
from app.oidc.server import stored_request
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime
from app.service_desk.audit import record_release

DEFAULT_SECONDS = 120
LIMIT_WINDOW_SECONDS = 600


@dataclass(frozen=True)
class OpenedRequest:
    """``request_id``: what the QR carries; ``poll_secret``: only the browser page has it."""

    request_id: str
    poll_secret: str
    expires_in: int


@dataclass(frozen=True)
class RequestView:
    """What the citizen is shown before confirming."""

    relying_party: str
    kind: str
    redirect_domain: str
    claims: list[str]
    confirmation: str  # "password" or "real_person"


def login_seconds(rt: Runtime) -> int:
    return int(rt.config.get("CARD_OIDC_LOGIN_SECONDS") or DEFAULT_SECONDS)


def open_request(rt: Runtime, params: dict[str, str], uri: str, address: str) -> OpenedRequest:
    """Keep a validated authorization request (its parameters and URL) for the citizen to confirm.
    429 ``too_many_login_requests``: ``CARD_OIDC_LOGINS_PER_ADDRESS`` (60) in 10 minutes from one
    client address, counted first (each request holds a little of Redis for its life)."""
    if rt.store.incr(f"oidc-open:{address}", LIMIT_WINDOW_SECONDS) > int(rt.config.get("CARD_OIDC_LOGINS_PER_ADDRESS") or 60):
        raise AppError("too_many_login_requests", 429, "too many log-in requests from this address; try again later",
                       headers={"Retry-After": str(LIMIT_WINDOW_SECONDS)})
    opened = OpenedRequest(secrets.token_urlsafe(24), secrets.token_urlsafe(24), login_seconds(rt))
    kept = {"params": params, "uri": uri, "poll": _digest(opened.poll_secret)}
    rt.store.put(_key(opened.request_id), json.dumps(kept), opened.expires_in)
    return opened


def describe(rt: Runtime, account: MpAccount, request_id: str) -> RequestView:
    """The request as the citizen sees it. 403 ``not_bound``; 404 ``login_request_expired``
    (unknown, expired or already confirmed)."""
    bound_card(account)
    kept, client = _load(rt, request_id)
    return RequestView(client.name, client.kind, urlsplit(kept["params"]["redirect_uri"]).hostname or "",
                       released_claims(client, kept["params"]["scope"]), _confirmation(client))


def confirm(rt: Runtime, server: Any, account: MpAccount, request_id: str, password: str | None,
            real_person_token: str | None) -> None:
    """Confirm the request as the holder of ``account``'s card; see the module docstring.

    403 ``not_bound``, ``password_required`` / 422 ``password_wrong`` / 429 ``password_locked``
    (app/card/passwords.py), 403 ``password_not_set``, 403 ``real_person_required`` and the
    real-person errors (government relying parties), 404 ``login_request_expired``, 409
    ``login_request_used``."""
    card = bound_card(account)
    kept, client = _load(rt, request_id)
    citizen = db.session.get(Citizen, card.citizen_id)
    _prove_holder(rt, client, account, card, citizen, password, real_person_token)
    if not rt.store.claim(f"oidc-login-used:{request_id}", login_seconds(rt)):
        raise AppError("login_request_used", 409, "this log-in request was already confirmed")
    consent = _record_consent(rt, client, account, citizen, kept["params"]["scope"])
    request = stored_request(kept["uri"], kept["params"])
    try:
        grant = server.get_consent_grant(request=request, end_user=None)
    except OAuth2Error:  # the relying party changed since (a redirect URI or scope withdrawn)
        db.session.rollback()
        raise _expired() from None
    subject = Subject(citizen.id, account.id, consent.id, consent.sub, consent.acr, int(rt.clock.time()))
    response = server.create_authorization_response(request=request, grant_user=subject, grant=grant)
    db.session.commit()
    rt.store.put(f"oidc-login-result:{request_id}", response.headers["Location"], login_seconds(rt))


def result(rt: Runtime, request_id: str, poll_secret: str) -> str | None:
    """Where to send the browser once confirmed (the relying party's redirect URI with the code),
    handed out once; None while pending. 404 ``login_request_expired`` (expired, unknown, wrong
    poll secret, or already handed out)."""
    raw = rt.store.get(_key(request_id))
    if raw is None or not hmac.compare_digest(json.loads(raw)["poll"], _digest(poll_secret)):
        raise _expired()
    location = rt.store.get(f"oidc-login-result:{request_id}")
    if location is None:
        return None
    if not rt.store.claim(f"oidc-login-taken:{request_id}", login_seconds(rt)):
        raise _expired()
    return location


def _prove_holder(rt: Runtime, client: Client, account: MpAccount, card: Any, citizen: Citizen | None,
                  password: str | None, real_person_token: str | None) -> None:
    if _confirmation(client) == "real_person":
        if not real_person_token:
            raise AppError("real_person_required", 403, "a government service: confirm with a real-person check "
                           "(POST /real-person/checks, then send real_person_token)")
        assert citizen is not None
        confirm_holder(rt, account, citizen, real_person_token)
        return
    if card.password_hash is None:
        raise AppError("password_not_set", 403, "set your e-card password first (PUT /card/password)")
    require_password(rt, card, password)


def _record_consent(rt: Runtime, client: Client, account: MpAccount, citizen: Any, scope: str) -> Consent:
    claims = ["sub", "acr", *released_claims(client, scope)]
    consent = Consent(citizen_id=citizen.id, account_id=account.id, rp_id=client.id,
                      sub=pairwise_sub(rt, client, citizen.id), scopes=scope, claims=",".join(claims),
                      acr=account.assurance, created_at=rt.clock.now())
    db.session.add(consent)
    db.session.flush()
    record_release(rt, client.get_client_id(), client.kind, client.name, citizen.id, consent.id, claims)
    return consent


def _confirmation(client: Client) -> str:
    return "real_person" if client.kind == "government" else "password"


def _load(rt: Runtime, request_id: str) -> tuple[dict[str, Any], Client]:
    raw = rt.store.get(_key(request_id)) if 8 <= len(request_id) <= 64 else None
    if raw is None or rt.store.get(f"oidc-login-used:{request_id}") is not None:
        raise _expired()
    kept = json.loads(raw)
    client = find_client(kept["params"].get("client_id"))
    if client is None:
        raise _expired()
    return kept, client


def _key(request_id: str) -> str:
    return f"oidc-login:{request_id}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _expired() -> AppError:
    return AppError("login_request_expired", 404, "this log-in request has expired or was used: start again on the website")
