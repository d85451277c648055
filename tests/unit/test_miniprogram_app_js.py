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
