"""The phone side in JavaScript (miniprogram/dgc2, issue 16) against the Python terminal verifier.

``make`` runs ``npm ci`` from the lock file; nothing here skips (CI=true or not): without Node or the
installed modules the tests fail and say so."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from dgc2 import b64, keys
from dgc2.denylist import read_deny_list, write_deny_list
from dgc2.format import certificate_from_bytes, issue_certificate, verify_proof_of_possession
from dgc2.gate import Gate
from dgc2.trust import IssuingKey, RootKey, read_trust_list, write_trust_list

MODULE = Path(__file__).resolve().parents[2] / "miniprogram" / "dgc2"


def _node(*args: str, stdin: str | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    assert node, "Node 20+ is needed for the mini-program module's tests"
    assert (MODULE / "node_modules" / "@noble" / "curves").is_dir(), "run `make` (npm ci in miniprogram/dgc2)"
    return subprocess.run([node, *args], cwd=MODULE, input=stdin, capture_output=True, text=True, timeout=timeout)


def test_the_js_module_s_own_tests_pass() -> None:
    """node --test: base45, the SM2 known answer, randomness, and every published vector in the JS verifier."""
    result = _node("--test")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout


def gate_trusting(issuer: keys.SigningKey, kid: int, now: int, terminal: str) -> Gate:
    """A transit gate at ``now`` holding a fresh signed trust list that names ``issuer`` as ``kid`` and an
    empty deny list (a root key and a deny-list key of its own)."""
    root, deny_key = keys.generate(keys.ED25519), keys.generate(keys.ED25519)
    trust = read_trust_list(write_trust_list(root, 1, version=1, issued_at=now, next_update=now + 60,
                                             keys=[IssuingKey(kid, issuer.verifying_key(), now - 3600, now + 86400 * 2)],
                                             deny_list_key=deny_key.verifying_key()), RootKey(1, root.verifying_key()))
    deny = read_deny_list(write_deny_list(deny_key, version=1, issued_at=now, next_update=now + 60, serials=[]), deny_key.verifying_key())
    return Gate(terminal, "transit", trust, deny)


@pytest.mark.parametrize("alg", [keys.ED25519, keys.SM2])
def test_codes_made_by_the_js_phone_pass_the_python_gate(alg: str) -> None:
    now = int(time.time())
    issuer = keys.generate(alg)
    nonce = os.urandom(16)
    phone = json.loads(_node("bin/dgc2-phone.js", stdin=json.dumps({"op": "request", "alg": alg, "nonce": b64.encode(nonce)})).stdout)
    request = phone["request"]
    device_key = keys.VerifyingKey(request["alg"], b64.decode(request["device_public_key"]))
    assert verify_proof_of_possession(device_key, nonce, b64.decode(request["proof"]))
    assert not verify_proof_of_possession(device_key, os.urandom(16), b64.decode(request["proof"]))

    cert = issue_certificate(issuer, kid=4, serial=os.urandom(8), nbf=now - 60, exp=now + 86400, scenes=0x01, fare_class=1,
                             flags=0, device_public_key=device_key.raw)
    made = _node("bin/dgc2-phone.js", stdin=json.dumps({"op": "codes", "device": phone["device"],
                                                        "certificate": b64.encode(cert.to_bytes()),
                                                        "codes": [{"t": now, "ctr": 0}, {"t": now + 1, "ctr": 1}]}))
    first, second = json.loads(made.stdout)["codes"]
    assert certificate_from_bytes(cert.to_bytes()) == cert

    gate = gate_trusting(issuer, 4, now, "gate-js")
    assert gate.scan(first, now + 2).to_json() == {"accepted": True, "reason": None, "step": 13}
    assert gate.scan(second, now + 2).to_json() == {"accepted": True, "reason": None, "step": 13}
    assert gate.scan(first, now + 3).to_json() == {"accepted": False, "reason": "code_used", "step": 12}
    forged = first[:-3] + ("000" if first[-3:] != "000" else "100")
    assert not gate.scan(forged, now + 3).accepted
