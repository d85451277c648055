"""The methods a route answers besides its own: OPTIONS (RFC 9110 §9.3.7) and HEAD (§9.3.2)."""
from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, Response


def allow_header(methods: Iterable[str]) -> str:
    """The ``Allow`` value for ``methods``: sorted, so every server process sends the same one
    (Werkzeug gathers the methods in a set, whose order changes with each process's hash seed)."""
    return ", ".join(sorted(set(methods)))


class CardFlask(Flask):
    """Flask, with OPTIONS answered ``204`` and ``Allow`` (:func:`allow_header`) only: Flask's own
    answer is an empty ``200 text/html``, the one non-JSON body an API path could give."""

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
