"""``citizencard demo``: the main job end to end, on the embedded default (no servers needed).

Imports the sample roster into a fresh SQLite database, serves the app on loopback beside a
WeChat stand-in, logs in and binds over HTTP, renders the code as a PNG, decodes that PNG with
zxing-cpp as a scanner would, verifies the decoded code through the signed partner API, and
sends it again: same terminal (duplicate answer), then another terminal (rejected as used).
Then an offline scan (DGC2, docs/offline-codes.md): the phone (Python device keys, the mini-program
module's equivalent) gets a certificate, makes a code, a simulated gate holding the served trust
list and deny list accepts it with no server call, and the same code sent online through the
partner API is accepted once (the next gate's try is ``code_used``). Between the two, a paid ride
(app/demo_payments.py): entry, exit, the fare charged, the bank's debit, the holder's view.
"""
from __future__ import annotations

import io
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import click
import requests
import zxingcpp
from PIL import Image
from werkzeug.serving import make_server

from app.demo_payments import open_demo_account, prepare_payments, ride_and_pay
from app.platform.request_signing import authorization_header
from qr import offline
from scenes.registry import SCENE_NAMES
from standins.wechat import WeChatStandIn

DEMO_PERSON = {"name": "陈小明", "id_number": "441900198506151235", "phone": "13800138000"}
APPID, APP_SECRET = "wxdemo0000000001", "demo-wechat-secret"
INSTALLATION = "demo-phone-install-01"


def run_demo(keep: bool = False) -> int:
    """Run the story; returns the exit status (0 when every step behaved as expected)."""
    workdir = tempfile.mkdtemp(prefix="citizencard-demo-")
    try:
        with WeChatStandIn(APPID, APP_SECRET) as wechat:
            app = _demo_app(workdir, wechat.base_url)
            credentials = _prepare(app)
            bank = prepare_payments(app, credentials["partner_id"])
            with _serving(app) as base_url:
                story = Story(base_url, wechat, credentials, workdir)
                story.paid_ride = lambda: _paid_ride(app, story, bank)  # type: ignore[attr-defined]
                return _story(story)
    finally:
        if keep:
            click.echo(f"\nDemo files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _demo_app(workdir: str, wechat_base: str) -> Any:
    from app import create_app

    return create_app({
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + os.path.join(workdir, "citizencard.sqlite"),
        "REDIS_URL": None, "CARD_REDIS_CLUSTER_NODES": None,
        "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET, "CARD_WECHAT_API_BASE": wechat_base,
    })


def _prepare(app: Any) -> dict[str, Any]:
    from app.card.offline_keys import root_key_json
    from app.identity.roster import import_roster
    from app.partners.partners import create_partner
    from app.partners.terminals import register_terminals
    from app.runtime import runtime
    from app.server import upgrade_schema

    upgrade_schema(app)
    with app.app_context():
        roster = resources.files("app").joinpath("samples/roster.csv").read_text(encoding="utf-8")
        report = import_roster(runtime(), io.StringIO(roster))
        _step("Import the sample roster", f"{report.inserted} residents imported, {len(report.rejected)} rejected")
        credentials = create_partner(runtime(), "Dongguan Metro Line 2", ["transit"], SCENE_NAMES)
        register_terminals(runtime(), credentials.partner_id, [("gate-A01", "Entry gate A01", "Xiping station, hall A"),
                                                               ("gate-B07", "Entry gate B07", "Xiping station, hall B")])
        _step("Register a partner and its gates", f"{credentials.partner_id} (scene: transit; terminals gate-A01, gate-B07)")
        root = root_key_json(runtime())  # what gate firmware ships (`citizencard offline root-key`)
    return {"partner_id": credentials.partner_id, "secret": credentials.secret, "root_key": root}


class _serving:
    """Serve ``app`` on 127.0.0.1 (an ephemeral port) in a background thread."""

    def __init__(self, app: Any) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server = make_server("127.0.0.1", 0, app, threaded=True)

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_port}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


class Story:
    """The demo's HTTP client: a citizen's mini-program and a partner's scanner."""

    def __init__(self, base_url: str, wechat: WeChatStandIn, partner: dict[str, Any], workdir: str) -> None:
        self.base_url, self.wechat, self.partner, self.workdir = base_url, wechat, partner, workdir
        self.http = requests.Session()
        self.token = ""

    def citizen(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return self.http.request(method, self.base_url + path, headers=headers, timeout=10, **kwargs)

    def partner_request(self, method: str, path: str, body: bytes = b"") -> requests.Response:
        header = authorization_header(self.partner["partner_id"], self.partner["secret"], method, path, body,
                                      int(time.time()), secrets.token_hex(16))
        return self.http.request(method, self.base_url + path, data=body, timeout=10,
                                 headers={"Authorization": header, "Content-Type": "application/json"})

    def scan(self, code: str, terminal_id: str) -> dict[str, Any]:
        body = json.dumps({"code": code, "scene": "transit", "terminal_id": terminal_id}).encode()
        return self.partner_request("POST", "/api/partner/v1/verifications", body).json()


def _story(story: Story) -> int:
    steps: list[Callable[[Story], bool]] = [_login, _bind, _scan_twice, lambda story: story.paid_ride(), _scan_offline]
    for step in steps:
        if not step(story):
            click.echo("\nDEMO FAILED at the step above.", err=True)
            return 1
    click.echo("\nDemo complete: login, binding, QR rendering and decoding, verification, replay refused, "
               "a paid ride (entry, exit, fare, the bank's debit), an offline (DGC2) scan at a gate and the same code online.")
    return 0


def _login(story: Story) -> bool:
    code = story.wechat.issue_code()
    response = story.citizen("POST", "/api/mp/v1/auth/wechat", json={"code": code})
    _step("Log in through WeChat code2Session (stand-in)", f"HTTP {response.status_code} {_redact(response.json())}")
    story.token = response.json().get("token", "")
    return response.status_code == 200


def _bind(story: Story) -> bool:
    response = story.citizen("POST", "/api/mp/v1/binding", json=DEMO_PERSON)
    _step("Bind identity 陈小明 / 441900********1235", f"HTTP {response.status_code} {response.json()}")
    return response.status_code == 200


def _scan_twice(story: Story) -> bool:
    response = story.citizen("GET", "/api/mp/v1/card/code", params={"format": "png"})
    png_path = os.path.join(story.workdir, "ecard-code.png")
    with open(png_path, "wb") as out:
        out.write(response.content)
    decoded = [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(response.content)))]
    _step("Render the code as PNG and decode it with zxing-cpp",
          f"HTTP {response.status_code}, {len(response.content)} bytes -> {decoded}")
    if response.status_code != 200 or len(decoded) != 1:
        return False
    first = story.scan(decoded[0], "gate-A01")
    _step("Verify through the signed partner API (terminal gate-A01)", json.dumps(first, ensure_ascii=False))
    again = story.scan(decoded[0], "gate-A01")
    _step("The same terminal reads it again within 60 s", json.dumps(again, ensure_ascii=False))
    other = story.scan(decoded[0], "gate-B07")
    _step("Another terminal sends the same code", json.dumps(other, ensure_ascii=False))
    return (first.get("accepted") is True and again.get("duplicate") is True
            and other.get("accepted") is False and other.get("reason") == "code_used")


def _scan_offline(story: Story) -> bool:
    """DGC2: certificate, code, an offline gate with the served lists, then the same code online."""
    seed = story.citizen("POST", "/api/mp/v1/card/seed", json={"installation_id": INSTALLATION})
    challenge = story.citizen("POST", "/api/mp/v1/card/offline/challenge", json={"installation_id": INSTALLATION})
    if seed.status_code != 200 or challenge.status_code != 200:
        _step("Set up the e-card on this installation and ask for a challenge", f"HTTP {seed.status_code} / {challenge.status_code}")
        return False
    device = offline.generate(offline.ED25519)  # a fresh device key: its private half never leaves the phone
    nonce = challenge.json()["nonce"]
    proof = offline.proof_of_possession(device, offline.b64url_decode(nonce))
    issued = story.citizen("POST", "/api/mp/v1/card/offline/certificates", json={
        "nonce": nonce, "alg": offline.ED25519, "device_public_key": offline.b64url_encode(device.public_key),
        "proof": offline.b64url_encode(proof)})
    if issued.status_code != 200:
        _step("Ask for a 24-hour device certificate", f"HTTP {issued.status_code} {issued.json()}")
        return False
    entry = issued.json()["certificates"][0]
    certificate = offline.certificate_from_bytes(offline.b64url_decode(entry["certificate"]))
    _step("The phone gets a 24-hour device certificate (fresh Ed25519 device key, proof of possession)",
          f"serial {entry['serial']}, valid {entry['not_before']}-{entry['expires']}, "
          f"scenes {offline.scene_names(certificate.scenes)}, fare class {certificate.fare_class}")
    trust_json = story.partner_request("GET", "/api/partner/v1/offline/trust-list")
    deny_bytes = story.partner_request("GET", "/api/partner/v1/offline/deny-list")
    trust = offline.read_trust_list(trust_json.content, offline.read_root_key(story.partner["root_key"]))
    deny = offline.read_deny_list(deny_bytes.content, trust.deny_list_key)
    _step("The gate's back office fetches the signed lists (checked against the root key in firmware)",
          f"trust list v{trust.version} ({len(trust.keys)} issuing keys), deny list v{deny.version} ({len(deny)} serials)")
    text = offline.make_code(certificate, device, t=int(time.time()), ctr=0).text
    gate = offline.Gate("gate-A01", "transit", trust, deny)
    offline_decision = gate.scan(text)
    _step("Show a DGC2 code; gate-A01 verifies it with no network",
          f"{len(text)} characters {text[:24]}… -> {json.dumps(offline_decision.to_json())}")
    online = story.scan(text, "gate-A01")
    _step("The same code online (POST /verifications, live card state)", json.dumps(online, ensure_ascii=False))
    used = story.scan(text, "gate-B07")
    _step("Another terminal sends the same code", json.dumps(used, ensure_ascii=False))
    return (offline_decision.accepted and online.get("accepted") is True
            and used.get("accepted") is False and used.get("reason") == "code_used")


def _paid_ride(app: Any, story: Story, bank: dict[str, str]) -> bool:
    """Ride now, pay later (docs/payments.md): the bank holds the card's account; entry, exit, charge, debit."""
    open_demo_account(app, bank)
    return ride_and_pay(story, bank, _step)


def _redact(body: dict[str, Any]) -> dict[str, Any]:
    return {key: (value[:6] + "…" if key == "token" else value) for key, value in body.items()}


def _step(title: str, outcome: str) -> None:
    click.echo(f"\n== {title}\n   {outcome}")
