"""Issue 15 item 6 (card guessing): a burst of simultaneous wrong codes against one card, through
gunicorn (several workers), is evaluated at most the documented 10 times (docs/qr-format.md
"Guessing"): the limit counts first, atomically, then decides."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import requests

from app.scanning import guessing
from standins.wechat import WeChatStandIn

from ..helpers import PERSON
from .test_gunicorn import SAMPLE_ROSTER, VERIFY_PATH, Server, _signed, server  # noqa: F401 (the fixture)

BURST = 64


def _wrong(code: str, n: int) -> str:
    return code[:-8] + f"{(int(code[-8:]) + n) % 10**8:08d}"


def test_a_burst_of_64_wrong_codes_is_evaluated_at_most_10_times(server: Server, wechat: WeChatStandIn) -> None:  # noqa: F811
    assert server.cli("roster", "import", str(SAMPLE_ROSTER)).returncode == 0
    partner = json.loads(server.cli("partner", "create", "--name", "Metro", "--scenes", "transit", "--json").stdout)
    gates = server.log_path.parent / "gates.csv"
    gates.write_text("terminal_id,name,location\n" + "".join(f"gate-{n},Gate {n},Hall\n" for n in range(BURST + 1)), encoding="utf-8")
    assert server.cli("partner", "terminal", "import", partner["partner_id"], str(gates)).returncode == 0
    http = requests.Session()
    token = http.post(server.base + "/api/mp/v1/auth/wechat", json={"code": wechat.issue_code()}, timeout=10).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert http.post(server.base + "/api/mp/v1/binding", json=PERSON, headers=bearer, timeout=10).status_code == 200
    code = http.get(server.base + "/api/mp/v1/card/code", headers=bearer, timeout=10).json()["code"]
    barrier = Barrier(BURST)

    def guess(n: int) -> str:
        body, headers = _signed(partner, _wrong(code, n + 1), f"gate-{n}")
        barrier.wait()
        answer = requests.post(server.base + VERIFY_PATH, data=body, headers=headers, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()["reason"]

    with ThreadPoolExecutor(BURST) as pool:
        reasons = list(pool.map(guess, range(BURST)))
    evaluated = reasons.count("code_invalid")  # a wrong code answered as such: its password was tried
    assert evaluated + reasons.count("card_throttled") == BURST
    assert 1 <= evaluated <= guessing.CARD_FREE_FAILURES, reasons
    body, headers = _signed(partner, code, f"gate-{BURST}")
    assert requests.post(server.base + VERIFY_PATH, data=body, headers=headers, timeout=30).json()["reason"] == "card_throttled"
