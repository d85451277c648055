"""POST /auth/wechat, POST /auth/alipay, DELETE /auth/token."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from app.runtime import runtime
from app.services.auth import login_alipay, login_wechat, revoke_token

from .security import BEARER_DOC, bearer_token

blp = Blueprint("mp_auth", __name__, url_prefix="/api/mp/v1/auth", description="Mini-program login")

PLATFORM_ERRORS = (
    (401, "login_code_invalid: the code is invalid, expired or used; call wx.login()/my.getAuthCode() again"),
    (403, "platform_user_blocked: the platform flags this user as high-risk"),
    (429, "platform_rate_limited: the platform is rate limiting; see Retry-After"),
    (503, "platform_unavailable: the platform is busy or unreachable; retry"),
)


class WeChatLoginSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(1, 128),
                            metadata={"description": "The code from wx.login()"})


class AlipayLoginSchema(ma.Schema):
    auth_code = ma.fields.String(required=True, validate=ma.validate.Length(1, 128),
                                 metadata={"description": "The authCode from my.getAuthCode()"})


class LoginSchema(ma.Schema):
    token = ma.fields.String(required=True, metadata={"description": "Our bearer token (opaque)"})
    expires_in = ma.fields.Integer(required=True, metadata={"description": "Seconds"})
    bound = ma.fields.Boolean(required=True, metadata={"description": "Real-name binding done"})


def _platform_errors(view: Any) -> Any:
    for status, description in PLATFORM_ERRORS:
        view = blp.alt_response(status, description=description)(view)
    return blp.alt_response(422, description="Invalid request body")(view)


@blp.route("/wechat", methods=["POST"])
@blp.arguments(WeChatLoginSchema)
@blp.response(200, LoginSchema)
@_platform_errors
def wechat_login(args: dict[str, Any]) -> Any:
    """Log in with WeChat (code2Session); returns our token."""
    return login_wechat(runtime(), args["code"])


@blp.route("/alipay", methods=["POST"])
@blp.arguments(AlipayLoginSchema)
@blp.response(200, LoginSchema)
@_platform_errors
def alipay_login(args: dict[str, Any]) -> Any:
    """Log in with Alipay (alipay.system.oauth.token); returns our token."""
    return login_alipay(runtime(), args["auth_code"])


@blp.route("/token", methods=["DELETE"])
@blp.doc(**BEARER_DOC)
@blp.response(204)
@blp.alt_response(401, description="token_missing")
def logout() -> None:
    """Revoke the bearer token of this request (log out)."""
    revoke_token(runtime(), bearer_token())
