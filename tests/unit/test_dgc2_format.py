"""DGC2 format (issue 16): base45 (RFC 9285), the byte layout, strict parsing, the signing inputs."""
from __future__ import annotations

import os

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from dgc2 import base45, keys
from dgc2 import format as f
from qr import offline

NOW = 1_780_000_000


@pytest.mark.parametrize(("data", "text"), [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"),
                                           (b"ietf!", "QED8WEX0"), (b"", "")])
def test_base45_matches_rfc_9285_examples(data: bytes, text: str) -> None:
    assert base45.encode(data) == text
    assert base45.decode(text) == data


@pytest.mark.parametrize("text", ["GGW", "A", "ZZ", "BB8a", "::", "GGW:"])
def test_base45_refuses_what_rfc_9285_section_6_refuses(text: str) -> None:
    """GGW = 65536 (triple too big), ZZ = 1620 (pair too big), a lone character, a lower-case letter."""
    with pytest.raises(base45.Base45Error):
        base45.decode(text)


@given(st.binary(max_size=400))
def test_base45_round_trips(data: bytes) -> None:
    assert base45.decode(base45.encode(data)) == data


def _rfc_9285_decode(text: str) -> bytes | None:
    """RFC 9285 §4.2 as written, one triple at a time: None where §6 refuses."""
    if len(text) % 3 == 1 or not set(text) <= set(base45.ALPHABET):
        return None
    values, out = [base45.ALPHABET.index(char) for char in text], bytearray()
    for start in range(0, len(values), 3):
        chunk = values[start:start + 3]
        n = sum(value * 45 ** power for power, value in enumerate(chunk))
        if n > (0xFFFF if len(chunk) == 3 else 0xFF):
            return None
        out += n.to_bytes(len(chunk) - 1, "big")
    return bytes(out)


@given(st.text(alphabet=base45.ALPHABET + "a\u00e9\u4e2d", max_size=300))
def test_base45_decoding_agrees_with_rfc_9285_triple_by_triple(text: str) -> None:
    """The arithmetic decoder accepts exactly what the RFC's loop accepts, with the same bytes
    (texts mostly of base45 characters, so big triples, big pairs and stray characters all occur)."""
    expected = _rfc_9285_decode(text)
    if expected is None:
        with pytest.raises(base45.Base45Error):
            base45.decode(text)
    else:
        assert base45.decode(text) == expected


@pytest.mark.parametrize(("text", "data"), [("FGW" * 94, b"\xff" * 188), ("FGW" * 94 + "U5", b"\xff" * 189),
                                           ("000" * 93 + "GGW", None), ("GGW" + "000" * 93, None), (":::" * 94, None),
                                           ("000" * 94 + "V5", None)])
def test_base45_edges_of_the_arithmetic_decoder(text: str, data: bytes | None) -> None:
    """The largest triple (FGW = 65535) and pair (U5 = 255) in a code-sized text; one more (GGW, V5),
    or the largest sum of all (::: = 91124), anywhere in it is refused."""
    if data is None:
        with pytest.raises(base45.Base45Error):
            base45.decode(text)
    else:
        assert base45.decode(text) == data


def _code(alg: str = keys.ED25519, **fields) -> tuple[f.Code, keys.SigningKey]:
    issuer, device = keys.generate(alg), keys.generate(alg)
    values = {"kid": 3, "serial": os.urandom(8), "nbf": NOW, "exp": NOW + 86400, "scenes": 0x05, "fare_class": 2, "flags": 1,
              "device_public_key": device.public_key} | fields
    cert = f.issue_certificate(issuer, **values)
    return f.make_code(cert, device, t=NOW + 10, ctr=65535), issuer


@pytest.mark.parametrize(("alg", "size", "text_length"), [(keys.ED25519, 188, 287), (keys.SM2, 189, 289)])
def test_sizes_and_qr_version_10_at_level_m(alg: str, size: int, text_length: int) -> None:
    code, _ = _code(alg)
    assert len(code.to_bytes()) == size and len(code.certificate.to_bytes()) == size - 70
    assert len(code.text) == text_length and code.text.startswith("DGC2:")
    symbol = segno.make_qr(code.text, error="m", mode="alphanumeric", boost_error=False)
    assert symbol.version == 10 and symbol.error == "M"


def test_the_fields_sit_at_the_issue_offsets() -> None:
    code, _ = _code()
    data, cert = code.to_bytes(), code.certificate
    assert data[0] == 0x21 and data[1:3] == b"\x00\x03" and data[3:11] == cert.serial
    assert int.from_bytes(data[11:15], "big") == NOW and int.from_bytes(data[15:19], "big") == NOW + 86400
    assert data[19:22] == bytes([0x05, 2, 1]) and data[22:54] == cert.dpk and data[54:118] == cert.isig
    assert int.from_bytes(data[118:122], "big") == NOW + 10 and data[122:124] == b"\xff\xff" and data[124:] == code.dsig


def test_parse_inverts_the_text_and_signatures_cover_the_documented_inputs() -> None:
    code, issuer = _code()
    assert f.parse(code.text) == code == offline.decode(code.text)
    data = code.to_bytes()
    assert issuer.verifying_key().verify(b"DGC2/cert\x00" + data[:54], data[54:118])
    assert code.certificate.device_key().verify(b"DGC2/code\x00" + data[:124], data[124:])


def _resign(code: f.Code, issuer: keys.SigningKey, **changes) -> str:
    """The code's bytes with raw field values changed (no checks), re-encoded as text."""
    from dataclasses import replace

    cert = replace(code.certificate, **changes)
    cert = replace(cert, isig=issuer.sign(f.cert_signing_input(cert.tbs())))
    return f.PREFIX + base45.encode(cert.to_bytes() + code.to_bytes()[118:])


@pytest.mark.parametrize("changes", [{"scenes": 0x08}, {"scenes": 0x80}, {"flags": 0x02}, {"flags": 0x80}, {"fare_class": 4},
                                     {"fare_class": 255}, {"nbf": NOW + 1, "exp": NOW}])
def test_reserved_values_do_not_parse(changes: dict) -> None:
    code, issuer = _code()
    with pytest.raises(f.FormatError):
        f.parse(_resign(code, issuer, **changes))


def test_a_certificate_over_72_hours_parses_but_does_not_decode() -> None:
    code, issuer = _code()
    text = _resign(code, issuer, exp=NOW + 72 * 3600 + 1)
    assert f.parse(text).certificate.lifetime == 72 * 3600 + 1
    with pytest.raises(f.LifetimeError):
        f.decode(text)
    assert f.decode(_resign(code, issuer, exp=NOW + 72 * 3600)).certificate.lifetime == 72 * 3600


@pytest.mark.parametrize("mangle", [lambda t: t[:-1], lambda t: t + "0", lambda t: t.lower(), lambda t: "DGC1:" + t[5:],
                                    lambda t: t[:5] + "a" + t[6:], lambda t: t + "\n", lambda t: "DGC2:" + "0" * 10_000])
def test_mangled_text_does_not_parse(mangle) -> None:
    code, _ = _code()
    with pytest.raises(f.FormatError):
        f.parse(mangle(code.text))


def test_an_unknown_ver_alg_does_not_parse() -> None:
    code, _ = _code()
    data = bytearray(code.to_bytes())
    data[0] = 0x23
    with pytest.raises(f.FormatError):
        f.parse(f.PREFIX + base45.encode(bytes(data)))


@pytest.mark.parametrize("fields", [{"scenes": 0x08}, {"flags": 0x02}, {"fare_class": 4}, {"nbf": NOW + 1, "exp": NOW},
                                    {"exp": NOW + 72 * 3600 + 1}, {"kid": 65536}, {"serial": b"short"}])
def test_the_issuer_refuses_out_of_range_fields(fields: dict) -> None:
    with pytest.raises(f.FormatError):
        _code(**fields)


def test_a_code_needs_the_certificate_s_own_device_key() -> None:
    code, _ = _code()
    with pytest.raises(ValueError):
        f.make_code(code.certificate, keys.generate(keys.ED25519), t=NOW, ctr=0)


@pytest.mark.parametrize("alg", [keys.ED25519, keys.SM2])
def test_proof_of_possession_binds_nonce_and_key(alg: str) -> None:
    device, nonce = keys.generate(alg), os.urandom(16)
    proof = f.proof_of_possession(device, nonce)
    assert device.verifying_key().verify(b"DGC2/pop\x00" + nonce + device.public_key, proof)
    assert f.verify_proof_of_possession(device.verifying_key(), nonce, proof)
    assert not f.verify_proof_of_possession(device.verifying_key(), os.urandom(16), proof)
    assert not f.verify_proof_of_possession(keys.generate(alg).verifying_key(), nonce, proof)


def test_scene_names_and_masks() -> None:
    assert f.scene_mask(["transit", "public_venue"]) == 0x05
    assert f.scene_names(0x07) == ["transit", "culture", "public_venue"]
    with pytest.raises(KeyError):
        f.scene_mask(["medical"])


def test_the_platform_entry_point_exports_what_it_lists() -> None:
    assert all(hasattr(offline, name) for name in offline.__all__)
    assert offline.parse is f.parse and offline.MAX_LIFETIME == 72 * 3600
