"""A signed request's nonce: single-use for 10 minutes per partner (docs/partner-api.md §Signing).

The claim is a ``SET NX`` in the store. A handler may defer it to fold it into its own store
step: a verification's atomic use claims the nonce in the same Lua script (one Redis round trip
instead of two on the accepted path, issue 7; on a Redis Cluster the store claims it just before,
as the nonce's key has no card's hash tag: app.platform.store.RedisClusterStore). Whoever holds a :class:`NonceClaim` must claim it
before the request has any effect, and every path must claim it exactly once.
"""
from __future__ import annotations

from typing import Any

from app.platform.errors import AppError
from app.platform.request_signing import SCHEME
from app.runtime import Runtime

NONCE_TTL_SECONDS = 600


def unauthorized(code: str, message: str, details: dict[str, Any] | None = None) -> AppError:
    """A 401 in our envelope, with ``WWW-Authenticate: CC-HMAC-SHA256``."""
    return AppError(code, 401, message, details or {}, headers={"WWW-Authenticate": SCHEME})


def nonce_reused() -> AppError:
    return unauthorized("nonce_reused", "this nonce was already used; send a fresh one")


class NonceClaim:
    """The nonce of one authenticated request, not yet claimed: ``key`` in the store, ``ttl`` seconds."""

    def __init__(self, rt: Runtime, partner_pk: int, nonce: str) -> None:
        self._rt = rt
        self.key = f"nonce:{partner_pk}:{nonce}"
        self.ttl = NONCE_TTL_SECONDS
        self.claimed = False

    def claim(self) -> None:
        """Claim now (a no-op once claimed); 401 ``nonce_reused`` if it was used before."""
        if self.claimed:
            return
        if not self._rt.store.claim(self.key, self.ttl):
            raise nonce_reused()
        self.claimed = True

    def folded(self) -> tuple[str, int] | None:
        """``(key, ttl)`` for a store step that claims it atomically with its own work (then call
        :meth:`settle` with that step's verdict), or None once claimed."""
        return None if self.claimed else (self.key, self.ttl)

    def settle(self, taken: bool) -> None:
        """After a folded claim: 401 ``nonce_reused`` if the key was taken, else mark it claimed."""
        if taken:
            raise nonce_reused()
        self.claimed = True
