"""Probes and metrics (issue 19, item 1): /healthz, /readyz naming what failed, /metrics in the
Prometheus format and only to loopback (not through a proxy) or with the bearer token."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask_migrate import stamp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.platform.db import db
from app.platform.store import StoreUnavailable

from ..helpers import ApiClient

TOKEN = "m" * 40
VERIFY_ROUTE = "/api/partner/v1/verifications"


def scrape(api: ApiClient, **environ: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = api.client.get("/metrics", environ_base=environ)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for sample in family.samples}


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _forget_revision(api: ApiClient) -> None:
    with api.app.app_context(), db.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture
def stamped(api: ApiClient) -> Iterator[None]:
    """The test tables are made by create_all: mark them as the migrations' head (and forget it
    after: the PostgreSQL schema is shared by the tests)."""
    with api.app.app_context():
        stamp()
    yield
    _forget_revision(api)


def test_healthz_answers_ok_without_asking_anything_else(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.rt.store, "ping", lambda: (_ for _ in ()).throw(StoreUnavailable("down")))
    response = api.client.get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "ok"})


@pytest.mark.usefixtures("stamped")
def test_readyz_is_ready_when_database_store_and_schema_are(api: ApiClient) -> None:
    response = api.client.get("/readyz")
    assert (response.status_code, response.json) == (200, {"status": "ready"})


def test_readyz_names_a_schema_behind_the_migrations(api: ApiClient) -> None:
    _forget_revision(api)
    response = api.client.get("/readyz")  # create_all made the tables, no revision is recorded
    assert response.status_code == 503
    assert response.json["error"] == {"code": "not_ready", "message": "not ready: migrations", "details": {"failed": ["migrations"]}}


@pytest.mark.usefixtures("stamped")
def test_readyz_names_a_store_that_does_not_answer(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:

    def down() -> None:
        raise StoreUnavailable("connection refused to secret-host:6379")

    monkeypatch.setattr(api.rt.store, "ping", down)
    response = api.client.get("/readyz")
    assert response.status_code == 503 and response.json["error"]["details"] == {"failed": ["store"]}
    assert "secret-host" not in response.get_data(as_text=True)


@pytest.mark.usefixtures("stamped")
def test_readyz_names_a_database_that_does_not_answer(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:

    def down(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    with api.app.app_context():
        monkeypatch.setattr(db.session, "execute", down)
        response = api.client.get("/readyz")
    assert response.status_code == 503 and response.json["error"]["details"] == {"failed": ["database"]}


def test_metrics_count_requests_verifications_batches_and_503s(api: ApiClient) -> None:
    @api.app.get("/_store_down")
    def _store_down() -> None:
        raise StoreUnavailable("down")

    _forget_revision(api)
    citizen, partner = api.bound_citizen(), api.partner()
    before = scrape(api)
    assert api.verify(partner, api.code(citizen)).status_code == 200
    assert api.verify(partner, "DGC1.not-a-code").status_code == 200
    assert api.client.get("/no/such/path").status_code == 404
    assert api.client.get("/_store_down").status_code == 503
    assert api.client.get("/readyz").status_code == 503  # not stamped: not_ready
    after = scrape(api)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("card_http_requests_total", method="POST", route=VERIFY_ROUTE, status="200") == 2
    assert grew("card_http_request_duration_seconds_count", method="POST", route=VERIFY_ROUTE) == 2
    assert grew("card_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert grew("card_verifications_total", scene="transit", outcome="accepted", reason="none") == 1
    refused = {labels: after[(name, labels)] for name, labels in after
               if name == "card_verifications_total" and ("outcome", "refused") in labels}
    assert refused, "the invalid code is counted as a refusal with its reason"
    assert grew("card_group_commit_batch_size_count") >= 1
    assert grew("card_unavailable_total", cause="store") == 1
    assert grew("card_unavailable_total", cause="not_ready") == 1
    assert not any("no/such" in str(labels) for _, labels in after)  # a path a client made up is no label


@pytest.mark.parametrize("environ", [
    {"REMOTE_ADDR": "192.0.2.9"},
    {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "192.0.2.9"},  # a proxy on the same host
    {"REMOTE_ADDR": "192.0.2.9", "HTTP_AUTHORIZATION": "Bearer " + "x" * 40},
])
def test_metrics_are_not_shown_to_others(api: ApiClient, environ: dict[str, str]) -> None:
    response = api.client.get("/metrics", environ_base=environ)
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_metrics_are_shown_anywhere_with_the_token(api: ApiClient) -> None:
    api.app.config["CARD_METRICS_TOKEN"] = TOKEN
    scrape(api, REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR="203.0.113.1", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def test_probes_are_not_partner_operations_in_the_contract(api: ApiClient) -> None:
    import json
    from pathlib import Path

    document = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    assert not {"/healthz", "/readyz", "/metrics"} & set(document["paths"])
