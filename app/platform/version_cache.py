"""A small per-process cache of immutable answers, built once per key (single flight).

Used for the published deny-list versions (app/card/offline_lists.py): a version never changes
once published, so its bytes (the full list, a delta from an earlier version) are loaded or built
by the first request that needs them, while concurrent requests for the same key wait for that one
build instead of repeating it. Keys should name the content exactly (a version and its issue time).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

DEFAULT_ENTRIES = 64


class VersionCache:
    """``get(key, build)`` returns the cached value, else calls ``build()`` once for all concurrent
    callers of that key and keeps its result (None too) among the ``entries`` most recently used.
    ``publishing`` is a process-wide lock for the one builder of a new version."""

    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self._size = entries
        self.publishing = threading.Lock()

    def _cached(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return True, self._entries[key]
            return False, None

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` under ``key`` (evicting the least recently used beyond the size)."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The value of ``key``, built by ``build()`` at most once while it stays cached."""
        found, value = self._cached(key)
        if found:
            return value
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:
            found, value = self._cached(key)
            if not found:
                value = build()
                self.put(key, value)
            with self._lock:
                self._building.pop(key, None)
        return value
