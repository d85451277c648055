"""Mini-program login through the WeChat stand-in, and our bearer tokens."""
from __future__ import annotations

import pytest

from qr import payload
from standins.wechat import WeChatStandIn

from ..helpers import ApiClient

WECHAT_LOGIN = "/api/mp/v1/auth/wechat"


def error_code(response) -> str:  # type: ignore[no-untyped-def]
    assert set(response.json) == {"error"}
    assert set(response.json["error"]) == {"code", "message", "details"}
    return response.json["error"]["code"]


def test_login_returns_our_own_token_not_the_session_key(api: ApiClient, wechat: WeChatStandIn) -> None:
    response = api.client.post(WECHAT_LOGIN, json={"code": wechat.issue_code(unionid="union-1")})
    assert response.status_code == 200
    assert set(response.json) == {"token", "expires_in", "bound", "binding_ended"}
    assert response.json["bound"] is False
    assert response.json["expires_in"] == 86400
    assert len(response.json["token"]) >= 40


def test_missing_unionid_is_normal(api: ApiClient, wechat: WeChatStandIn) -> None:
    response = api.client.post(WECHAT_LOGIN, json={"code": wechat.issue_code(unionid=None)})
    assert response.status_code == 200


def test_the_same_user_logging_in_again_keeps_the_binding(api: ApiClient) -> None:
    api.bound_citizen(openid="o-same-user")
    second = api.client.post(WECHAT_LOGIN, json={"code": api.wechat.issue_code(openid="o-same-user")})
    assert second.json["bound"] is True


@pytest.mark.parametrize(("errcode", "status", "code"), [
    (40029, 401, "login_code_invalid"),
    (40163, 401, "login_code_invalid"),
    (45011, 429, "platform_rate_limited"),
    (-1, 503, "platform_unavailable"),
    (40226, 403, "platform_user_blocked"),
])
def test_wechat_errors_map_to_clear_answers(api: ApiClient, wechat: WeChatStandIn, errcode: int, status: int, code: str) -> None:
    wechat.fail_next(errcode)
    response = api.client.post(WECHAT_LOGIN, json={"code": wechat.issue_code()})
    assert response.status_code == status
    assert error_code(response) == code
    assert "test-wechat-secret" not in response.get_data(as_text=True)


def test_a_used_code_is_refused(api: ApiClient, wechat: WeChatStandIn) -> None:
    code = wechat.issue_code()
    assert api.client.post(WECHAT_LOGIN, json={"code": code}).status_code == 200
    again = api.client.post(WECHAT_LOGIN, json={"code": code})
    assert (again.status_code, error_code(again)) == (401, "login_code_invalid")


def test_rate_limit_carries_retry_after(api: ApiClient, wechat: WeChatStandIn) -> None:
    wechat.fail_next(45011)
    response = api.client.post(WECHAT_LOGIN, json={"code": wechat.issue_code()})
    assert response.headers["Retry-After"] == "60"


def test_a_body_that_is_not_json_from_wechat_is_503(api: ApiClient, wechat: WeChatStandIn) -> None:
    wechat.serve_html_next()
    response = api.client.post(WECHAT_LOGIN, json={"code": wechat.issue_code()})
    assert (response.status_code, error_code(response)) == (503, "platform_unavailable")


def test_a_wechat_5xx_is_503(api: ApiClient, wechat: WeChatStandIn) -> None:
    wechat.http_error_next(502)
    response = api.client.post(WECHAT_LOGIN, json={"code": wechat.issue_code()})
    assert (response.status_code, error_code(response)) == (503, "platform_unavailable")


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": 42}, {"code": "x", "extra": 1}, {"code": "x" * 129}])
def test_bad_login_bodies_get_the_validation_envelope(api: ApiClient, body: dict) -> None:
    response = api.client.post(WECHAT_LOGIN, json=body)
    assert (response.status_code, error_code(response)) == (422, "validation_error")
    assert "fields" in response.json["error"]["details"]


def test_a_body_that_is_not_json_gets_the_envelope(api: ApiClient) -> None:
    response = api.client.post(WECHAT_LOGIN, data=b"{not json", content_type="application/json")
    assert response.status_code in (400, 422)
    assert error_code(response) in ("bad_request", "validation_error")


def test_alipay_is_503_when_not_configured(api: ApiClient) -> None:
    response = api.client.post("/api/mp/v1/auth/alipay", json={"auth_code": "abc"})
    assert (response.status_code, error_code(response)) == (503, "platform_not_configured")


def test_unknown_routes_and_methods_get_the_envelope(api: ApiClient) -> None:
    assert error_code(api.client.get("/api/mp/v1/nope")) == "not_found"
    assert error_code(api.client.get(WECHAT_LOGIN)) == "method_not_allowed"


class TestTokens:
    def test_missing_token_is_401(self, api: ApiClient) -> None:
        response = api.client.get("/api/mp/v1/card/code")
        assert (response.status_code, error_code(response)) == (401, "token_missing")

    def test_unknown_token_is_401(self, api: ApiClient) -> None:
        response = api.client.get("/api/mp/v1/card/code", headers=api.bearer("not-a-token"))
        assert (response.status_code, error_code(response)) == (401, "token_invalid")

    def test_a_logged_in_unbound_account_is_told_to_bind(self, api: ApiClient) -> None:
        response = api.client.get("/api/mp/v1/card/code", headers=api.bearer(api.login()))
        assert (response.status_code, error_code(response)) == (403, "not_bound")

    def test_token_expires(self, api: ApiClient) -> None:
        token = api.login()
        api.clock.advance(86400)
        response = api.client.get("/api/mp/v1/card/code", headers=api.bearer(token))
        assert error_code(response) == "token_invalid"

    def test_logout_revokes_the_token(self, api: ApiClient) -> None:
        token = api.login()
        assert api.client.delete("/api/mp/v1/auth/token", headers=api.bearer(token)).status_code == 204
        response = api.client.get("/api/mp/v1/card/code", headers=api.bearer(token))
        assert error_code(response) == "token_invalid"

    def test_only_a_digest_of_the_token_is_stored(self, api: ApiClient) -> None:
        from app.identity.models import AuthToken
        from app.platform.db import db

        token = api.login()
        with api.app.app_context():
            digests = [row.digest for row in db.session.query(AuthToken)]
        assert token not in digests and len(digests) == 1


class TestHostileBodies:
    """Bodies Python's json module mishandles: each must be a clean 4xx envelope, never a 500."""

    @pytest.mark.parametrize(("body", "reason"), [
        (b'{"code":' * 3000 + b"1" + b"}" * 3000, "nested deeper than 16 levels"),
        (b'{"code": "\\ud800abc"}', "not UTF-8 text, or a lone UTF-16 surrogate"),
        (b'{"code": ' + b"1" * 5000 + b"}", "number too long"),
        (b'{"code": NaN}', "NaN is not JSON"),
        (b'{"code": 1e999}', "number out of range"),
        (b'{"code": "a", "code": "b"}', "a key is repeated in one object"),
        (b'{"code": "\xff"}', "not UTF-8 text, or a lone UTF-16 surrogate"),
        (b'{"code": ', "not JSON"),
        (b'{"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": {"l": {"m": {"n": {"o": {"p": {"q": 1}}}}}}}}}}}}}}}}}',
         "nested deeper than 16 levels"),
    ])
    def test_refused_as_bad_request(self, api: ApiClient, body: bytes, reason: str) -> None:
        response = api.client.post(WECHAT_LOGIN, data=body, content_type="application/json")
        assert (response.status_code, error_code(response)) == (400, "bad_request")
        assert response.json["error"]["details"]["reason"] == reason

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
    def test_a_body_not_declared_as_json_is_415(self, api: ApiClient, content_type: str) -> None:
        """curl -d sends form encoding: that is a 415 too, not a 422 'missing field' (a trial found it)."""
        response = api.client.post(WECHAT_LOGIN, data=b'{"code": "x"}', content_type=content_type)
        assert (response.status_code, error_code(response)) == (415, "unsupported_media_type")

    def test_chunked_bodies_are_411(self, api: ApiClient) -> None:
        response = api.client.post(WECHAT_LOGIN, data=b'{"code": "x"}', content_type="application/json",
                                   headers={"Transfer-Encoding": "chunked"})
        assert (response.status_code, error_code(response)) == (411, "length_required")

    def test_405_names_the_allowed_methods(self, api: ApiClient) -> None:
        response = api.client.put(WECHAT_LOGIN, json={"code": "x"})
        assert (response.status_code, response.headers["Allow"]) == (405, "OPTIONS, POST")  # sorted: the same from every process

    def test_options_names_the_allowed_methods_with_no_body(self, api: ApiClient) -> None:
        response = api.client.options(WECHAT_LOGIN)
        assert (response.status_code, response.data) == (204, b"")
        assert "Content-Type" not in response.headers
        assert response.headers["Allow"] == "OPTIONS, POST"

    def test_head_does_not_issue_a_code(self, api: ApiClient) -> None:
        token = api.bound_citizen()
        response = api.client.head("/api/mp/v1/card/code", headers=api.bearer(token))
        assert (response.status_code, response.headers["Allow"]) == (405, "GET, OPTIONS")
        assert api.client.options("/api/mp/v1/card/code").headers["Allow"] == "GET, OPTIONS"
        assert payload.parse(api.code(token)).sequence == 0  # HEAD spent none of the step's codes
        assert api.client.head("/api/mp/v1/card/verifications", headers=api.bearer(token)).status_code == 200

    def test_a_doubled_slash_is_a_404_envelope_not_a_redirect(self, api: ApiClient) -> None:
        response = api.client.post("/api//mp/v1/auth/wechat", json={"code": "x"})
        assert (response.status_code, error_code(response)) == (404, "not_found")
