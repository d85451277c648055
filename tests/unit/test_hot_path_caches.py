"""The per-request work kept once per process (issue 25): Flask's ``ensure_sync`` answer per
function (app.platform.http_methods.CardFlask) and the metrics' labelled children
(app.platform.metrics._child). Each must give what the uncached call gives."""
from __future__ import annotations

from typing import Any

import flask.app
import pytest
from prometheus_client import CollectorRegistry, Counter

from app.platform import metrics
from app.platform.http_methods import CardFlask


def test_ensure_sync_asks_inspect_once_per_function_and_hooks_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Any] = []
    real = flask.app.iscoroutinefunction

    def counting(func: Any) -> bool:
        asked.append(func)
        return real(func)

    monkeypatch.setattr(flask.app, "iscoroutinefunction", counting)
    probe = CardFlask("probe")
    ran: list[str] = []
    probe.before_request(lambda: ran.append("before"))
    probe.add_url_rule("/r", "r", lambda: "ok")
    client = probe.test_client()
    for _ in range(5):
        assert client.get("/r").get_data(as_text=True) == "ok"
    assert ran == ["before"] * 5
    assert len(asked) == len({id(func) for func in asked})  # each function asked about once, not per request
    assert len(asked) >= 2  # the hook and the view


def test_an_async_view_is_still_handed_to_flask() -> None:
    probe = CardFlask("probe")

    async def view() -> str:
        return "ok"

    # Flask's own answer for a coroutine function (here: asgiref is not installed), not the function itself
    with pytest.raises(RuntimeError, match="async"):
        probe.ensure_sync(view)
    with pytest.raises(RuntimeError, match="async"):
        probe.ensure_sync(view)  # asked again: not remembered as if it were synchronous


def test_a_kept_child_is_the_metrics_own_and_counts() -> None:
    counter = Counter("probe_total", "probe", ["a", "b"], registry=CollectorRegistry())
    child = metrics._child(counter, "x", "y")
    assert child is counter.labels("x", "y")
    assert metrics._child(counter, "x", "y") is child
    metrics._child(counter, "x", "y").inc()
    metrics._child(counter, "x", "z").inc(2)
    assert counter.labels("x", "y")._value.get() == 1
    assert counter.labels("x", "z")._value.get() == 2
