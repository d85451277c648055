"""The methods a route answers besides its own: OPTIONS (RFC 9110 §9.3.7) and HEAD (§9.3.2)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response


def allow_header(methods: Iterable[str]) -> str:
    """The ``Allow`` value for ``methods``: sorted, so every server process sends the same one
    (Werkzeug gathers the methods in a set, whose order changes with each process's hash seed)."""
    return ", ".join(sorted(set(methods)))


class CardFlask(Flask):
    """Flask, with OPTIONS answered ``204`` and ``Allow`` (:func:`allow_header`) only: Flask's own
    answer is an empty ``200 text/html``, the one non-JSON body an API path could give."""

    _SYNC_CACHE_SIZE = 4096  # views, hooks and error handlers are a fixed set: this bounds the odd other

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's, remembered per function: Flask asks it for every hook, view and teardown of every
        request, and each answer cost an ``inspect.iscoroutinefunction`` (17 per verification, issue 25)."""
        cache: dict[Any, Callable[..., Any]] = self.__dict__.setdefault("_sync_functions", {})
        try:
            return cache[func]
        except KeyError:
            synced = super().ensure_sync(func)
            if len(cache) < self._SYNC_CACHE_SIZE:
                cache[func] = synced
            return synced
        except TypeError:  # unhashable
            return super().ensure_sync(func)

    def make_default_options_response(self) -> Response:
        response = super().make_default_options_response()
        response.status_code = 204
        response.headers["Allow"] = allow_header(response.allow)
        del response.headers["Content-Type"]
        return response


def refuse_head(app: Flask, *endpoints: str) -> None:
    """HEAD on these endpoints is a 405 envelope (with ``Allow``), no longer the GET view run
    with its body dropped: Werkzeug adds HEAD to every GET route, and a GET with an effect (one
    of the 100 codes a device may issue per time step, ``GET /card/code``) must not have it
    spent by a request that never sees the answer."""
    for endpoint in endpoints:
        rules = list(app.url_map.iter_rules(endpoint))
        if not rules:
            raise LookupError(f"no route for endpoint {endpoint}")
        for rule in rules:
            assert rule.methods is not None
            rule.methods.discard("HEAD")
