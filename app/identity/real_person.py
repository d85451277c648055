"""Real-person checks (M-17; issue 17 item 2): the platform the account logged in with confirms,
by a face check against the public-security photo, that the person at the phone is the holder
of a name and a resident ID number. The result token is always looked up server-side with the
platform; nothing the phone says is trusted.

Providers (``CARD_REAL_PERSON_PROVIDERS``): a WeChat account uses WeChat face verification
(app/integrations/wechat_face.py), an Alipay account Alipay certification
(app/integrations/alipay_certify.py). :func:`start` tells the mini-program what to open;
:func:`confirm` checks the token it brings back, once. Assurance levels, lowest first:
``knowledge`` (name, ID number and phone known), ``real_person``, ``counter`` (seen at a
counter with the document).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from app.identity.models import Citizen, MpAccount
from app.identity.people import ID_NUMBER, citizen_name, normalize_name
from app.platform.errors import AppError
from app.runtime import Runtime

KNOWLEDGE, REAL_PERSON, COUNTER = "knowledge", "real_person", "counter"
LEVELS = (KNOWLEDGE, REAL_PERSON, COUNTER)
MAX_PER_HOUR, WINDOW_SECONDS = 10, 3600
INTENT_TTL_SECONDS, FRESH_SECONDS = 1800, 600


def meets(level: str, minimum: str) -> bool:
    """Whether assurance ``level`` is at least ``minimum``."""
    return LEVELS.index(level) >= LEVELS.index(minimum)


@dataclass(frozen=True)
class StartedCheck:
    """``provider``: ``wechat_face`` (call wx.startFacialRecognitionVerify with the name and ID
    number; bring back its ``verifyResult``) or ``alipay_certify`` (open ``certify_url`` with
    my.startAPVerify; bring back ``certify_id``)."""

    provider: str
    certify_id: str | None = None
    certify_url: str | None = None


def available(rt: Runtime, account: MpAccount) -> bool:
    """Whether ``account``'s platform has a real-person provider configured
    (``CARD_REAL_PERSON_PROVIDERS``): WeChat face verification, or Alipay certification."""
    return (rt.wechat_face if account.platform == "wechat" else rt.alipay_certify) is not None


def start(rt: Runtime, account: MpAccount, name: str, id_number: str) -> StartedCheck:
    """Begin a real-person check of ``name`` / ``id_number`` (validated) for ``account``.
    429 ``too_many_attempts`` (10 an hour per account, counted first); 503
    ``real_person_not_configured`` / ``platform_unavailable``."""
    _count(rt, f"rp-start:{account.id}")
    if account.platform == "wechat":
        _provider(rt.wechat_face)
        return StartedCheck("wechat_face")
    certifier = _provider(rt.alipay_certify)
    certify_id = certifier.initialize(secrets.token_hex(16), name, id_number)
    rt.store.put(f"rp-alipay:{certify_id}", _intent(rt, account.id, normalize_name(name), id_number), INTENT_TTL_SECONDS)
    return StartedCheck("alipay_certify", certify_id, certifier.certify_url(certify_id))


def confirm(rt: Runtime, account: MpAccount, name: str, id_number: str, token: str) -> None:
    """Return when ``token`` (WeChat ``verifyResult``, Alipay ``certify_id``) proves, now and for the
    first time, that the person using ``account`` is ``name`` / ``id_number``.

    422 ``real_person_invalid`` (unknown, expired, already used, or for another account, name or
    ID number); 422 ``real_person_failed`` (the face check did not pass); 429
    ``too_many_attempts``; 503 as :func:`start`."""
    _count(rt, f"rp-confirm:{account.id}")
    if account.platform == "wechat":
        _confirm_wechat(rt, account, name, id_number, token)
    else:
        _confirm_alipay(rt, account, name, id_number, token)
    # claimed once it has passed (a platform outage does not burn it); two at once: one wins
    if not rt.store.claim(f"rp-used:{hashlib.sha256(token.encode()).hexdigest()}", 86400):
        raise _invalid("this real-person check was already used")


def confirm_holder(rt: Runtime, account: MpAccount, citizen: Citizen, token: str) -> None:
    """:func:`confirm` for the holder of a bound card (their name and ID number from the roster)."""
    confirm(rt, account, citizen_name(rt, citizen), rt.keyring.decrypt(citizen.id_number_enc, ID_NUMBER), token)


def _confirm_wechat(rt: Runtime, account: MpAccount, name: str, id_number: str, token: str) -> None:
    result = _provider(rt.wechat_face).result(token)
    if result.identify_ret != 0:
        raise AppError("real_person_failed", 422, "the face check did not pass",
                       {"platform": "wechat", "identify_ret": result.identify_ret})
    same = (hmac.compare_digest(result.openid, account.openid)
            and hmac.compare_digest(result.id_card_number_md5, _md5(id_number.upper()))
            and hmac.compare_digest(result.name_utf8_md5, _md5(name)))
    if not same or abs(rt.clock.time() - result.identify_time) > FRESH_SECONDS:
        raise _invalid("the real-person check was for another person, account or time")


def _confirm_alipay(rt: Runtime, account: MpAccount, name: str, id_number: str, token: str) -> None:
    kept = rt.store.get(f"rp-alipay:{token}")
    if kept is None or not hmac.compare_digest(kept, _intent(rt, account.id, normalize_name(name), id_number)):
        raise _invalid("the real-person check was for another person or account, or has expired")
    if not _provider(rt.alipay_certify).passed(token):
        raise AppError("real_person_failed", 422, "the face check did not pass", {"platform": "alipay"})


def _provider(provider):  # type: ignore[no-untyped-def]
    if provider is None:
        raise AppError("real_person_not_configured", 503, "real-person checks are not available for this app")
    return provider


def _count(rt: Runtime, key: str) -> None:
    if rt.store.incr(key, WINDOW_SECONDS) > MAX_PER_HOUR:
        raise AppError("too_many_attempts", 429, "too many real-person checks; try again later",
                       headers={"Retry-After": str(WINDOW_SECONDS)})


def _intent(rt: Runtime, account_id: int, name: str, id_number: str) -> str:
    """Keyed, so the store never holds the name or ID number."""
    message = f"real-person\n{account_id}\n{name}\n{id_number}".encode()
    return hmac.new(rt.config["SECRET_KEY"].encode(), message, "sha256").hexdigest()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _invalid(message: str) -> AppError:
    return AppError("real_person_invalid", 422, message)
