"""CARD_AUDIT_KEYS: Ed25519 keys signing the audit chain head, in the CARD_DATA_KEYS list shape;
production needs them and refuses the published development key whatever its id."""
from __future__ import annotations

import base64

import pytest

from app.config import DEV_AUDIT_KEY, DEV_AUDIT_KEYS, ConfigError, load_config
from app.platform.crypto import KeyringError, SigningKeys

from .test_config import STRONG

A1 = "a1:" + base64.b64encode(b"a" * 32).decode()
B2 = "b2:" + base64.b64encode(b"b" * 32).decode()


def test_development_signs_with_the_published_key() -> None:
    assert load_config({})["CARD_AUDIT_KEYS"] == DEV_AUDIT_KEYS


def test_production_needs_audit_keys() -> None:
    with pytest.raises(ConfigError, match="CARD_AUDIT_KEYS is not set"):
        load_config({k: v for k, v in STRONG.items() if k != "CARD_AUDIT_KEYS"})


@pytest.mark.parametrize("setting", [DEV_AUDIT_KEYS, "prod7:" + base64.b64encode(DEV_AUDIT_KEY).decode(),
                                     f"{A1},old:" + base64.b64encode(DEV_AUDIT_KEY).decode()])
def test_production_refuses_the_development_key_under_any_id(setting: str) -> None:
    with pytest.raises(ConfigError, match="development key"):
        load_config({**STRONG, "CARD_AUDIT_KEYS": setting})


@pytest.mark.parametrize("setting", ["a1:not base64!", "a1:" + base64.b64encode(b"short").decode(), f"{A1},{A1}", " , "])
def test_a_malformed_list_is_refused_without_showing_it(setting: str) -> None:
    with pytest.raises(ConfigError, match="CARD_AUDIT_KEYS") as refused:
        load_config({**STRONG, "CARD_AUDIT_KEYS": setting})
    assert "not base64" not in str(refused.value) and base64.b64encode(b"a" * 32).decode() not in str(refused.value)


def test_the_first_key_signs_and_every_listed_key_verifies() -> None:
    old = SigningKeys.from_setting(A1)
    key_id, signature = old.sign(b"head")
    rotated = SigningKeys.from_setting(f"{B2},{A1}")
    assert rotated.verify(key_id, signature, b"head") and rotated.sign(b"x")[0] == "b2"
    assert not rotated.verify(key_id, signature, b"another head")
    assert not SigningKeys.from_setting(B2).verify(key_id, signature, b"head")
    assert not rotated.verify(key_id, "not base64!", b"head") and not rotated.verify(None, None, b"head")
    with pytest.raises(KeyringError):
        SigningKeys.from_setting("")


@pytest.mark.parametrize("message", [b"", b"TIMESTAMP\nNONCE\n{}\n", bytes(range(256)) * 600])
def test_libsodium_signs_what_openssl_would_and_the_public_key_verifies_it(message: bytes) -> None:
    """SigningKeys signs with libsodium (faster); Ed25519 is deterministic, so its bytes are OpenSSL's
    (RFC 8032 §5.1.6), and the published public key verifies them."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    keys = SigningKeys.from_setting(f"{B2},{A1}")
    key_id, signature = keys.sign(message)
    raw = base64.b64decode(signature)
    assert key_id == "b2" and raw == Ed25519PrivateKey.from_private_bytes(b"b" * 32).sign(message)
    Ed25519PublicKey.from_public_bytes(keys.public_keys()["b2"]).verify(raw, message)
    assert keys.verify("b2", signature, message) and not keys.verify("a1", signature, message)
