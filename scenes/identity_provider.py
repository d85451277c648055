"""The OpenID Connect provider's HTTP endpoints (M-20; docs/identity-provider.md).

Relying parties speak OAuth 2.0 / OpenID Connect here, so these endpoints answer in those
protocols' formats (RFC 6749 section 5.2 errors on the token and revocation endpoints), not the
platform's JSON envelope; they are described by the discovery document, not by docs/openapi.json.

- ``GET /.well-known/openid-configuration``: discovery (OpenID Connect Discovery 1.0)
- ``GET /oidc/jwks.json``: the id_token signing keys (ES256 and EdDSA)
- ``GET /oidc/jwks-sm2.json``: the SM2-SM3 keys (non-standard, with the gm extra; app/oidc/sm2.py)
- ``GET /oidc/authorize``: validates the request, shows the QR code the citizen scans
- ``GET /oidc/authorize/result``: the page's poll: pending, or where to go next (once)
- ``POST /oidc/token``: authorization_code (PKCE S256) and refresh_token (rotating) grants
- ``GET|POST /oidc/userinfo``: the released claims for a bearer access token (OpenID Connect Core 5.3)
- ``POST /oidc/revoke``: RFC 7009
- ``GET|POST /oidc/logout``: RP-initiated logout with ``id_token_hint``
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import segno
from authlib.oauth2 import OAuth2Error
from flask import Blueprint, current_app, jsonify, render_template_string, request

from app.identity.real_person import LEVELS
from app.oidc import login
from app.oidc.applink import app_links
from app.oidc.claims import ACR_PREFIX
from app.oidc.parties import AUTH_METHODS, SCOPES
from app.oidc.server import build_server, issuer
from app.oidc.signing import signing_keys
from app.platform.errors import AppError
from app.runtime import runtime

blp = Blueprint("identity_provider", __name__)
SERVER_KEY = "oidc_server"


def register(app: Any) -> None:
    """Build the Authlib server for ``app`` and register the endpoints."""
    app.extensions[SERVER_KEY] = build_server(app)
    app.register_blueprint(blp)


def server() -> Any:
    """This app's Authlib authorization server (app/oidc/server.py)."""
    return current_app.extensions[SERVER_KEY]


def _issuer() -> str:
    return issuer(current_app.config, request.host_url)


@blp.route("/.well-known/openid-configuration")
def discovery() -> Any:
    """The OpenID Provider metadata (OpenID Connect Discovery 1.0 section 3)."""
    base = _issuer()
    return jsonify({
        "issuer": base, "authorization_endpoint": f"{base}/oidc/authorize", "token_endpoint": f"{base}/oidc/token",
        "jwks_uri": f"{base}/oidc/jwks.json", "userinfo_endpoint": f"{base}/oidc/userinfo", "revocation_endpoint": f"{base}/oidc/revoke",
        "end_session_endpoint": f"{base}/oidc/logout", "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"], "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"], "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": signing_keys(current_app.config).algorithms, "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "acr_values_supported": [ACR_PREFIX + level for level in LEVELS],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "at_hash", *SCOPES[1:]],
        "request_parameter_supported": False, "claims_parameter_supported": False,
        "backchannel_logout_supported": True, "backchannel_logout_session_supported": False,
    })


@blp.route("/oidc/jwks.json")
def jwks() -> Any:
    """The public signing keys (RFC 7517); cacheable for an hour."""
    response = jsonify(signing_keys(current_app.config).jwks())
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@blp.route("/oidc/jwks-sm2.json")
def jwks_sm2() -> Any:
    """The SM2-SM3 public keys (``kty`` EC, ``crv`` SM2, ``x``, ``y``, ``kid``, ``alg`` SM2-SM3: all
    non-standard), apart from the standard JWKS, which common RP libraries refuse whole when it holds
    a key of an unknown curve; cacheable for an hour. 404 ``oidc_sm2_not_offered`` without an SM2
    key or without the gm extra."""
    keys = signing_keys(current_app.config).sm2_jwks()
    if not keys["keys"]:
        raise AppError("oidc_sm2_not_offered", 404, "this provider signs no SM2-SM3 id_tokens (no SM2 key, or no gm extra)")
    response = jsonify(keys)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>用东莞市民卡登录</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body data-login-request="{{ opened.request_id }}" data-poll="{{ opened.poll_secret }}">
<h1>用东莞市民卡登录 Log in with the Dongguan citizen card</h1>
<p>{{ client.name }}（{{ kind }}）请求登录，返回地址 <strong>{{ domain }}</strong>。</p>
<p>请用市民卡小程序扫码，在小程序中核对网站名称后确认。二维码 {{ opened.expires_in }} 秒内有效，只能使用一次。</p>
<div id="qr">{{ qr|safe }}</div>
<p id="open-app">在手机上？Using this phone?
<a id="open-wechat" href="{{ links.wechat }}">在微信小程序中确认 Confirm in the WeChat mini-program</a>
{% if links.alipay %}<a id="open-alipay" href="{{ links.alipay }}">在支付宝小程序中确认 Confirm in the Alipay mini-program</a>{% endif %}
确认后请回到本页面 Then come back to this page.</p>
<p id="status">等待确认 Waiting for confirmation…</p>
<script>
(function () {
  var body = document.body, url = "{{ result_url }}?request=" + encodeURIComponent(body.dataset.loginRequest);
  function poll() {
    fetch(url, {headers: {"X-Poll-Secret": body.dataset.poll}}).then(function (r) { return r.json(); }).then(function (j) {
      if (j.status === "confirmed") { window.location.href = j.redirect_to; }
      else if (j.status === "pending") { setTimeout(poll, 1500); }
      else { document.getElementById("status").textContent = "二维码已失效，请刷新页面 The code has expired: reload the page"; }
    });
  }
  setTimeout(poll, 1500);
})();
</script></body></html>"""
KIND_NAMES = {"government": "政府部门", "public_service": "公共服务", "commercial": "商业机构"}


@blp.route("/oidc/authorize")
def authorize() -> Any:
    """Validate the authorization request with Authlib and show the QR, and the links that open the
    mini-program on a phone (app/oidc/applink.py), both carrying only the request id. A request with an
    unknown client or an unregistered redirect URI is refused here (400 envelope), never redirected;
    other errors go back to the redirect URI (RFC 6749 section 4.1.2.1)."""
    try:
        grant = server().get_consent_grant(end_user=None)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server().handle_error_response(None, error)
        raise AppError("oidc_invalid_request", 400, error.description or error.error, {"error": error.error}) from None
    params = {key: request.args[key] for key in request.args}
    opened = login.open_request(runtime(), params, request.url, request.remote_addr or "-")
    client = grant.client
    scan_url = f"{_issuer()}/oidc/scan?request={opened.request_id}"
    return render_template_string(PAGE, opened=opened, client=client, kind=KIND_NAMES[client.kind],
                                  links=app_links(current_app.config, opened.request_id),
                                  domain=urlsplit(params["redirect_uri"]).hostname,
                                  qr=segno.make_qr(scan_url, error="m").svg_inline(scale=4),
                                  result_url=f"{_issuer()}/oidc/authorize/result")


@blp.route("/oidc/authorize/result")
def authorize_result() -> Any:
    """The page's poll (``X-Poll-Secret`` header): ``{"status": "pending"}`` or
    ``{"status": "confirmed", "redirect_to": ...}`` once; 404 ``login_request_expired``."""
    location = login.result(runtime(), request.args.get("request", ""), request.headers.get("X-Poll-Secret", ""))
    if location is None:
        return jsonify({"status": "pending"})
    return jsonify({"status": "confirmed", "redirect_to": location})


@blp.route("/oidc/token", methods=["POST"])
def token() -> Any:
    """The token endpoint (RFC 6749 section 3.2): client_secret_basic or client_secret_post."""
    return server().create_token_response()


@blp.route("/oidc/userinfo", methods=["GET", "POST"])
def userinfo() -> Any:
    """The UserInfo endpoint (OpenID Connect Core 1.0 section 5.3): ``Authorization: Bearer <access
    token>``; JSON with ``sub`` and the claims the consent released (app/oidc/userinfo.py). 401
    ``invalid_token`` with ``WWW-Authenticate`` (RFC 6750 section 3); 403 ``insufficient_scope``."""
    return server().create_endpoint_response("userinfo")


@blp.route("/oidc/revoke", methods=["POST"])
def revoke() -> Any:
    """Token revocation (RFC 7009): an access or refresh token; either ends both."""
    return server().create_endpoint_response("revocation")


@blp.route("/oidc/logout", methods=["GET", "POST"])
def logout() -> Any:
    """RP-initiated logout: with ``id_token_hint``, the relying party's tokens for that citizen are
    revoked; redirected to ``post_logout_redirect_uri`` when it is one of its redirect URIs."""
    answer = server().create_endpoint_response("end_session")
    return answer if answer is not None else jsonify({"status": "logged_out"})
