"""Issue 20 item 6: the reference mini-program's logic (miniprogram/app) under Node: its own tests
(API client, refresh rules, HOTP vectors), and its offline DGC1 codes are the server's
(qr.totp, qr.payload) for the same seed, step and sequence."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from qr import payload, totp

APP = Path(__file__).resolve().parents[2] / "miniprogram" / "app"


def _node(*args: str) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "Node 20+ is needed for the mini-program's tests"
    assert (APP / "node_modules" / "@noble" / "hashes").exists(), "run `npm ci` in miniprogram/app (make test does)"
    return subprocess.run([node, *args], cwd=APP, capture_output=True, text=True, timeout=120, check=False)


def test_the_mini_program_logic_passes_its_node_tests() -> None:
    run = _node("--test", "test/")
    assert run.returncode == 0, run.stdout + run.stderr


def test_offline_dgc1_codes_are_the_servers() -> None:
    seeds = [totp.new_seed() for _ in range(4)]
    cases = [{"device": {"seed": seed, "pseudonym": "MFRGGZDFMZTWQ2LK"}, "step": step, "sequence": sequence}
             for seed in seeds for step, sequence in ((59312345, 0), (59312345, 99), (1, 7), (999999999, 42))]
    script = ("import { makeCode } from './lib/dgc1.js';"
              "const cases = JSON.parse(process.argv[1]);"
              "console.log(JSON.stringify(cases.map((c) => makeCode(c.device, c.step, c.sequence))));")
    run = _node("--input-type=module", "-e", script, json.dumps(cases))
    assert run.returncode == 0, run.stderr
    expected = [payload.encode(payload.CodePayload(c["device"]["pseudonym"], c["step"], c["sequence"],
                                                   totp.otp(c["device"]["seed"], c["step"], c["sequence"]))) for c in cases]
    assert json.loads(run.stdout) == expected


def test_the_qr_the_e_card_page_draws_decodes_to_the_code_with_a_real_decoder() -> None:
    """miniprogram/app/lib/qr.js (qrcode-generator) draws what zxing-cpp, a scanner's decoder,
    reads back as the exact code text: DGC1 codes and a long DGC2-like base45 text."""
    import zxingcpp
    from PIL import Image

    seed = totp.new_seed()
    codes = [payload.encode(payload.CodePayload("MFRGGZDFMZTWQ2LK", step, sequence, totp.otp(seed, step, sequence)))
             for step, sequence in ((59312345, 0), (59312346, 99))]
    codes.append("DGC2:" + "6BFOXN*TS0BI$ZD-PHK+4 %O./" * 12)  # 317 characters of base45's alphabet
    script = ("import { drawQr, qrMatrix } from './lib/qr.js';"
              "const out = JSON.parse(process.argv[1]).map((text) => { const rects = [];"
              "  const scale = drawQr({ fillStyle: '', fillRect: (...r) => rects.push(r) }, qrMatrix(text), 400);"
              "  return { scale, rects: rects.slice(1) }; });"
              "console.log(JSON.stringify(out));")
    run = _node("--input-type=module", "-e", script, json.dumps(codes))
    assert run.returncode == 0, run.stderr
    for text, drawn in zip(codes, json.loads(run.stdout), strict=True):
        image = Image.new("L", (400, 400), 255)
        for x, y, w, h in drawn["rects"]:
            image.paste(0, (x, y, x + w, y + h))
        found = zxingcpp.read_barcodes(image)
        assert [result.text for result in found] == [text]


def test_the_e_card_page_s_offline_ride_codes_pass_the_platform_s_gate() -> None:
    """miniprogram/app/lib/offline.js (the e-card page's DGC2 codes) against the Python terminal:
    the certificate request's proof of possession verifies, a certificate issued by the platform's
    own code (dgc2.format.issue_certificate) is taken, and the codes made from it, with the server's
    clock offset applied and the counter rising, are accepted by dgc2.gate; the second use is not."""
    import os
    import time

    from dgc2 import b64, keys
    from dgc2.format import issue_certificate, verify_proof_of_possession

    from .test_dgc2_js import gate_trusting

    now = int(time.time())
    nonce = os.urandom(16)
    issuer = keys.generate(keys.ED25519)
    script = (
        "import { createInterface } from 'node:readline';"
        "import { OfflineCard } from './lib/offline.js';"
        "const [nonce, serverTime] = [process.argv[1], Number(process.argv[2])];"
        "const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();"
        "const kept = new Map(); const storage = { get: async (k) => kept.get(k) ?? null, set: async (k, v) => { kept.set(k, v); } };"
        "const api = { postChallenge: async () => ({ nonce, server_time: serverTime }),"
        "  postCertificates: async (request) => { console.log(JSON.stringify(request)); return JSON.parse((await lines.next()).value); } };"
        "const card = await OfflineCard.provision(api, 'f'.repeat(32), storage, { nowSeconds: serverTime - 30 });"
        "console.log(JSON.stringify([await card.next(serverTime - 30), await card.next(serverTime - 29)]));"
        "process.exit(0);"
    )
    assert (APP / "node_modules" / "@citizencard" / "dgc2").exists(), "run `npm ci` in miniprogram/app (make test does)"
    node = subprocess.Popen([shutil.which("node") or "node", "--input-type=module", "-e", script, b64.encode(nonce), str(now)],
                            cwd=APP, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        request = json.loads(node.stdout.readline())
        device_key = keys.VerifyingKey(request["alg"], b64.decode(request["device_public_key"]))
        assert verify_proof_of_possession(device_key, nonce, b64.decode(request["proof"]))
        cert = issue_certificate(issuer, kid=4, serial=os.urandom(8), nbf=now - 60, exp=now + 86400, scenes=0x01,
                                 fare_class=0, flags=0, device_public_key=device_key.raw)
        answer = {"certificates": [{"certificate": b64.encode(cert.to_bytes()), "serial": cert.serial.hex(),
                                    "not_before": now - 60, "expires": now + 86400}],
                  "server_time": now, "refresh_after": now + 43200}
        out, err = node.communicate(json.dumps(answer) + "\n", timeout=60)
    finally:
        node.kill()
    assert node.returncode == 0, err
    first, second = json.loads(out)
    gate = gate_trusting(issuer, 4, now, "gate-mp")
    assert gate.scan(first, now + 1).to_json() == {"accepted": True, "reason": None, "step": 13}
    assert gate.scan(second, now + 1).to_json() == {"accepted": True, "reason": None, "step": 13}
    assert gate.scan(first, now + 2).to_json() == {"accepted": False, "reason": "code_used", "step": 12}
