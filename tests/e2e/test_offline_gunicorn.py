"""The DGC2 offline loop end to end through gunicorn on PostgreSQL and Redis (issue 16 "Done when"):
bind, challenge, certificate, a phone-side code (Python), offline acceptance at simulated gates
holding a fresh trust list and deny list, an e-card suspension, the next deny list refuses, and an
upload of the gates' records in which a replay and a clone are both flagged."""
from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from qr import offline
from scenes.signing import authorization_header
from standins.wechat import WeChatStandIn

from .. import backends
from ..conftest import APP_SECRET, APPID
from ..helpers import PERSON
from ..unit.test_dgc2_js import _node
from .test_gunicorn import SAMPLE_ROSTER, Server

pytestmark = pytest.mark.e2e
P = "/api/partner/v1"
INSTALLATION = "phone-e2e-offline-01"


@pytest.fixture
def pg_server(tmp_path: Path, wechat: WeChatStandIn, worker_id: str, redis_url: str) -> Iterator[Server]:
    env = {**os.environ, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET,
           "CARD_WECHAT_API_BASE": wechat.base_url, "CARD_INSTANCE_PATH": str(tmp_path),
           "DATABASE_URL": backends.migrated_postgres(worker_id, "e2eoff"), "REDIS_URL": redis_url}
    srv = Server(env, tmp_path / "gunicorn.log")
    srv.start()
    yield srv
    srv.stop()


class Partner:
    def __init__(self, server: Server, credentials: dict[str, str]) -> None:
        self.server, self.credentials = server, credentials

    def request(self, method: str, path: str, body: bytes = b"") -> requests.Response:
        partner_id, secret = self.credentials["partner_id"], self.credentials["secret"]
        header = authorization_header(partner_id, secret, method, path, body, int(time.time()), secrets.token_hex(16))
        headers = {"Authorization": header, **({"Content-Type": "application/json"} if body else {})}
        return requests.request(method, self.server.base + path, data=body or None, headers=headers, timeout=60)


def _js_phone_code(server: Server, http: requests.Session, bearer: dict[str, str]) -> str:
    """A second certificate, for a device key made by miniprogram/dgc2 under Node, and its first code."""
    nonce = http.post(server.base + "/api/mp/v1/card/offline/challenge", json={"installation_id": INSTALLATION},
                      headers=bearer, timeout=10).json()["nonce"]
    phone = json.loads(_node("bin/dgc2-phone.js", stdin=json.dumps({"op": "request", "alg": "ed25519", "nonce": nonce})).stdout)
    issued = http.post(server.base + "/api/mp/v1/card/offline/certificates", json={"nonce": nonce, **phone["request"]},
                       headers=bearer, timeout=30)
    assert issued.status_code == 200, issued.text
    made = _node("bin/dgc2-phone.js", stdin=json.dumps({
        "op": "codes", "device": phone["device"], "certificate": issued.json()["certificates"][0]["certificate"],
        "codes": [{"t": int(time.time()), "ctr": 0}]}))
    return json.loads(made.stdout)["codes"][0]


def test_the_offline_loop_through_gunicorn(pg_server: Server, wechat: WeChatStandIn) -> None:
    server = pg_server
    assert server.cli("roster", "import", str(SAMPLE_ROSTER)).returncode == 0
    created = server.cli("partner", "create", "--name", "Metro", "--scenes", "transit", "--json")
    metro = Partner(server, json.loads(created.stdout))
    gates_csv = server.log_path.parent / "gates.csv"
    gates_csv.write_text("terminal_id,name,location\ngate-A,Gate A,Hall A\ngate-B,Gate B,Hall B\n", encoding="utf-8")
    assert server.cli("partner", "terminal", "import", metro.credentials["partner_id"], str(gates_csv)).returncode == 0
    root = offline.read_root_key(json.loads(server.cli("offline", "root-key").stdout))

    # The holder: bind, set up the e-card on this installation, challenge, certificate (Python device key).
    http = requests.Session()
    token = http.post(server.base + "/api/mp/v1/auth/wechat", json={"code": wechat.issue_code()}, timeout=10).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert http.post(server.base + "/api/mp/v1/binding", json=PERSON, headers=bearer, timeout=10).status_code == 200
    assert http.post(server.base + "/api/mp/v1/card/seed", json={"installation_id": INSTALLATION}, headers=bearer,
                     timeout=10).status_code == 200
    nonce = http.post(server.base + "/api/mp/v1/card/offline/challenge", json={"installation_id": INSTALLATION},
                      headers=bearer, timeout=10).json()["nonce"]
    device = offline.generate(offline.ED25519)
    proof = offline.proof_of_possession(device, offline.b64url_decode(nonce))
    issued = http.post(server.base + "/api/mp/v1/card/offline/certificates", headers=bearer, timeout=30, json={
        "nonce": nonce, "alg": "ed25519", "device_public_key": offline.b64url_encode(device.public_key),
        "proof": offline.b64url_encode(proof)})
    assert issued.status_code == 200, issued.text
    certificate = offline.certificate_from_bytes(offline.b64url_decode(issued.json()["certificates"][0]["certificate"]))
    js_code = _js_phone_code(server, http, bearer)  # the mini-program module's device key and code

    # Two gates holding a fresh trust list and deny list, with no network from here on.
    trust_answer = metro.request("GET", f"{P}/offline/trust-list")
    assert trust_answer.status_code == 200, trust_answer.text
    trust = offline.read_trust_list(trust_answer.content, root)
    deny = offline.read_deny_list(metro.request("GET", f"{P}/offline/deny-list").content, trust.deny_list_key)
    gate_a, gate_b = (offline.Gate(name, "transit", trust, deny) for name in ("gate-A", "gate-B"))
    now = int(time.time())
    shown = offline.make_code(certificate, device, t=now, ctr=0).text
    assert gate_a.scan(shown).accepted
    assert gate_a.scan(shown).reason == "code_used"
    assert gate_b.scan(shown).accepted  # a screenshot at another offline gate: the upload flags it
    original = offline.make_code(certificate, device, t=now, ctr=1).text
    clone = offline.make_code(certificate, device, t=now + 1, ctr=1).text  # a copied device key, same counter
    assert gate_a.scan(original).accepted and gate_b.scan(clone).accepted
    assert gate_a.scan(js_code).to_json() == {"accepted": True, "reason": None, "step": 13}

    # The holder suspends the e-card: the next deny list (a delta from the gate's version) refuses the code.
    # Revocations are batched: the gate's poll gets the new version within 10 s of the answer.
    assert http.post(server.base + "/api/mp/v1/card/ecard/suspension", headers=bearer, timeout=10).status_code == 200
    answered = time.monotonic()
    while (delta := metro.request("GET", f"{P}/offline/deny-list?since={deny.version}")).status_code == 304:
        assert time.monotonic() - answered < 10, "the revocation did not reach the deny list within 10 s"
        time.sleep(0.5)
    assert delta.status_code == 200, delta.status_code
    gate_a.set_deny_list(deny.apply(offline.read_deny_delta(delta.content, trust.deny_list_key)))
    refused = gate_a.scan(offline.make_code(certificate, device, t=int(time.time()), ctr=2).text)
    assert (refused.accepted, refused.reason, refused.step) == (False, "card_inactive", 11)

    # The gates upload: scans made before the suspension settle; the replay and the clone are flagged.
    records_a = [r.to_json() for r in gate_a.take_records(1000)]
    records_b = [r.to_json() for r in gate_b.take_records(1000)]
    first = metro.request("POST", f"{P}/offline/records", json.dumps({"records": records_a}).encode())
    assert first.status_code == 200, first.text
    assert [r["status"] for r in first.json()["results"]] == ["settled", "settled", "settled"]
    assert first.json()["results"][0]["subject"]["settlement_token"]
    second = metro.request("POST", f"{P}/offline/records", json.dumps({"records": records_b}).encode())
    assert [r["status"] for r in second.json()["results"]] == ["double_use", "clone_suspect"]
    again = metro.request("POST", f"{P}/offline/records", json.dumps({"records": records_a}).encode())
    assert [r["status"] for r in again.json()["results"]] == ["duplicate_record"] * 3

    found = metro.request("GET", f"{P}/offline/findings").json()["findings"]
    assert [(f["kind"], f["serial"], f["record_ids"]) for f in found] == [
        ("replay", certificate.serial.hex(), [records_a[0]["record_id"], records_b[0]["record_id"]]),
        ("clone", certificate.serial.hex(), [records_a[1]["record_id"], records_b[1]["record_id"]])]

    history = http.get(server.base + "/api/mp/v1/card/verifications?limit=100", headers=bearer, timeout=10).json()
    assert sorted(item["terminal_id"] for item in history["items"]) == ["gate-A"] * 3  # the settled uses
