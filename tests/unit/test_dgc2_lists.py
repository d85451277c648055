"""The signed trust list and deny list (issue 16): what the platform writes, the gate reads."""
from __future__ import annotations

import json
import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dgc2 import b64, keys
from dgc2.denylist import DenyListError, read_deny_delta, read_deny_list, write_deny_delta, write_deny_list
from dgc2.trust import IssuingKey, RootKey, TrustListError, read_root_key, read_trust_list, write_trust_list

NOW = 1_780_000_000
ROOT = keys.generate(keys.ED25519)
DENY = keys.generate(keys.ED25519)


def _trust(root: keys.SigningKey = ROOT, **changes) -> dict:
    values = {"version": 3, "issued_at": NOW, "next_update": NOW + 3600,
              "keys": [IssuingKey(1, keys.generate(keys.ED25519).verifying_key(), NOW - 10, NOW + 10),
                       IssuingKey(2, keys.generate(keys.SM2).verifying_key(), NOW - 10, NOW + 10)],
              "deny_list_key": DENY.verifying_key()} | changes
    return write_trust_list(root, 5, **values)


def test_the_trust_list_reads_back_what_was_written() -> None:
    document = _trust()
    assert set(document) == {"payload", "root_kid", "alg", "signature"} and document["root_kid"] == 5
    payload = json.loads(b64.decode(document["payload"]))
    assert set(payload) == {"version", "issued_at", "next_update", "keys", "deny_list_key"}
    assert set(payload["keys"][0]) == {"kid", "alg", "public_key", "not_before", "not_after"}
    trust = read_trust_list(json.dumps(document), RootKey(5, ROOT.verifying_key()))
    assert trust.version == 3 and sorted(trust.keys) == [1, 2] and trust.keys[2].alg == "sm2"
    assert trust.deny_list_key == DENY.verifying_key()


def test_the_root_key_document_is_what_citizencard_offline_root_key_prints() -> None:
    document = {"root_kid": 5, "alg": "ed25519", "public_key": b64.encode(ROOT.public_key)}
    assert read_root_key(document).to_json() == document
    # as text too, like read_trust_list: the docs' example passes the file's text
    assert read_root_key(json.dumps(document)).to_json() == document
    with pytest.raises(TrustListError, match="root key is not JSON"):
        read_root_key("not json")


@pytest.mark.parametrize("attack", ["other_root", "other_root_kid", "payload_swapped", "signature_flipped", "alg_claimed"])
def test_a_trust_list_not_signed_by_the_root_is_refused(attack: str) -> None:
    root = RootKey(5, ROOT.verifying_key())
    document = _trust()
    if attack == "other_root":
        document = _trust(keys.generate(keys.ED25519))
    elif attack == "other_root_kid":
        document["root_kid"] = 6
    elif attack == "payload_swapped":
        document["payload"] = _trust(version=99)["payload"]
    elif attack == "signature_flipped":
        signature = bytearray(b64.decode(document["signature"]))
        signature[0] ^= 1
        document["signature"] = b64.encode(bytes(signature))
    else:
        document["alg"] = "sm2"
    with pytest.raises(TrustListError):
        read_trust_list(document, root)


@pytest.mark.parametrize("payload", [b"not json", b"[]", b'{"keys": []}',
                                     b'{"version": 1, "issued_at": 1, "next_update": 1, "keys": [{"kid": 1}], "deny_list_key": {}}'])
def test_malformed_payloads_are_refused_even_when_signed(payload: bytes) -> None:
    document = {"payload": b64.encode(payload), "root_kid": 5, "alg": "ed25519",
                "signature": b64.encode(ROOT.sign(b"DGC2/trust\x00" + payload))}
    with pytest.raises(TrustListError):
        read_trust_list(document, RootKey(5, ROOT.verifying_key()))


def test_duplicate_kids_are_refused() -> None:
    key = IssuingKey(1, keys.generate(keys.ED25519).verifying_key(), NOW, NOW + 1)
    with pytest.raises(TrustListError):
        _trust(keys=[key, key])


def _serials(n: int) -> list[bytes]:
    return [os.urandom(8) for _ in range(n)]


def test_the_full_deny_list_layout() -> None:
    serials = _serials(3)
    data = write_deny_list(DENY, version=9, issued_at=NOW, next_update=NOW + 60, serials=serials + serials[:1])
    assert data[:4] == b"DGCD" and struct.unpack(">IIIBI", data[4:21]) == (9, NOW, NOW + 60, 8, 3)
    assert data[21:45] == b"".join(sorted(serials)) and len(data) == 21 + 24 + 64
    assert DENY.verifying_key().verify(b"DGC2/deny\x00" + data[:-64], data[-64:])
    deny = read_deny_list(data, DENY.verifying_key())
    assert (deny.version, deny.issued_at, deny.next_update, len(deny)) == (9, NOW, NOW + 60, 3)
    assert all(serial in deny for serial in serials) and os.urandom(8) not in deny


def _resigned(body: bytes) -> bytes:
    return body + DENY.sign(b"DGC2/deny\x00" + body)


@pytest.mark.parametrize("damage", ["signature", "magic", "entry_len", "count", "unsorted", "duplicate", "other_key"])
def test_a_damaged_deny_list_is_refused(damage: str) -> None:
    a, b = sorted(_serials(2))
    data = write_deny_list(DENY, version=1, issued_at=NOW, next_update=NOW, serials=[a, b])
    body = data[:-64]
    if damage == "signature":
        data = data[:-1] + bytes([data[-1] ^ 1])
    elif damage == "magic":
        data = _resigned(b"DGCd" + body[4:])
    elif damage == "entry_len":
        data = _resigned(body[:16] + b"\x10" + body[17:])
    elif damage == "count":
        data = _resigned(body[:17] + struct.pack(">I", 3) + body[21:])
    elif damage == "unsorted":
        data = _resigned(body[:21] + b + a)
    elif damage == "duplicate":
        data = _resigned(body[:21] + a + a)
    else:
        data = write_deny_list(keys.generate(keys.ED25519), version=1, issued_at=NOW, next_update=NOW, serials=[a, b])
    with pytest.raises(DenyListError):
        read_deny_list(data, DENY.verifying_key())


def test_a_delta_takes_the_list_to_the_next_version() -> None:
    old, added = _serials(5), _serials(2)
    full = read_deny_list(write_deny_list(DENY, version=1, issued_at=NOW, next_update=NOW + 60, serials=old), DENY.verifying_key())
    data = write_deny_delta(DENY, from_version=1, to_version=3, issued_at=NOW + 120, adds=added, removes=old[:2])
    assert data[:4] == b"DGCd" and struct.unpack(">IIII", data[4:20]) == (1, 3, NOW + 120, 2)
    assert struct.unpack(">I", data[36:40]) == (2,) and len(data) == 40 + 16 + 64
    delta = read_deny_delta(data, DENY.verifying_key())
    new = full.apply(delta)
    assert (new.version, new.issued_at, new.next_update) == (3, NOW + 120, NOW + 180)
    assert sorted(new.serials[i:i + 8] for i in range(0, len(new.serials), 8)) == sorted(old[2:] + added)


def test_a_delta_that_does_not_fit_is_refused() -> None:
    old = _serials(3)
    full = read_deny_list(write_deny_list(DENY, version=4, issued_at=NOW, next_update=NOW, serials=old), DENY.verifying_key())
    for adds, removes, start in [([], [old[0]], 3), ([old[0]], [], 4), ([], _serials(1), 4)]:
        delta = read_deny_delta(write_deny_delta(DENY, from_version=start, to_version=5, issued_at=NOW, adds=adds, removes=removes),
                                DENY.verifying_key())
        with pytest.raises(DenyListError):
            full.apply(delta)


def test_a_tampered_delta_is_refused() -> None:
    data = write_deny_delta(DENY, from_version=1, to_version=2, issued_at=NOW, adds=_serials(1), removes=[])
    with pytest.raises(DenyListError):
        read_deny_delta(data[:8] + b"\x09" + data[9:], DENY.verifying_key())
    with pytest.raises(DenyListError):
        write_deny_delta(DENY, from_version=1, to_version=2, issued_at=NOW, adds=[b"a" * 8], removes=[b"a" * 8])


@given(listed=st.sets(st.binary(min_size=8, max_size=8), max_size=60), probe=st.binary(min_size=8, max_size=8))
def test_membership_is_exact(listed: set[bytes], probe: bytes) -> None:
    """No false positives or negatives (the gate cannot double-check online: no approximate filter)."""
    deny = read_deny_list(write_deny_list(DENY, version=1, issued_at=NOW, next_update=NOW, serials=listed), DENY.verifying_key())
    assert all(serial in deny for serial in listed)
    assert (probe in deny) == (probe in listed)


def test_an_sm2_deny_list_key_works() -> None:
    key = keys.generate(keys.SM2)
    data = write_deny_list(key, version=1, issued_at=NOW, next_update=NOW, serials=_serials(2))
    assert len(read_deny_list(data, key.verifying_key())) == 2


def test_the_root_fingerprint_is_sha256_of_the_raw_key() -> None:
    import hashlib

    fingerprint = RootKey(5, ROOT.verifying_key()).fingerprint()
    assert fingerprint.replace(" ", "").lower() == hashlib.sha256(ROOT.public_key).hexdigest() and len(fingerprint) == 79
