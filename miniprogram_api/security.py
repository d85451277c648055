"""Bearer tokens on mini-program requests."""
from __future__ import annotations

from flask import request

from app.identity.auth import account_for_token
from app.identity.models import MpAccount
from app.platform.errors import AppError
from app.runtime import runtime

BEARER_DOC = {"security": [{"bearerAuth": []}]}


def bearer_token() -> str:
    """The token of ``Authorization: Bearer <token>``; 401 ``token_missing``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AppError("token_missing", 401, "send Authorization: Bearer <token> from the login endpoint",
                       headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def current_account() -> MpAccount:
    """The logged-in account; 401 ``token_missing`` / ``token_invalid``."""
    return account_for_token(runtime(), bearer_token())
