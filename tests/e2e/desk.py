"""Shared by the service-desk e2e tests: ``citizencard serve`` (3 workers) on either backend, a
bound citizen, and a staff member logged in to the console through the real server."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
import requests

from standins.wechat import WeChatStandIn

from .. import backends
from ..conftest import APP_SECRET, APPID
from ..helpers import PERSON, STAFF_PASSWORD
from .test_gunicorn import SAMPLE_ROSTER, Server


@pytest.fixture(params=["production", "embedded"])
def desk_server(request: pytest.FixtureRequest, tmp_path: Path, wechat: WeChatStandIn, worker_id: str) -> Iterator[Server]:
    env = {**os.environ, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET,
           "CARD_WECHAT_API_BASE": wechat.base_url, "CARD_INSTANCE_PATH": str(tmp_path),
           "CARD_CONSOLE_SECURE_COOKIE": "0"}  # plain HTTP on loopback
    env.pop("REDIS_URL", None)
    if request.param == "production":
        env["DATABASE_URL"] = backends.migrated_postgres(worker_id, "e2e")
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    else:
        env["DATABASE_URL"] = backends.migrated_sqlite(tmp_path)
    server = Server(env, tmp_path / "gunicorn.log")
    server.start()
    imported = server.cli("roster", "import", str(SAMPLE_ROSTER))
    assert imported.returncode == 0, imported.stderr
    yield server
    server.stop()


def bound_citizen(server: Server, wechat: WeChatStandIn) -> dict[str, str]:
    """The bearer header of a citizen bound to the sample person."""
    login = requests.post(server.base + "/api/mp/v1/auth/wechat", json={"code": wechat.issue_code()}, timeout=30)
    bearer = {"Authorization": f"Bearer {login.json()['token']}"}
    assert requests.post(server.base + "/api/mp/v1/binding", json=PERSON, headers=bearer, timeout=30).status_code == 200
    return bearer


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_session(server: Server, username: str, role: str) -> requests.Session:
    """A staff account made with the CLI, logged in to /console: a session with its cookie."""
    made = server.cli("staff", "create", "--role", role, "--username", username, "--json", "--password", STAFF_PASSWORD)
    assert made.returncode == 0, made.stderr
    seed = json.loads(made.stdout)["totp_seed"]
    http = requests.Session()
    token = CSRF.search(http.get(server.base + "/console/login", timeout=30).text).group(1)  # type: ignore[union-attr]
    answer = http.post(server.base + "/console/login", timeout=30, allow_redirects=False, data={
        "csrf_token": token, "username": username, "password": STAFF_PASSWORD, "otp": pyotp.TOTP(seed).now()})
    assert answer.status_code == 302, answer.text[:300]
    return http


def csrf_of(http: requests.Session, url: str) -> str:
    return CSRF.search(http.get(url, timeout=30).text).group(1)  # type: ignore[union-attr]
