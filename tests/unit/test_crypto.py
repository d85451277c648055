"""Field encryption with key ids, and blind indexes."""
from __future__ import annotations

import base64

import pytest

from app.platform.crypto import BlindIndex, Keyring, KeyringError

K1 = base64.b64encode(b"1" * 32).decode()
K2 = base64.b64encode(b"2" * 32).decode()


def test_round_trip_and_key_id_prefix() -> None:
    ring = Keyring.from_setting(f"k1:{K1}")
    sealed = ring.encrypt("441900198506151235", "citizen.id_number")
    assert sealed.startswith("k1$") and "441900" not in sealed
    assert ring.decrypt(sealed, "citizen.id_number") == "441900198506151235"


def test_same_plaintext_encrypts_differently_each_time() -> None:
    ring = Keyring.from_setting(f"k1:{K1}")
    assert ring.encrypt("x", "p") != ring.encrypt("x", "p")


def test_a_value_moved_to_another_column_does_not_open() -> None:
    ring = Keyring.from_setting(f"k1:{K1}")
    with pytest.raises(KeyringError):
        ring.decrypt(ring.encrypt("x", "citizen.name"), "citizen.phone")


def test_tampering_is_detected() -> None:
    ring = Keyring.from_setting(f"k1:{K1}")
    key_id, _, blob = ring.encrypt("x", "p").partition("$")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    with pytest.raises(KeyringError):
        ring.decrypt(f"{key_id}${base64.b64encode(bytes(raw)).decode()}", "p")


def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    old = Keyring.from_setting(f"k1:{K1}").encrypt("x", "p")
    rotated = Keyring.from_setting(f"k2:{K2},k1:{K1}")
    assert rotated.encrypt("x", "p").startswith("k2$")
    assert rotated.decrypt(old, "p") == "x"
    with pytest.raises(KeyringError):
        Keyring.from_setting(f"k2:{K2}").decrypt(old, "p")


@pytest.mark.parametrize("setting", ["", "k1:notbase64!", f"k1:{base64.b64encode(b'short').decode()}", f"a$b:{K1}",
                                     f"_k1:{K1}", f"陈小明:{K1}", f"{'k' * 33}:{K1}"])
def test_bad_key_settings_are_refused(setting: str) -> None:
    with pytest.raises(KeyringError):
        Keyring.from_setting(setting)


@pytest.mark.parametrize("setting", [K1, f"k1={K1}", f"k1:{K1},k1:{K2}"])
def test_key_errors_never_echo_the_key(setting: str) -> None:
    with pytest.raises(KeyringError) as info:
        Keyring.from_setting(setting)
    assert K1 not in str(info.value) and K1[:10] not in str(info.value)


def test_a_value_under_an_unknown_key_names_its_id_only_if_it_has_a_key_ids_shape() -> None:
    ring = Keyring.from_setting(f"k1:{K1}")
    with pytest.raises(KeyringError) as unknown:
        ring.decrypt("k34dff6$" + K2, "p")
    assert str(unknown.value) == "no data key with id 'k34dff6'"
    for damaged in ("13800138000$abc", "陈小明$abc", "_13800138000$abc", "k" * 33 + "$abc"):  # text stored unencrypted by mistake
        with pytest.raises(KeyringError) as odd:
            ring.decrypt(damaged, "p")
        assert str(odd.value) == "no data key with id (an id of unexpected characters, not shown)"


def test_blind_index_is_deterministic_keyed_and_purpose_bound() -> None:
    index = BlindIndex(b"i" * 32)
    assert index("v", "p") == index("v", "p")
    assert index("v", "p") != index("v", "q")
    assert BlindIndex(b"j" * 32)("v", "p") != index("v", "p")
    with pytest.raises(KeyringError):
        BlindIndex(b"short")
