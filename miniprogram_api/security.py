"""Bearer tokens on mini-program requests."""
from __future__ import annotations

from flask import request

from app.errors import AppError
from app.models import MpAccount
from app.runtime import runtime
from app.services.auth import account_for_token

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
