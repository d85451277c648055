"""Issue 15 item 6 through gunicorn (several worker processes): binding per account, binding per
ID number, and the SMS code of a phone change count every attempt first, atomically, and decide
on that count; at least 32 simultaneous attempts each, counting how many were evaluated."""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from standins.wechat import WeChatStandIn

from ..helpers import PERSON
from .test_gunicorn import SAMPLE_ROSTER, Server, server  # noqa: F401 (the fixture)

pytestmark = pytest.mark.e2e
BURST = 32


def _login(srv: Server, wechat: WeChatStandIn) -> dict[str, str]:
    answer = requests.post(srv.base + "/api/mp/v1/auth/wechat", json={"code": wechat.issue_code()}, timeout=30)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _bind(srv: Server, bearer: dict[str, str], body: dict) -> requests.Response:
    return requests.post(srv.base + "/api/mp/v1/binding", json=body, headers=bearer, timeout=60)


def test_simultaneous_binding_attempts_are_evaluated_only_within_the_limits(server: Server, wechat: WeChatStandIn) -> None:  # noqa: F811
    assert server.cli("roster", "import", str(SAMPLE_ROSTER)).returncode == 0
    one_account = _login(server, wechat)
    with ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(lambda n: _bind(server, one_account, {**PERSON, "name": f"猜{n}"}), range(BURST)))
    evaluated = [a for a in answers if a.status_code != 429]
    assert len(evaluated) == 5 and {a.json()["error"]["code"] for a in evaluated} == {"identity_mismatch"}

    accounts = [_login(server, wechat) for _ in range(BURST + 4)]
    with ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(lambda bearer: _bind(server, bearer, {**PERSON, "name": "猜测"}), accounts))
    codes = [a.json()["error"]["code"] for a in answers]
    assert "internal_error" not in codes
    # one ID number had 5 attempts already (the first burst): 15 more are evaluated, the rest step up
    assert codes.count("identity_mismatch") == 15 and codes.count("sms_code_required") == BURST + 4 - 15


def test_the_right_sms_code_after_simultaneous_wrong_ones_is_refused(server: Server, wechat: WeChatStandIn) -> None:  # noqa: F811
    assert server.cli("roster", "import", str(SAMPLE_ROSTER)).returncode == 0
    bearer = _login(server, wechat)
    assert _bind(server, bearer, PERSON).status_code == 200
    sent = requests.post(server.base + "/api/mp/v1/card/phone/code", json={"phone": "13900139000"}, headers=bearer, timeout=30)
    assert sent.status_code == 200
    code = _code_from_log(server)
    wrong = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, BURST + 1)]

    def change(guess: str) -> requests.Response:
        return requests.put(server.base + "/api/mp/v1/card/phone", json={"phone": "13900139000", "sms_code": guess},
                            headers=bearer, timeout=60)

    with ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(change, wrong))
    assert {a.status_code for a in answers} == {422}
    evaluated = [a for a in answers if not a.json()["error"]["details"].get("code_void")]
    assert len(evaluated) == 5
    right = change(code)
    assert right.status_code == 422 and right.json()["error"]["details"]["code_void"] is True


def _code_from_log(srv: Server) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = re.findall(r"验证码 ([0-9]{6})", srv.log_path.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError("the SMS code was not logged by the console sender")
