"""/readyz and /metrics through gunicorn (issue 19, item 1): ``serve`` sets up prometheus-client's
multiprocess directory itself, and one scrape adds up the counts of both workers. The server also
takes a gunicorn setting from a CARD_GUNICORN_* variable (item 4): its access-log format, kept on
beside the JSON request lines (item 2)."""
from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from standins.wechat import WeChatStandIn

from .. import backends
from ..conftest import APP_SECRET, APPID
from .test_gunicorn import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path, wechat: WeChatStandIn) -> Iterator[Server]:
    env = {**os.environ, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET,
           "CARD_WECHAT_API_BASE": wechat.base_url, "CARD_INSTANCE_PATH": str(tmp_path),
           "DATABASE_URL": backends.migrated_sqlite(tmp_path), "CARD_GUNICORN_ACCESS_LOG_FORMAT": "ops-e2e %(s)s %(U)s",
           "CARD_LOG_FORMAT": "json", "CARD_GUNICORN_ACCESSLOG": "-"}
    for name in ("REDIS_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    srv = Server(env, tmp_path / "gunicorn.log", workers=2)
    srv.start()
    yield srv
    srv.stop()


def _metrics_dir(server: Server) -> str:
    """The directory ``serve`` chose, from the gunicorn master's environment (it replaced ``serve``)."""
    assert server.process is not None
    environ = Path(f"/proc/{server.process.pid}/environ").read_bytes().split(b"\0")
    found = [entry.split(b"=", 1)[1].decode() for entry in environ if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    assert found, "serve did not set PROMETHEUS_MULTIPROC_DIR"
    return found[0]




def test_one_scrape_adds_up_both_workers(server: Server) -> None:
    assert requests.get(server.base + "/readyz", timeout=10).json() == {"status": "ready"}
    directory = _metrics_dir(server)
    sent, deadline = 0, time.monotonic() + 60

    def hit(_: int) -> int:
        with requests.Session() as session:  # a new connection each: gunicorn's workers take turns accepting
            return session.get(server.base + "/healthz", timeout=10, headers={"Connection": "close"}).status_code

    with ThreadPoolExecutor(16) as pool:
        while time.monotonic() < deadline:
            assert set(pool.map(hit, range(32))) == {200}
            sent += 32
            if len(glob.glob(os.path.join(directory, "counter_*.db"))) >= 2:
                break  # both workers have answered some
    assert len(glob.glob(os.path.join(directory, "counter_*.db"))) >= 2, "one worker answered every request"
    scraped = requests.get(server.base + "/metrics", timeout=10)
    assert scraped.status_code == 200
    counted = sum(sample.value for family in text_string_to_metric_families(scraped.text) for sample in family.samples
                  if sample.name == "card_http_requests_total" and sample.labels.get("route") == "/healthz")
    assert counted == sent
    assert requests.get(server.base + "/metrics", timeout=10, headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 404
    server.stop()
    assert not os.path.exists(directory), "the temporary directory serve made outlives the server"
    log = server.log_path.read_text()
    assert "ops-e2e 200 /healthz" in log  # CARD_GUNICORN_ACCESS_LOG_FORMAT reached gunicorn
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    answered = [line for line in lines if line.get("event") == "request" and line["route"] == "/healthz"]
    assert len(answered) == sent and len({line["request_id"] for line in answered}) == sent
