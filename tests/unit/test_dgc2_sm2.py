"""The SM2 profile (GB/T 32918.2 with SM3, ID 1234567812345678), through the gm extra (gmssl-pyx).

The known-answer test is GM/T 0003.5-2012 Appendix A's signature example. CI installs the gm extra
(Makefile: ``.[test,gm]``), so none of this skips."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gmssl_pyx
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dgc2 import keys, sm2

D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
X = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
Y = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
E = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
MESSAGE = b"message digest"
ROOT = Path(__file__).resolve().parents[2]


def test_the_gm_library_is_installed() -> None:
    assert sm2.available(), "the gm extra (gmssl-pyx) must be installed: make installs .[test,gm]"


def test_gm_t_0003_known_answer() -> None:
    public = sm2.public_key(D)
    assert sm2.decompress(public) == (int(X, 16), int(Y, 16))
    assert sm2.message_digest(public, MESSAGE).hex().upper() == E
    signature = sm2.sign_with_k(D, MESSAGE, K)
    assert signature.hex().upper() == R + S
    assert sm2.verify(sm2.prepare(public), MESSAGE, signature)  # GmSSL accepts the standard's signature


def test_the_standard_signature_fails_on_another_message_key_or_id() -> None:
    public = sm2.prepare(sm2.public_key(D))
    signature = bytes.fromhex(R + S)
    assert not sm2.verify(public, b"message digesT", signature)
    assert not sm2.verify(sm2.prepare(keys.generate(keys.SM2).public_key), MESSAGE, signature)
    # Without GB/T 32918's Z (no signer ID) the same r, s do not verify: the ID is part of the profile.
    assert not gmssl_pyx.sm2_verify(public, MESSAGE, encode_dss_signature(int(R, 16), int(S, 16)), signer_id=None)


def test_library_signatures_verify_and_are_randomised() -> None:
    key = keys.generate(keys.SM2)
    first, second = key.sign(MESSAGE), key.sign(MESSAGE)
    assert first != second and len(first) == 64
    assert key.verifying_key().verify(MESSAGE, first) and key.verifying_key().verify(MESSAGE, second)
    assert not key.verifying_key().verify(MESSAGE + b"!", first)


# Fixed values with ids: pytest-xdist workers must collect the same test names (no os.urandom here).
@pytest.mark.parametrize("signature", [b"", b"\x00" * 64, sm2.N.to_bytes(32, "big") + b"\x01" * 32, b"\x5a" * 63],
                         ids=["empty", "zero", "r_equals_n", "63_bytes"])
def test_out_of_range_signatures_are_refused(signature: bytes) -> None:
    assert not sm2.verify(sm2.prepare(sm2.public_key(D)), MESSAGE, signature)


@pytest.mark.parametrize("public", [b"\x04" + bytes(32), b"\x02" + (sm2.P).to_bytes(32, "big"), b"\x02" + bytes(31)],
                         ids=["uncompressed_prefix", "x_equals_p", "32_bytes"])
def test_bad_public_keys_are_refused(public: bytes) -> None:
    with pytest.raises(keys.KeyFormatError):
        keys.VerifyingKey(keys.SM2, public)


def test_points_off_the_curve_are_refused() -> None:
    for x in range(2, 40):
        candidate = b"\x02" + x.to_bytes(32, "big")
        try:
            sm2.decompress(candidate)
        except ValueError:
            return
    pytest.fail("no x without a point found")


def test_ed25519_works_without_the_gm_extra() -> None:
    """The base install: gmssl_pyx cannot be imported, Ed25519 codes verify, SM2 codes are refused at step 2."""
    script = f"""
import sys, json
sys.modules["gmssl_pyx"] = None  # as if the gm extra were not installed
sys.path[:0] = [{str(ROOT / 'terminal')!r}]
from dgc2 import b64, keys, sm2
from dgc2.gate import Gate
from dgc2.trust import read_root_key, read_trust_list
from dgc2.denylist import read_deny_list
assert not sm2.available() and not keys.supported("sm2")
doc = json.load(open({str(ROOT / 'docs/offline-codes/vectors.json')!r}))
root = read_root_key(doc["keys"]["root"])
out = {{}}
for vector in doc["vectors"]:
    if vector["name"] in ("valid_ed25519", "valid_sm2"):
        c = vector["context"]
        trust = read_trust_list(c["trust_list"], root)
        gate = Gate("t", c["scene"], trust, read_deny_list(b64.decode(c["deny_list"]), trust.deny_list_key))
        out[vector["name"]] = gate.scan(vector["code"], c["now"]).to_json()
print(json.dumps(out))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    import json

    assert json.loads(result.stdout) == {"valid_ed25519": {"accepted": True, "reason": None, "step": 13},
                                         "valid_sm2": {"accepted": False, "reason": "code_invalid", "step": 2}}
