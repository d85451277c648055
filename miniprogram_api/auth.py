"""POST /auth/wechat, POST /auth/alipay, DELETE /auth/token."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.card.seeds import end_session_copies
from app.identity.auth import login_alipay, login_wechat, revoke_token
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime

from .security import BEARER_DOC, bearer_token

blp = CardBlueprint("mp_auth", __name__, url_prefix="/api/mp/v1/auth", description="Mini-program login")

PLATFORM_ERRORS = {
    401: "login_code_invalid: the code is invalid, expired or used; call wx.login()/my.getAuthCode() again",
    403: "platform_user_blocked: the platform flags this user as high-risk",
    422: "validation_error: invalid request body",
    429: "platform_rate_limited: the platform is rate limiting; see Retry-After",
    503: "platform_unavailable / platform_not_configured: the platform is busy or unreachable; retry",
}


class WeChatLoginSchema(ma.Schema):
    EXAMPLES = [{"code": "0a3Xk2Ga1mQw2J0Nn3Ia1Y9tIa2Xk2GH"}]

    code = Text(required=True, validate=ma.validate.Length(1, 128),
                metadata={"description": "The code from wx.login()"})


class AlipayLoginSchema(ma.Schema):
    EXAMPLES = [{"auth_code": "4b203fe6c11548bcabd8da5bb087a83b"}]

    auth_code = Text(required=True, validate=ma.validate.Length(1, 128),
                     metadata={"description": "The authCode from my.getAuthCode()"})


class LoginSchema(ma.Schema):
    EXAMPLES = [{"token": "Yq3vH8kPz0cN4rT7wB1xJ6sLd9fGa2UeX5mQ7wR0tKp", "expires_in": 86400, "bound": True, "binding_ended": None},
                {"token": "Rk5nW2qZ8bX4cV7mJ1tH9sLp3dFg6Ay0Lq2Wc8Nv4Ze", "expires_in": 86400, "bound": False, "binding_ended": "evicted"}]

    token = ma.fields.String(required=True, metadata={"description": "Our bearer token (opaque)"})
    expires_in = ma.fields.Integer(required=True, metadata={"description": "Seconds"})
    bound = ma.fields.Boolean(required=True, metadata={"description": "Real-name binding done"})
    binding_ended = ma.fields.String(required=True, allow_none=True, metadata={"enum": ["unbound", "evicted", None], "description": (
        "Not bound: why this account's last binding ended (evicted: the card's holder proved with a real-person check "
        "that the identity is theirs; tell the user), else null")})


@blp.route("/wechat", methods=["POST"])
@blp.arguments(WeChatLoginSchema)
@blp.response(200, LoginSchema)
@error_responses(blp, PLATFORM_ERRORS)
def wechat_login(args: dict[str, Any]) -> Any:
    """Log in with WeChat (code2Session); returns our token."""
    return login_wechat(runtime(), args["code"])


@blp.route("/alipay", methods=["POST"])
@blp.arguments(AlipayLoginSchema)
@blp.response(200, LoginSchema)
@error_responses(blp, PLATFORM_ERRORS)
def alipay_login(args: dict[str, Any]) -> Any:
    """Log in with Alipay (alipay.system.oauth.token); returns our token."""
    return login_alipay(runtime(), args["auth_code"])


@blp.route("/token", methods=["DELETE"])
@blp.doc(**BEARER_DOC)
@blp.response(204)
@error_responses(blp, {
    401: "token_missing",
})
def logout() -> None:
    """Revoke the bearer token of this request (log out); a seed copy handed to this session ends too."""
    rt, token = runtime(), bearer_token()
    end_session_copies(rt, token)
    revoke_token(rt, token)
