"""A stand-in for WeChat on the real wire format: code2Session (``GET /sns/jscode2session``),
the access token (``GET /cgi-bin/token``) and mini-program subscribe messages
(``POST /cgi-bin/message/subscribe/send?access_token=``).

Success of code2Session is HTTP 200 JSON ``{"openid", "session_key"}`` plus ``"unionid"`` only
when the user has one; every error is HTTP 200 JSON ``{"errcode": N, "errmsg": "... rid: ..."}``,
exactly as WeChat answers. A js_code works once, for five minutes. Face verification (``POST
/cityservice/face/identify/getinfo?access_token=`` with ``{"verify_result"}``) answers
``{"errcode": 0, "errmsg": "ok", "identify_ret", "identify_time", "validate_data", "openid",
"user_id_key", "finish_time", "id_card_number_md5", "name_utf8_md5"}`` for a result minted by
:meth:`WeChatStandIn.issue_face_result` (what ``wx.startFacialRecognitionVerify`` hands the
mini-program), and ``identify_ret`` 10017 (illegal identify id) for an unknown one. An access token is
``{"access_token", "expires_in": 7200}``; a send with an unknown token is 40001; a sent message
answers ``{"errcode": 0, "errmsg": "ok", "msgid"}`` and is kept in :attr:`WeChatStandIn.messages`.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from standins import StandInServer

CODE_TTL_SECONDS = 300.0

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40125: "invalid appsecret",
    40163: "code been used",
    40226: "invalid user: risky user",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    43101: "user refuse to accept the msg",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
    47003: "argument invalid! data.thing1.value invalid",
}
TOKEN_TTL_SECONDS = 7200


@dataclass
class _Code:
    """One issued js_code: who it logs in, until when, and whether it was used."""

    openid: str
    unionid: str | None
    expires_at: float
    used: bool = False


def new_openid() -> str:
    """A random openid shaped like WeChat's: "o" and 27 URL-safe characters."""
    return "o" + secrets.token_urlsafe(21)[:27]


def _rid() -> str:
    """A request id like the ones WeChat appends to every errmsg."""
    return f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"


def error_body(errcode: int) -> dict[str, Any]:
    """WeChat's error object for ``errcode``: ``{"errcode", "errmsg": "... rid: ..."}``."""
    return {"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'error')} rid: {_rid()}"}


def _json(body: dict[str, Any], status: int = 200) -> Response:
    """A JSON response as WeChat sends it (``application/json; encoding=utf-8``)."""
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    content_type="application/json; encoding=utf-8")


class WeChatStandIn(StandInServer):
    """WeChat's jscode2session for one mini-program (``appid``/``secret``).

    ``base_url`` is ``http://127.0.0.1:PORT/`` (the ``api_base`` of ``WeChatLogin``).
    Tests script failures with :meth:`fail_next`, :meth:`serve_html_next` and
    :meth:`http_error_next`.
    """

    def __init__(self, appid: str, secret: str, code_ttl: float = CODE_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic, latest_token_only: bool = False) -> None:
        """``clock`` (seconds) and ``code_ttl`` let tests expire codes without sleeping.
        ``latest_token_only``: as WeChat does, each ``cgi-bin/token`` fetch invalidates every token
        issued before (off by default, so tests with several independent clients keep working)."""
        super().__init__()
        self.latest_token_only = latest_token_only
        self.appid = appid
        self._secret = secret
        self._code_ttl = code_ttl
        self._clock = clock
        self._codes: dict[str, _Code] = {}
        self._codes_lock = threading.Lock()
        self._tokens: set[str] = set()
        self.tokens_issued = 0
        self._message_failures: list[int] = []
        self.messages: list[dict[str, Any]] = []  # every subscribe message accepted, as sent
        self._faces: dict[str, dict[str, Any]] = {}  # verify_result -> the getinfo answer

    def start(self) -> WeChatStandIn:
        """Start serving; returns ``self``."""
        super().start()
        return self

    def __enter__(self) -> WeChatStandIn:
        """Start on entering a ``with`` block."""
        return self.start()

    def issue_code(self, openid: str | None = None, unionid: str | None = None) -> str:
        """Mint a js_code (what ``wx.login()`` gives the mini-program), valid once for 5 min.

        ``openid`` defaults to a random one; with ``unionid=None`` the answer carries no
        unionid, as for a mini-program not bound to an Open Platform account.
        """
        code = secrets.token_urlsafe(24)
        entry = _Code(openid or new_openid(), unionid, self._clock() + self._code_ttl)
        with self._codes_lock:
            self._codes[code] = entry
        return code

    def issue_face_result(self, openid: str, name: str, id_number: str, passed: bool = True,
                          identify_time: int | None = None) -> str:
        """Mint the ``verifyResult`` of a face check by ``openid`` for this name and ID number
        (``passed=False``: identify_ret 10004, the face did not match)."""
        token = secrets.token_urlsafe(32)
        now = int(time.time()) if identify_time is None else identify_time
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "identify_ret": 0 if passed else 10004,
                                  "identify_time": now, "validate_data": "", "openid": openid,
                                  "user_id_key": secrets.token_hex(16), "finish_time": now,
                                  "id_card_number_md5": hashlib.md5(id_number.upper().encode(), usedforsecurity=False).hexdigest(),
                                  "name_utf8_md5": hashlib.md5(name.encode("utf-8"), usedforsecurity=False).hexdigest()}
        with self._codes_lock:
            self._faces[token] = answer
        return token

    def fail_next(self, errcode: int) -> None:
        """Answer the next request with HTTP 200 ``{"errcode": errcode, "errmsg": ...}``."""
        self._script(lambda request: _json(error_body(errcode)))

    def fail_next_message(self, *errcodes: int) -> None:
        """Answer the next subscribe-message sends (not token requests) with these errcodes."""
        with self._codes_lock:
            self._message_failures.extend(errcodes)

    def expire_tokens(self) -> None:
        """Invalidate every access token issued so far (the next send answers 40001)."""
        with self._codes_lock:
            self._tokens.clear()

    def messages_to(self, openid: str) -> list[dict[str, Any]]:
        """The subscribe messages sent to ``openid``."""
        with self._codes_lock:
            return [message for message in self.messages if message.get("touser") == openid]

    def handle(self, request: Request) -> Response:
        """Serve code2Session, the access token and subscribe messages; anything else is a 404."""
        if request.path == "/sns/jscode2session":
            errcode = self._check_app(request.args)
            if errcode:
                return _json(error_body(errcode))
            return self._redeem(request.args.get("js_code", ""))
        if request.path == "/cgi-bin/token" and request.method == "GET":
            return self._token(request.args)
        if request.path == "/cgi-bin/message/subscribe/send" and request.method == "POST":
            return self._send(request)
        if request.path == "/cityservice/face/identify/getinfo" and request.method == "POST":
            return self._face(request)
        return _json({"errcode": 404, "errmsg": f"not found rid: {_rid()}"}, status=404)

    def _token(self, args: Any) -> Response:
        """``GET /cgi-bin/token?grant_type=client_credential&appid=&secret=``."""
        if args.get("grant_type") != "client_credential":
            return _json(error_body(40002))
        if args.get("appid") != self.appid:
            return _json(error_body(40013))
        if not secrets.compare_digest(args.get("secret", ""), self._secret):
            return _json(error_body(40001))
        token = secrets.token_urlsafe(48)
        with self._codes_lock:
            if self.latest_token_only:
                self._tokens.clear()
            self._tokens.add(token)
            self.tokens_issued += 1
        return _json({"access_token": token, "expires_in": TOKEN_TTL_SECONDS})

    def _send(self, request: Request) -> Response:
        """``POST /cgi-bin/message/subscribe/send?access_token=`` with the message as JSON."""
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            body = None
        with self._codes_lock:
            if request.args.get("access_token") not in self._tokens:
                return _json(error_body(40001))
            if self._message_failures:
                return _json(error_body(self._message_failures.pop(0)))
            if not isinstance(body, dict) or not body.get("touser") or not body.get("template_id"):
                return _json(error_body(40003 if isinstance(body, dict) and not body.get("touser") else 47003))
            if not isinstance(body.get("data"), dict):
                return _json(error_body(47003))
            self.messages.append(body)
        return _json({"errcode": 0, "errmsg": "ok", "msgid": secrets.randbits(48)})

    def _face(self, request: Request) -> Response:
        """``POST /cityservice/face/identify/getinfo?access_token=`` with ``{"verify_result"}``."""
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            body = None
        with self._codes_lock:
            if request.args.get("access_token") not in self._tokens:
                return _json(error_body(40001))
            if not isinstance(body, dict) or not isinstance(body.get("verify_result"), str):
                return _json(error_body(47001))
            answer = self._faces.get(body["verify_result"])
        return _json(answer or {"errcode": 0, "errmsg": "ok", "identify_ret": 10017})

    def _check_app(self, args: Any) -> int:
        """0 when appid, secret and grant_type are right, else WeChat's errcode."""
        if not args.get("appid"):
            return 41002
        if args.get("appid") != self.appid:
            return 40013
        if not args.get("secret"):
            return 41004
        if not secrets.compare_digest(args.get("secret", ""), self._secret):
            return 40125
        if args.get("grant_type") != "authorization_code":
            return 40002
        return 0

    def _redeem(self, js_code: str) -> Response:
        """Use up ``js_code`` and answer the session, or the matching error."""
        if not js_code:
            return _json(error_body(41008))
        with self._codes_lock:
            entry = self._codes.get(js_code)
            errcode = self._code_error(entry)
            if entry is None or errcode:
                return _json(error_body(errcode))
            entry.used = True
        return _json(_session(entry))

    def _code_error(self, entry: _Code | None) -> int:
        """40029 for an unknown or expired code, 40163 for a used one, else 0."""
        if entry is None or self._clock() > entry.expires_at:
            return 40029
        return 40163 if entry.used else 0


def _session(entry: _Code) -> dict[str, Any]:
    """The success body: openid, a fresh session_key and the unionid only when set."""
    body: dict[str, Any] = {
        "session_key": base64.b64encode(secrets.token_bytes(16)).decode(),
        "openid": entry.openid,
    }
    if entry.unionid is not None:
        body["unionid"] = entry.unionid
    return body
