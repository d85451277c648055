"""End to end through gunicorn (the settings ``citizencard serve`` uses) and the real CLI.

Runs on PostgreSQL + Redis and on the embedded default (SQLite + SQL store), with several
worker processes, so the one-time rule is tested across processes.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from scenes.signing import authorization_header
from standins.wechat import WeChatStandIn

from .. import backends
from ..conftest import APP_SECRET, APPID
from ..helpers import PERSON

pytestmark = pytest.mark.e2e
SAMPLE_ROSTER = Path(__file__).resolve().parents[2] / "app" / "samples" / "roster.csv"
VERIFY_PATH = "/api/partner/v1/verifications"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``citizencard serve`` in a subprocess, plus the CLI against the same settings."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 3) -> None:
        self.env, self.log_path, self.workers = env, log_path, workers
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app", *args], env=self.env,
                              capture_output=True, text=True, timeout=60, check=False)

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "app", "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        # 90 s: on a loaded 2-core machine three workers importing the app can take most of a minute.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break  # it exited (a refused start-up check, a bad setting): no point waiting
            try:
                if requests.get(self.base + "/readyz", timeout=5).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
                time.sleep(0.2)
        self.stop()  # never leave a half-started gunicorn behind
        raise RuntimeError("gunicorn did not start:\n" + self.log_path.read_text())

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture(params=["production", "embedded"])
def server(request: pytest.FixtureRequest, tmp_path: Path, wechat: WeChatStandIn, worker_id: str) -> Iterator[Server]:
    env = {**os.environ, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET,
           "CARD_WECHAT_API_BASE": wechat.base_url, "CARD_INSTANCE_PATH": str(tmp_path)}
    env.pop("REDIS_URL", None)
    if request.param == "production":
        env["DATABASE_URL"] = backends.migrated_postgres(worker_id, "e2e")
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    else:
        env["DATABASE_URL"] = backends.migrated_sqlite(tmp_path)
    srv = Server(env, tmp_path / "gunicorn.log")
    srv.start()
    yield srv
    srv.stop()


def _signed(partner: dict[str, str], code: str, terminal: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"code": code, "scene": "transit", "terminal_id": terminal}).encode()
    header = authorization_header(partner["partner_id"], partner["secret"], "POST", VERIFY_PATH, body,
                                  int(time.time()), secrets.token_hex(16))
    return body, {"Authorization": header, "Content-Type": "application/json"}


def _client_from_the_docs():  # type: ignore[no-untyped-def]
    """The Python client printed in docs/partner-api.md, executed as a partner would copy it."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "partner-api.md").read_text()
    source = doc.split("## Client example (Python)", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(source, "partner-api.md", "exec"), namespace)  # noqa: S102
    return namespace["verify"]


def test_the_main_job_through_gunicorn(server: Server, wechat: WeChatStandIn) -> None:
    imported = server.cli("roster", "import", str(SAMPLE_ROSTER))
    assert imported.returncode == 0, imported.stderr
    created = server.cli("partner", "create", "--name", "Metro", "--scenes", "transit", "--json")
    partner = json.loads(created.stdout)
    gates = server.log_path.parent / "gates.csv"
    gates.write_text("terminal_id,name,location\n" + "".join(f"gate-{n},Gate {n},Hall A\n" for n in range(50))
                     + "doc-client,Doc,Hall B\n", encoding="utf-8")
    registered = server.cli("partner", "terminal", "import", partner["partner_id"], str(gates))
    assert registered.returncode == 0 and "51 terminals: 51 registered, 0 updated, 0 restored" in registered.stdout, registered.stderr

    http = requests.Session()
    login = http.post(server.base + "/api/mp/v1/auth/wechat", json={"code": wechat.issue_code()}, timeout=10)
    assert login.status_code == 200
    bearer = {"Authorization": f"Bearer {login.json()['token']}"}
    assert http.post(server.base + "/api/mp/v1/binding", json=PERSON, headers=bearer, timeout=10).status_code == 200
    code = http.get(server.base + "/api/mp/v1/card/code", headers=bearer, timeout=10).json()["code"]

    def attempt(n: int) -> dict:
        body, headers = _signed(partner, code, f"gate-{n}")
        answer = requests.post(server.base + VERIFY_PATH, data=body, headers=headers, timeout=30)
        return {"status": answer.status_code, **answer.json()}

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(attempt, range(50)))
    assert all("accepted" in answer for answer in answers), [a for a in answers if "accepted" not in a]
    assert sum(answer["accepted"] for answer in answers) == 1
    assert sorted(answer["reason"] for answer in answers if not answer["accepted"]) == ["code_used"] * 49

    documented_client = _client_from_the_docs()
    fresh = http.get(server.base + "/api/mp/v1/card/code", headers=bearer, timeout=10).json()["code"]
    answer = documented_client(server.base, partner["partner_id"], partner["secret"], fresh, "transit", "doc-client")
    assert answer["accepted"] is True

    history = http.get(server.base + "/api/mp/v1/card/verifications?limit=100", headers=bearer, timeout=10).json()
    assert len(history["items"]) == 51

    server.stop()
    log = server.log_path.read_text()
    assert "POST /api/partner/v1/verifications" in log  # the access log is on
    for private in (PERSON["id_number"], PERSON["name"], PERSON["phone"], code, login.json()["token"], partner["secret"]):
        assert private not in log


def test_errors_raised_by_gunicorn_itself_are_json_envelopes(server: Server) -> None:
    too_long = requests.get(server.base + "/api/mp/v1/card/code?x=" + "a" * 5000, timeout=10)
    assert too_long.status_code == 414 and too_long.json()["error"]["code"] == "uri_too_long"
    big_header = requests.get(server.base + "/api/mp/v1/card/code", headers={"X-Big": "a" * 9000}, timeout=10)
    assert big_header.status_code in (400, 431) and "error" in big_header.json()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(b"post /api/mp/v1/auth/wechat HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = raw.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 400") and "application/json" in answer and '"error"' in answer


def test_the_access_log_cannot_be_forged_with_an_encoded_newline(server: Server) -> None:
    requests.get(server.base + "/api/x%0AFORGED%20LINE", timeout=10)
    server.stop()
    assert not any(line.startswith("FORGED") for line in server.log_path.read_text().splitlines())
