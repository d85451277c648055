"""Issue 23's last item: SM2-SM3 id_tokens (non-standard; app/oidc/sm2.py), checked by a verifier
built on GmSSL directly (gmssl_pyx.sm2_verify), not by the provider's code path. CI installs the
gm extra, so none of this skips; the last test runs without it in a subprocess."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import gmssl_pyx
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    InvalidKeyCurveError,
    InvalidKeyTypeError,
    UnsupportedAlgorithmError,
    UnsupportedKeyAlgorithmError,
)
from joserfc.jwk import ECKey, KeySet

from app.oidc.parties import checked_id_token_alg
from app.oidc.signing import DEV_SM2_SCALAR, development_keys, holds_development_key, new_key_entry, parse_setting
from app.oidc.sm2 import ALGORITHM, SM2_SM3, SM2Key

ROOT = Path(__file__).resolve().parents[2]
SIGNER_ID = b"1234567812345678"
# GM/T 0003.5-2012 Appendix A: the private key, its public point, and the signature of "message digest".
D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
X = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
Y = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def gmssl_verify(token: str, jwk: dict[str, Any]) -> bool:
    """An independent SM2-SM3 verifier: the JWK's x || y, the JWS signing input and r || s given to GmSSL."""
    header, payload, signature = token.split(".")
    if json.loads(_unb64(header))["alg"] != "SM2-SM3" or jwk["crv"] != "SM2":
        return False
    raw = _unb64(signature)
    if len(raw) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        return bool(gmssl_pyx.sm2_verify(_unb64(jwk["x"]) + _unb64(jwk["y"]), f"{header}.{payload}".encode(), der,
                                         signer_id=SIGNER_ID))
    except gmssl_pyx.GmsslInnerError:
        return False


def _gmssl_keys() -> tuple[str, bytes]:
    """A key pair made by GmSSL: our setting entry for its private key, and its 64-byte public key."""
    public, private = gmssl_pyx.sm2_key_generate()  # 64-byte x || y, 32-byte scalar
    return "gm1:sm2:" + base64.b64encode(private).decode(), public


def test_the_standard_signature_verifies_so_id_sm3_and_r_s_are_as_stated() -> None:
    """GB/T 32918 (GM/T 0003.5) known answer through the joserfc algorithm: SM3 with Z_A over the
    ID 1234567812345678, and the 64-byte r || s encoding."""
    key = SM2Key.from_scalar(D)
    assert (_unb64(key.as_dict()["x"]).hex().upper(), _unb64(key.as_dict()["y"]).hex().upper()) == (X, Y)
    assert ALGORITHM.verify(b"message digest", bytes.fromhex(R + S), key)
    assert not ALGORITHM.verify(b"message digesT", bytes.fromhex(R + S), key)


def test_a_provider_token_is_verified_by_gmssl_directly_and_a_tampered_one_is_not() -> None:
    entry, gm_public = _gmssl_keys()
    keys = parse_setting(new_key_entry("e1") + "," + entry)
    assert keys.algorithms == ["ES256", "SM2-SM3"]
    published = keys.sm2_jwks()["keys"]
    assert [(key["kty"], key["crv"], key["alg"], key["kid"]) for key in published] == [("EC", "SM2", "SM2-SM3", "gm1")]
    assert "d" not in published[0] and _unb64(published[0]["x"]) + _unb64(published[0]["y"]) == gm_public
    token = jwt.encode({"alg": SM2_SM3, "kid": "gm1", "typ": "JWT"}, {"sub": "pairwise", "nonce": "n"},
                       keys.for_alg(SM2_SM3), algorithms=[SM2_SM3])
    assert gmssl_verify(token, published[0])
    header, payload, signature = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"sub": "someone-else", "nonce": "n"}).encode()).decode().rstrip("=")
    other = bytes([_unb64(signature)[0] ^ 1]) + _unb64(signature)[1:]
    for tampered in (f"{header}.{forged}.{signature}", f"{header}.{payload}.{base64.urlsafe_b64encode(other).decode().rstrip('=')}"):
        assert not gmssl_verify(tampered, published[0])
        with pytest.raises(BadSignatureError):
            jwt.decode(tampered, SM2Key.import_key(published[0]), algorithms=[SM2_SM3])
    assert jwt.decode(token, keys.key_set(), algorithms=[SM2_SM3]).claims["sub"] == "pairwise"


def test_sm2_and_es256_keys_never_cross_and_sm2_must_be_asked_for() -> None:
    keys = development_keys()
    sm2_key, es256_key = keys.for_alg(SM2_SM3), keys.for_alg("ES256")
    with pytest.raises(UnsupportedKeyAlgorithmError):
        jwt.encode({"alg": "ES256"}, {"a": 1}, sm2_key, algorithms=["ES256"])  # its JWK says alg SM2-SM3
    with pytest.raises(InvalidKeyCurveError):
        jwt.encode({"alg": "ES256"}, {"a": 1}, SM2Key.from_scalar(DEV_SM2_SCALAR), algorithms=["ES256"])  # no alg: the curve
    with pytest.raises(InvalidKeyTypeError):
        jwt.encode({"alg": SM2_SM3}, {"a": 1}, ECKey.import_key(es256_key.as_dict(private=True)), algorithms=[SM2_SM3])
    token = jwt.encode({"alg": SM2_SM3}, {"a": 1}, sm2_key, algorithms=[SM2_SM3])
    with pytest.raises(UnsupportedAlgorithmError):
        jwt.decode(token, sm2_key)  # a registry not told to allow SM2-SM3 refuses it: it is not recommended


def test_the_standard_jwks_leaves_sm2_out_so_rp_libraries_still_read_it() -> None:
    keys = development_keys()
    assert keys.algorithms == ["ES256", "EdDSA", "SM2-SM3"]
    standard = keys.jwks()
    assert [key["kid"] for key in standard["keys"]] == ["dev-es256", "dev-eddsa"]
    KeySet.import_key_set(standard)  # what Authlib and joserfc RPs do
    with pytest.raises(KeyError):
        KeySet.import_key_set({"keys": standard["keys"] + keys.sm2_jwks()["keys"]})  # why the SM2 keys have their own set


def test_setting_entries_and_the_development_key() -> None:
    assert holds_development_key(parse_setting(new_key_entry("e1") + ",renamed:sm2:" + base64.b64encode(DEV_SM2_SCALAR).decode()))
    assert not holds_development_key(parse_setting(new_key_entry("e1") + "," + new_key_entry("s1", SM2_SM3)))
    for bad in ("s:sm2:AAAA", "s:sm2:" + base64.b64encode(b"\xff" * 32).decode(), "s:sm2:" + base64.b64encode(bytes(32)).decode()):
        with pytest.raises(ValueError, match="not base64 of a 32-byte SM2 private key"):
            parse_setting(new_key_entry("e1") + "," + bad)
    assert checked_id_token_alg({}, SM2_SM3) == SM2_SM3
    with pytest.raises(ValueError, match="CARD_OIDC_SIGNING_KEYS has no key for it"):
        checked_id_token_alg({"CARD_OIDC_SIGNING_KEYS": new_key_entry("e1")}, SM2_SM3)


def test_without_the_gm_extra_sm2_is_not_registered_listed_or_accepted(tmp_path: Path) -> None:
    script = f"""
import json, sys
sys.modules["gmssl_pyx"] = None  # as if the gm extra were not installed
from joserfc.jws import JWSRegistry
from app import create_app
from app.oidc.parties import checked_id_token_alg
from app.oidc.signing import development_keys, new_key_entry, parse_setting
out = {{"registered": "SM2-SM3" in JWSRegistry.algorithms, "dev": development_keys().algorithms}}
for name, call in (("create", lambda: checked_id_token_alg({{}}, "SM2-SM3")),
                   ("setting", lambda: parse_setting(new_key_entry("e1") + ",s1:sm2:" + "A" * 43 + "="))):
    try:
        call()
    except ValueError as exc:
        out[name] = str(exc)
app = create_app({{"SQLALCHEMY_DATABASE_URI": "sqlite:///{tmp_path}/gm.db"}})
client = app.test_client()
out["discovery"] = client.get("/.well-known/openid-configuration").json["id_token_signing_alg_values_supported"]
out["sm2_jwks"] = client.get("/oidc/jwks-sm2.json").status_code
from click.testing import CliRunner
from app.cli import main
made = CliRunner().invoke(main, ["rp", "create", "--name", "x", "--kind", "commercial", "--redirect-uri",
                                 "https://rp.example.cn/cb", "--id-token-alg", "SM2-SM3"])
out["cli"] = [made.exit_code, made.output]
print(json.dumps(out))
"""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{ROOT / 'terminal'}", "CARD_INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["registered"] is False and out["dev"] == ["ES256", "EdDSA"]
    assert "needs the gm extra, which is not installed" in out["create"] and "gm extra" in out["setting"]
    assert out["discovery"] == ["ES256", "EdDSA"] and out["sm2_jwks"] == 404
    assert out["cli"][0] == 2 and "SM2-SM3 (SM2 with SM3, non-standard) needs the gm extra" in out["cli"][1]
