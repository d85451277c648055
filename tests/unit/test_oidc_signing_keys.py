"""CARD_OIDC_SIGNING_KEYS (issue 23): ES256 and EdDSA keys, production refuses none or a development key."""
from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import KeySet

from app.config import ConfigError, load_config
from app.oidc.signing import DEV_EDDSA_SEED, holds_development_key, new_key_entry, parse_setting, signing_keys
from app.platform.errors import AppError

from .test_config import STRONG


def test_production_refuses_to_start_without_signing_keys() -> None:
    with pytest.raises(ConfigError, match="CARD_OIDC_SIGNING_KEYS is not set"):
        load_config({k: v for k, v in STRONG.items() if k != "CARD_OIDC_SIGNING_KEYS"})


def test_production_refuses_a_development_key_under_any_id() -> None:
    der = Ed25519PrivateKey.from_private_bytes(DEV_EDDSA_SEED).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    setting = STRONG["CARD_OIDC_SIGNING_KEYS"] + ",renamed:" + base64.b64encode(der).decode()
    with pytest.raises(ConfigError, match="CARD_OIDC_SIGNING_KEYS holds a development key"):
        load_config({**STRONG, "CARD_OIDC_SIGNING_KEYS": setting})
    assert load_config({"CARD_OIDC_SIGNING_KEYS": setting})["CARD_OIDC_SIGNING_KEYS"] == setting  # development accepts it


@pytest.mark.parametrize(("setting", "message"), [
    ("k:bm90IGEga2V5", "is not base64 of a PKCS#8 DER private key"),
    (new_key_entry("only-ed", "EdDSA"), r"a P-256 \(ES256\) key is required"),
], ids=["not-pkcs8", "ed25519-only"])  # fixed ids: the generated key differs per xdist worker
def test_a_bad_setting_is_named(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({**STRONG, "CARD_OIDC_SIGNING_KEYS": setting})


def test_first_key_of_each_algorithm_signs_and_all_are_published() -> None:
    setting = ",".join([new_key_entry("e1"), new_key_entry("d1", "EdDSA"), new_key_entry("e2"), new_key_entry("d2", "EdDSA")])
    keys = parse_setting(setting)
    assert keys.algorithms == ["ES256", "EdDSA"] and not holds_development_key(keys)
    assert keys.for_alg("ES256").kid == "e1" and keys.for_alg("EdDSA").kid == "d1" and keys.current.kid == "e1"
    published = keys.jwks()["keys"]
    assert [(key["kid"], key["kty"], key["alg"]) for key in published] == [
        ("e1", "EC", "ES256"), ("d1", "OKP", "EdDSA"), ("e2", "EC", "ES256"), ("d2", "OKP", "EdDSA")]
    assert all("d" not in key for key in published)
    token = jwt.encode({"alg": "EdDSA", "kid": "d1"}, {"sub": "x"}, keys.for_alg("EdDSA"), algorithms=["EdDSA"])
    assert jwt.decode(token, KeySet.import_key_set(keys.jwks()), algorithms=["EdDSA"]).claims == {"sub": "x"}


def test_development_keys_sign_both_and_production_without_keys_answers_503() -> None:
    assert signing_keys({}).algorithms == ["ES256", "EdDSA", "SM2-SM3"] and len(DEV_EDDSA_SEED) == 32  # SM2: the gm extra
    with pytest.raises(AppError) as refused:
        signing_keys({"CARD_ENV": "production"})
    assert refused.value.code == "oidc_not_configured" and refused.value.http_status == 503
    with pytest.raises(AppError, match="no EdDSA signing key"):
        parse_setting(new_key_entry("e1")).for_alg("EdDSA")
