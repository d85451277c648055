"""Mini-program login and our bearer tokens.

A platform login (WeChat code2Session, Alipay alipay.system.oauth.token) yields a platform
identity; we upsert the account and issue our own opaque token (32 random bytes, URL-safe
base64), stored only as its SHA-256 digest, expiring after ``CARD_TOKEN_TTL`` seconds and
revocable. The platform's session_key never leaves the integration layer.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from app.identity.models import AuthToken, MpAccount
from app.integrations.identity import PlatformIdentity
from app.platform.crypto import token_digest
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime


@dataclass(frozen=True)
class LoginResult:
    """``token``: our bearer token; ``expires_in``: seconds; ``bound``: identity bound (M-17);
    ``binding_ended``: when not bound, why the last binding ended (``unbound``, or ``evicted``:
    the card's holder proved with a real-person check that it is theirs), else None."""

    token: str
    expires_in: int
    bound: bool
    binding_ended: str | None = None


def login_wechat(rt: Runtime, js_code: str) -> LoginResult:
    """Log in with a wx.login() code (WeChat code2Session); platform errors as in app.integrations.wechat."""
    return _login(rt, rt.wechat.code_to_session(js_code))


def login_alipay(rt: Runtime, auth_code: str) -> LoginResult:
    """Log in with my.getAuthCode() (alipay.system.oauth.token); 503 when Alipay is not configured."""
    if rt.alipay is None:
        raise AppError("platform_not_configured", 503, "Alipay login is not configured on this server")
    return _login(rt, rt.alipay.oauth_token(auth_code))


def _login(rt: Runtime, identity: PlatformIdentity) -> LoginResult:
    account_id, citizen_id, ended = _upsert_account(rt, identity)
    token = secrets.token_urlsafe(32)
    now = rt.clock.now()
    ttl = rt.config["CARD_TOKEN_TTL"]
    db.session.add(AuthToken(digest=token_digest(token), account_id=account_id, created_at=now,
                             expires_at=now + timedelta(seconds=ttl)))
    db.session.commit()
    return LoginResult(token, ttl, citizen_id is not None, ended if citizen_id is None else None)


def _upsert_account(rt: Runtime, identity: PlatformIdentity) -> tuple[int, int | None, str | None]:
    """Insert or touch the account in one statement (safe when two logins race)."""
    now = rt.clock.now()
    stmt = upsert_insert(db.engine.dialect.name, MpAccount).values(
        platform=identity.platform, openid=identity.openid, unionid=identity.unionid,
        created_at=now, last_login_at=now,
    )
    unionid = identity.unionid if identity.unionid is not None else MpAccount.unionid
    stmt = stmt.on_conflict_do_update(
        index_elements=[MpAccount.platform, MpAccount.openid],
        set_={"last_login_at": now, "unionid": unionid},
    ).returning(MpAccount.id, MpAccount.citizen_id, MpAccount.binding_ended_reason)
    row = db.session.execute(stmt).one()
    return row.id, row.citizen_id, row.binding_ended_reason


def account_for_token(rt: Runtime, token: str) -> MpAccount:
    """The account behind a live token; 401 ``token_invalid`` for unknown, expired or revoked."""
    found = db.session.execute(
        select(MpAccount, AuthToken.expires_at)
        .join(AuthToken, AuthToken.account_id == MpAccount.id)
        .where(AuthToken.digest == token_digest(token), AuthToken.revoked_at.is_(None))
    ).first()
    require_live_token(rt, found.expires_at if found else None)
    return found.MpAccount


def require_live_token(rt: Runtime, expires_at: datetime | None) -> None:
    """401 ``token_invalid`` (RFC 6750 challenge) unless an unrevoked token was found
    (``expires_at`` not None) and has not expired."""
    if expires_at is None or expires_at <= rt.clock.now():
        raise AppError("token_invalid", 401, "log in again: the token is unknown, expired or revoked",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def revoke_token(rt: Runtime, token: str) -> bool:
    """Revoke a token (logout); True if it was live."""
    result = db.session.execute(
        update(AuthToken).where(AuthToken.digest == token_digest(token), AuthToken.revoked_at.is_(None))
        .values(revoked_at=rt.clock.now())
    )
    db.session.commit()
    return bool(result.rowcount)
