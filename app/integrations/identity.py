"""The identity a mini-program platform vouches for after a successful login."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlatformIdentity:
    """Who logged in, as the platform says.

    ``platform`` is ``"wechat"`` or ``"alipay"``; ``openid`` is the per-app user id
    (WeChat ``openid``; Alipay ``open_id``, else ``user_id``); ``unionid`` is the
    WeChat Open Platform id, ``None`` when the platform does not send one.
    """

    platform: str
    openid: str
    unionid: str | None = None
