"""WeChat mini-program login: WeChat code2Session, called directly with ``requests``.

Source: WeChat code2Session, ``GET {api_base}sns/jscode2session?appid=&secret=&js_code=
&grant_type=authorization_code``. Success is HTTP 200 JSON ``{"openid", "session_key",
"unionid"?}`` (``errcode`` 0 or absent; ``unionid`` only when the mini-program is bound to
an Open Platform account). Errors are HTTP 200 JSON ``{"errcode": N, "errmsg": "..."}``.

The ``session_key`` is dropped on arrival: it is never returned or logged. The app secret
travels in the query string (WeChat's design), so request exceptions, whose text quotes
the URL, are never logged or chained onto the :class:`AppError` we raise.
"""
from __future__ import annotations

import logging
from typing import Any

import requests

from app.integrations.identity import PlatformIdentity
from app.platform.errors import AppError

log = logging.getLogger(__name__)
# code2Session takes the AppSecret in the query string, and urllib3 logs request URLs at DEBUG:
# keep that logger above DEBUG so the secret never reaches a log, whatever the root level.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

_PATH = "sns/jscode2session"

# errcode -> (AppError code, HTTP status, message, headers). Never compare errmsg.
_KNOWN_ERRORS: dict[int, tuple[str, int, str, dict[str, str]]] = {
    40029: ("login_code_invalid", 401, "The WeChat login code is invalid or expired.", {}),
    40163: ("login_code_invalid", 401, "The WeChat login code was already used.", {}),
    45011: ("platform_rate_limited", 429, "WeChat is rate limiting logins; retry later.",
            {"Retry-After": "60"}),
    40226: ("platform_user_blocked", 403, "WeChat has blocked this user as high-risk.", {}),
}


def _unavailable(reason: str) -> AppError:
    """The 503 raised for every WeChat failure that is not the user's fault."""
    return AppError("platform_unavailable", 503, "WeChat login is unavailable; retry later.",
                    details={"platform": "wechat", "reason": reason})


class WeChatLogin:
    """Exchanges a mini-program ``wx.login()`` code for the user's openid/unionid."""

    def __init__(self, appid: str, secret: str, api_base: str, timeout: float = 5.0,
                 session: requests.Session | None = None) -> None:
        """``api_base`` ends with "/" (default in production: ``https://api.weixin.qq.com/``)."""
        self._appid = appid
        self._secret = secret
        self._url = api_base + _PATH
        self._timeout = timeout
        self._session = session or requests.Session()

    def code_to_session(self, js_code: str) -> PlatformIdentity:
        """WeChat code2Session: turn ``js_code`` into a :class:`PlatformIdentity`.

        Raises :class:`AppError`: 401 ``login_code_invalid`` (40029, 40163),
        429 ``platform_rate_limited`` with ``Retry-After: 60`` (45011),
        403 ``platform_user_blocked`` (40226), and 503 ``platform_unavailable`` for -1,
        unknown errcodes, HTTP errors, non-JSON bodies, a body without openid,
        connection errors and timeouts.
        """
        body = self._fetch(js_code)
        _raise_for_errcode(body)
        return _identity(body)

    def _fetch(self, js_code: str) -> dict[str, Any]:
        """GET jscode2session and return the decoded JSON object."""
        try:
            resp = self._session.get(self._url, params=self._params(js_code),
                                     timeout=self._timeout)
        except requests.RequestException as exc:
            log.warning("WeChat code2Session unreachable: %s", type(exc).__name__)
            raise _unavailable("connection_error") from None
        return _decode(resp)

    def _params(self, js_code: str) -> dict[str, str]:
        """The query string of code2Session."""
        return {"appid": self._appid, "secret": self._secret, "js_code": js_code,
                "grant_type": "authorization_code"}


def _decode(resp: requests.Response) -> dict[str, Any]:
    """The JSON object of a code2Session answer, or a 503 for anything else."""
    if not 200 <= resp.status_code < 300:
        log.warning("WeChat code2Session answered HTTP %s", resp.status_code)
        raise _unavailable("http_error")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        log.warning("WeChat code2Session answered a non-JSON body (%s)",
                    resp.headers.get("Content-Type", "no content type"))
        raise _unavailable("invalid_response")
    return body


def _raise_for_errcode(body: dict[str, Any]) -> None:
    """Map a non-zero ``errcode`` onto an :class:`AppError`; 0 or absent passes."""
    errcode = body.get("errcode", 0)
    if errcode in (0, None):
        return
    known = _KNOWN_ERRORS.get(errcode) if isinstance(errcode, int) else None
    if known is None:
        log.warning("WeChat code2Session failed with errcode %r", errcode)
        raise _unavailable("platform_error")
    code, status, message, headers = known
    raise AppError(code, status, message, details={"platform": "wechat", "errcode": errcode},
                   headers=dict(headers))


def _identity(body: dict[str, Any]) -> PlatformIdentity:
    """Build the identity from a success body; the session_key is deliberately dropped."""
    openid = body.get("openid")
    if not isinstance(openid, str) or not openid:
        log.warning("WeChat code2Session answered without an openid")
        raise _unavailable("invalid_response")
    unionid = body.get("unionid")
    return PlatformIdentity("wechat", openid, unionid if isinstance(unionid, str) and unionid else None)
