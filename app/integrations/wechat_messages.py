"""WeChat mini-program subscribe messages, sent with wechatpy.

Source: WeChat ``POST {api_base}cgi-bin/message/subscribe/send?access_token=`` with JSON
``{"touser", "template_id", "data": {"thing1": {"value": ...}, ...}, "page"}``; the access token
comes from ``GET {api_base}cgi-bin/token?grant_type=client_credential&appid=&secret=``, is kept in the
platform's store for every worker (app/integrations/wechat_tokens.py: each fetch invalidates the
previous token) and is refetched once on 40001/42001 by wechatpy. Errors are HTTP 200 JSON
``{"errcode", "errmsg"}``: 43101 = the user has no subscription left (final, never retried).

The base URL comes from ``CARD_WECHAT_API_BASE`` so tests and the demo use the stand-in.
"""
from __future__ import annotations

import logging
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from app.integrations.wechat_tokens import SharedTokens

log = logging.getLogger(__name__)

NO_SUBSCRIPTION_LEFT = 43101
NETWORK_ERROR = -2  # our own code for "no answer" (WeChat's -1 is "system busy")


class SendFailed(Exception):
    """WeChat refused or did not answer; ``errcode`` is WeChat's, or -2 for a network failure."""

    def __init__(self, errcode: int) -> None:
        super().__init__(f"WeChat subscribe message failed with errcode {errcode}")
        self.errcode = errcode


class _Client(WeChatClient):
    """wechatpy's client with every URL under ``api_base``; with ``tokens``, the access token is
    the deployment's one (app/integrations/wechat_tokens.py), else this object's own."""

    def __init__(self, appid: str, secret: str, api_base: str, timeout: float, tokens: SharedTokens | None = None) -> None:
        super().__init__(appid, secret, session=tokens, timeout=timeout)
        self._api_base = api_base
        self._tokens = tokens
        self._last_token: str | None = None
        self.API_BASE_URL = api_base + "cgi-bin/"
        self.wxa.API_BASE_URL = api_base

    @property
    def access_token(self) -> Any:
        """The token to send with (wechatpy's rule), remembered so a refresh knows which one failed."""
        self._last_token = super().access_token
        return self._last_token

    def fetch_access_token(self) -> Any:
        """A new token from ``cgi-bin/token``; with shared tokens, one fetch at a time across workers."""
        def fetch() -> Any:
            return self._fetch_access_token(url=self._api_base + "cgi-bin/token",
                                            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
        if self._tokens is None:
            return fetch()
        answer = self._tokens.refresh(self.access_token_key, self._last_token, fetch)
        self._last_token = self._tokens.get(self.access_token_key)
        return answer


class SubscribeMessenger:
    """Sends one subscribe message per call; raises :class:`SendFailed`. ``tokens``: the
    deployment's shared access token (``Runtime.wechat_tokens``); without it, this object's own."""

    def __init__(self, appid: str, secret: str, api_base: str, timeout: float = 5.0, tokens: SharedTokens | None = None) -> None:
        self._client = _Client(appid, secret, api_base, timeout, tokens)

    def send(self, openid: str, template_id: str, data: dict[str, str], page: str | None = None) -> None:
        """Send ``data`` (field name -> value) with ``template_id`` to ``openid``."""
        payload = {name: {"value": value} for name, value in data.items()}
        try:
            self._client.wxa.send_subscribe_message(openid, template_id, payload, page=page)
        except WeChatClientException as exc:
            raise SendFailed(int(exc.errcode)) from None
        except (requests.RequestException, ValueError) as exc:  # the exception text may quote the token URL
            log.warning("WeChat subscribe message unreachable: %s", type(exc).__name__)
            raise SendFailed(NETWORK_ERROR) from None
