"""Issue 15, item 15 through gunicorn on PostgreSQL + Redis: a handful of the shapes that were a 500
(tests/integration/test_bad_input.py has every field). Each is a 422 in the one envelope (the
console: its HTML error page), and the server log shows no unhandled error."""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from app.platform.cursor import encode_cursor
from scenes.signing import authorization_header
from standins.wechat import WeChatStandIn

from .. import backends
from ..conftest import APP_SECRET, APPID
from ..helpers import PERSON
from .test_gunicorn import SAMPLE_ROSTER, Server

pytestmark = pytest.mark.e2e
MP = "/api/mp/v1"
PLUS14 = timezone(timedelta(hours=14))


@pytest.fixture
def server(tmp_path: Path, wechat: WeChatStandIn, worker_id: str, redis_url: str) -> Iterator[Server]:
    env = {**os.environ, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET, "CARD_WECHAT_API_BASE": wechat.base_url,
           "CARD_CONSOLE_SECURE_COOKIE": "0", "CARD_INSTANCE_PATH": str(tmp_path),
           "DATABASE_URL": backends.migrated_postgres(worker_id, "e2e"), "REDIS_URL": redis_url}
    srv = Server(env, tmp_path / "gunicorn.log")
    srv.start()
    yield srv
    srv.stop()


def _refused(response: requests.Response, code: str = "validation_error") -> None:
    assert response.status_code == 422, (response.status_code, response.text[:300])
    assert response.json()["error"]["code"] == code, response.text[:300]


def test_hostile_text_cursors_and_instants_are_refused_through_gunicorn(server: Server, wechat: WeChatStandIn) -> None:
    assert server.cli("roster", "import", str(SAMPLE_ROSTER)).returncode == 0
    http = requests.Session()
    token = http.post(server.base + f"{MP}/auth/wechat", json={"code": wechat.issue_code()}, timeout=10).json()["token"]
    http.headers["Authorization"] = f"Bearer {token}"
    assert http.post(server.base + f"{MP}/binding", json=PERSON, timeout=10).status_code == 200

    _refused(http.post(server.base + f"{MP}/complaints", json={"category": "card", "description": "a\x00b"}, timeout=10))
    _refused(http.post(server.base + f"{MP}/complaints/a%00b/messages", json={"body": "x"}, timeout=10))
    year_one = encode_cursor(datetime(1, 1, 1, tzinfo=PLUS14), 1)
    long_id = encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), "9" * 40)
    for cursor in (year_one, long_id):
        _refused(http.get(server.base + f"{MP}/card/verifications", params={"cursor": cursor}, timeout=10), "cursor_invalid")
        _refused(http.get(server.base + f"{MP}/benefits", params={"cursor": cursor}, timeout=10), "cursor_invalid")

    created = server.cli("partner", "create", "--name", "Bureau", "--roles", "medical_insurance", "--json")
    partner = json.loads(created.stdout)
    body = json.dumps({"id_number": PERSON["id_number"], "balance_fen": 1, "as_of": "0001-01-01T00:00:00+14:00"}).encode()
    path = "/api/partner/v1/medical-insurance-accounts"
    header = authorization_header(partner["partner_id"], partner["secret"], "PUT", path, body, int(time.time()), secrets.token_hex(16))
    _refused(requests.put(server.base + path, data=body, headers={"Authorization": header, "Content-Type": "application/json"},
                          timeout=10))

    console = requests.Session()
    token_field = re.search(r'name="csrf_token" value="([^"]+)"', console.get(server.base + "/console/login", timeout=10).text)
    assert token_field
    page = console.post(server.base + "/console/login", timeout=10, data={
        "csrf_token": token_field.group(1), "username": "a\x00b", "password": "x", "otp": "123456"})
    assert page.status_code == 422 and "validation_error" in page.text

    server.stop()
    assert "unhandled error" not in server.log_path.read_text()
