"""One WeChat access token for the whole deployment, kept in the platform's store.

WeChat issues one access token per app (``GET cgi-bin/token``, 7200 s) and **every fetch
invalidates the previous one** (../shared/notes/wechat-alipay.md). A token cached per process, as
wechatpy does by default (``MemoryStorage``), makes each gunicorn worker and each client object
fetch its own, and each fetch breaks the others' sends (40001) until they fetch again: a ping-pong
that burns the daily quota (2,000 fetches). So every wechatpy client here keeps its token in
:class:`SharedTokens` (Redis, the Redis Cluster or the SQL store: the same store as nonces and
limits), and a refresh is guarded: one fetch at a time across the deployment, the others wait for
it and take the new token (:meth:`SharedTokens.refresh`).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from wechatpy.session import SessionStorage

from app.platform.store import Store

KEY_PREFIX = "wechat:"
EARLY_SECONDS = 300  # stored for expires_in - 5 min, so no worker sends with a token about to lapse
REFRESH_GUARD_SECONDS = 10
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05


class SharedTokens(SessionStorage):
    """wechatpy's session storage (``get``/``set``/``delete`` of ``{appid}_access_token``) on
    :class:`~app.platform.store.Store`. ``ttl`` in seconds as WeChat's ``expires_in``."""

    def __init__(self, store: Store, sleep: Callable[[float], None] = time.sleep) -> None:
        self._store = store
        self._sleep = sleep

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value of ``key`` (an empty one counts as none), else ``default``."""
        value = self._store.get(KEY_PREFIX + key)
        return value if value else default

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Keep ``value`` for ``ttl`` seconds less 5 minutes (at least 60 s; 7200 s when not given)."""
        self._store.put(KEY_PREFIX + key, str(value), max(60, (ttl or 7200) - EARLY_SECONDS))

    def delete(self, key: str) -> None:
        """Forget ``key`` (the store has no delete: an empty value for one second)."""
        self._store.put(KEY_PREFIX + key, "", 1)

    def refresh(self, key: str, stale: str | None, fetch: Callable[[], Any]) -> Any:
        """Replace the token ``stale`` (the one the caller last used, or None) with a new one.

        If the stored token already differs from ``stale``, another worker refreshed it: nothing is
        fetched. Else one caller across the deployment claims the replacement of ``stale`` (a key per
        token replaced, kept 10 s, so no release is needed) and calls
        ``fetch`` (wechatpy's ``_fetch_access_token``, which stores the new token here); the others
        wait up to 5 s for the new token and fetch themselves only if none came (a crashed holder).
        Returns ``fetch``'s answer, or ``{"access_token": token}`` when another caller's is taken."""
        current = self.get(key)
        if current and current != stale:
            return {"access_token": current}
        replacing = hashlib.sha256((stale or "").encode()).hexdigest()[:16]  # one refresh per token replaced
        if self._store.claim(f"{KEY_PREFIX}refresh:{key}:{replacing}", REFRESH_GUARD_SECONDS):
            return fetch()
        waited = 0.0
        while waited < WAIT_SECONDS:
            self._sleep(POLL_SECONDS)
            waited += POLL_SECONDS
            current = self.get(key)
            if current and current != stale:
                return {"access_token": current}
        return fetch()
