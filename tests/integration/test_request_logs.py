"""Request ids and JSON logs (issue 19, item 2): X-Request-Id accepted or generated and returned;
with CARD_LOG_FORMAT=json one JSON line per request and per application event, with both times and
the request id, the route's template and never the values a client sent."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from app.platform.clock import FrozenClock
from app.platform.store import StoreUnavailable
from standins.wechat import WeChatStandIn

from ..conftest import make_app
from ..helpers import ApiClient, dispose


@pytest.fixture
def json_api(request: pytest.FixtureRequest, tmp_path: Any, clock: FrozenClock, wechat: WeChatStandIn) -> Iterator[ApiClient]:
    application = make_app("embedded", request, tmp_path, clock, wechat, CARD_LOG_FORMAT="json")
    yield ApiClient(application, wechat, clock)
    dispose(application)


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_request_id_is_generated_and_returned(api: ApiClient) -> None:
    first, second = api.client.get("/healthz"), api.client.get("/healthz")
    assert len(first.headers["X-Request-Id"]) == 32 and first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


@pytest.mark.parametrize(("given", "kept"), [("req-7f3a.b_2", True), ("a" * 64, True), ("a" * 65, False),
                                             ("two words", False), ("x\\ny", False), ("", False)])
def test_a_clients_request_id_is_kept_only_when_plain_and_short(api: ApiClient, given: str, kept: bool) -> None:
    answer = api.client.get("/no/such/path", headers={"X-Request-Id": given})
    assert answer.status_code == 404 and (answer.headers["X-Request-Id"] == given) is kept
    assert len(answer.headers["X-Request-Id"]) <= 64


def test_json_mode_logs_one_line_per_request_with_its_id(json_api: ApiClient, capsys: pytest.CaptureFixture[str]) -> None:
    citizen, partner = json_api.bound_citizen(), json_api.partner()
    code = json_api.code(citizen)
    capsys.readouterr()
    answer = json_api.verify(partner, code)
    assert answer.status_code == 200
    lines = _json_lines(capsys.readouterr().err)
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) == 1
    line = requests[0]
    assert line["request_id"] == answer.headers["X-Request-Id"]
    assert (line["method"], line["route"], line["status"], line["partner_id"]) == (
        "POST", "/api/partner/v1/verifications", 200, partner["partner_id"])
    assert line["time_utc"].endswith("+00:00") and line["time_shanghai"].endswith("+08:00")
    assert isinstance(line["duration_ms"], float) and line["level"] == "INFO"
    assert code not in json.dumps(lines)


def test_json_mode_application_events_carry_the_request_id(json_api: ApiClient, capsys: pytest.CaptureFixture[str]) -> None:
    @json_api.app.get("/_store_down")
    def _store_down() -> None:
        raise StoreUnavailable("down")

    capsys.readouterr()
    answer = json_api.client.get("/_store_down?id_number=440101199001011234", headers={"X-Request-Id": "trace-1"})
    assert answer.status_code == 503
    lines = _json_lines(capsys.readouterr().err)
    event = next(line for line in lines if line.get("message", "").startswith("backing service unavailable"))
    assert event["request_id"] == "trace-1" and event["level"] == "ERROR" and event["logger"] == "app.platform.http_errors"
    assert [line["route"] for line in lines if line.get("event") == "request"] == ["/_store_down"]
    assert "440101199001011234" not in json.dumps(lines)


def test_text_mode_keeps_plain_lines(api: ApiClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    api.client.get("/healthz")
    assert _json_lines(capsys.readouterr().err) == []
