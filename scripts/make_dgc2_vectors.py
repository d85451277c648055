"""Generate the published DGC2 test vectors, ``docs/offline-codes/vectors.json`` (issue 16).

Deterministic: fixed keys (derived from labels), fixed times, and SM2 signatures with a nonce
derived from the key and the message (:func:`dgc2.sm2.sign_with_k`), so a re-run writes a
byte-identical file (tests/unit/test_dgc2_vectors.py regenerates it and compares).

Shape (fixed by the issue)::

    {"keys": {"root": {...}, "issuing": [...], "device": [...], "deny_list": {...}},
     "vectors": [{"name", "code", "context": {"trust_list", "deny_list", "now", "scene"},
                  "expected": {"accepted", "reason", "step"}, "layers": {...}}]}

``context.earlier`` (when present) lists scans this same terminal accepted before, in order, as
``{"code", "now"}``: replay them through the gate first. ``layers`` gives the code's bytes and
certificate (hex), its text and a PNG (base64, QR level M, 4 pixels per module; null when the text
is not QR-alphanumeric). Expected decisions are written here by hand, case by case, not computed by
the verifier the tests check.

Usage: ``python scripts/make_dgc2_vectors.py [--check]`` (``--check``: exit 1 if the file differs).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "terminal")]

from dgc2 import b64, sm2  # noqa: E402
from dgc2.denylist import write_deny_list  # noqa: E402
from dgc2.format import Certificate, Code, cert_signing_input, code_signing_input, issue_certificate, make_code  # noqa: E402
from dgc2.keys import ED25519, SM2, SigningKey  # noqa: E402
from dgc2.trust import IssuingKey, write_trust_list  # noqa: E402
from qr import render  # noqa: E402

OUTPUT = ROOT / "docs" / "offline-codes" / "vectors.json"
NOW = 1_780_000_000  # 2026-05-28T20:26:40Z
NBF, EXP = NOW - 3600, NOW - 3600 + 24 * 3600
KEY_FROM, KEY_UNTIL = NOW - 30 * 86400, NOW + 60 * 86400
ROOT_KID = 1
TRANSIT = 0x01


class TestKey(SigningKey):
    """A published test key whose SM2 signatures use a nonce derived from key and message
    (reproducible output). Never do this with a real key."""

    def sign(self, message: bytes) -> bytes:
        if self.alg != SM2:
            return super().sign(message)
        digest = hmac.new(self.raw, message, hashlib.sha256).digest()
        return sm2.sign_with_k(self.raw, message, int.from_bytes(digest, "big") % (sm2.N - 1) + 1)


def _key(alg: str, label: str) -> TestKey:
    seed = hashlib.sha256(f"DGC2 test vectors: {label}".encode()).digest()
    if alg == SM2:
        seed = (int.from_bytes(seed, "big") % (sm2.N - 2) + 1).to_bytes(32, "big")
    return TestKey(alg, seed)


def _serial(label: str) -> bytes:
    return hashlib.sha256(f"DGC2 test serial: {label}".encode()).digest()[:8]


ROOT_KEY = _key(ED25519, "root")
DENY_KEY = _key(ED25519, "deny list")
ISSUERS = {1: _key(ED25519, "issuing kid 1"), 2: _key(SM2, "issuing kid 2")}
STRANGER = _key(ED25519, "issuing key not in the trust list")
DEVICES = {ED25519: _key(ED25519, "device ed25519"), SM2: _key(SM2, "device sm2")}
KID_OF = {ED25519: 1, SM2: 2}
DENIED = _serial("denied")


def trust_list() -> dict:
    keys = [IssuingKey(kid, key.verifying_key(), KEY_FROM, KEY_UNTIL) for kid, key in ISSUERS.items()]
    return write_trust_list(ROOT_KEY, ROOT_KID, version=7, issued_at=NOW - 3600, next_update=NOW + 82800,
                            keys=keys, deny_list_key=DENY_KEY.verifying_key())


def deny_list(issued_at: int = NOW - 30) -> str:
    serials = [DENIED] + [_serial(f"other {n}") for n in range(5)]
    return b64.encode(write_deny_list(DENY_KEY, version=42, issued_at=issued_at, next_update=issued_at + 60, serials=serials))


def certificate(alg: str = ED25519, *, serial: bytes | None = None, nbf: int = NBF, exp: int = EXP, scenes: int = TRANSIT,
                flags: int = 0, fare_class: int = 0) -> Certificate:
    return issue_certificate(ISSUERS[KID_OF[alg]], kid=KID_OF[alg], serial=serial or _serial(f"valid {alg}"), nbf=nbf,
                             exp=exp, scenes=scenes, fare_class=fare_class, flags=flags,
                             device_public_key=DEVICES[alg].public_key)


def code(cert: Certificate | None = None, *, t: int = NOW - 5, ctr: int = 0) -> Code:
    cert = cert or certificate()
    return make_code(cert, DEVICES[cert.alg], t=t, ctr=ctr)


def resigned(cert: Certificate, issuer: SigningKey) -> Certificate:
    """``cert`` signed again by ``issuer`` as it stands (reserved values and all: no checks)."""
    return replace(cert, isig=issuer.sign(cert_signing_input(cert.tbs())))


def code_on(cert: Certificate, device: SigningKey, *, t: int = NOW - 5, ctr: int = 0) -> Code:
    """A code on ``cert`` built without :func:`make_code`'s checks (for invalid certificates)."""
    unsigned = Code(cert, t, ctr, b"")
    return Code(cert, t, ctr, device.sign(code_signing_input(unsigned.unsigned())))


def flip(text_bytes: bytes, offset: int, bit: int) -> bytes:
    data = bytearray(text_bytes)
    data[offset] ^= 1 << bit
    return bytes(data)


def as_text(data: bytes) -> str:
    from dgc2 import base45

    return "DGC2:" + base45.encode(data)


ACCEPT = {"accepted": True, "reason": None, "step": 13}


def refuse(step: int, reason: str) -> dict:
    return {"accepted": False, "reason": reason, "step": step}


INVALID = "code_invalid"


def _cases() -> list[tuple]:
    """(name, text, expected, context overrides)."""
    valid = code()
    valid_bytes = valid.to_bytes()
    sm2_valid = code(certificate(SM2))
    cases = [
        ("valid_ed25519", valid.text, ACCEPT, {}),
        ("valid_sm2", sm2_valid.text, ACCEPT, {}),
        ("generated_60s_ago", code(t=NOW - 60).text, ACCEPT, {}),
        ("generated_61s_ago", code(t=NOW - 61).text, refuse(8, "code_expired"), {}),
        ("generated_20s_ahead", code(t=NOW + 20).text, ACCEPT, {}),
        ("generated_21s_ahead", code(t=NOW + 21).text, refuse(7, INVALID), {}),
        ("certificate_expired_20s_ago", code(t=EXP - 10).text, ACCEPT, {"now": EXP + 20, "deny_list": deny_list(EXP)}),
        ("certificate_expired_21s_ago", code(t=EXP - 10).text, refuse(6, "code_expired"), {"now": EXP + 21, "deny_list": deny_list(EXP)}),
        ("generated_before_certificate", code(certificate(nbf=NOW - 1), t=NOW - 2).text, refuse(7, INVALID), {}),
        ("generated_after_certificate", code(certificate(nbf=NOW - 7200, exp=NOW - 3), t=NOW - 2).text, refuse(7, INVALID), {}),
    ]
    # One bit changed in each field (Ed25519), and in each signature (SM2).
    layout = [("ver_alg", 0, 0, 1, INVALID), ("kid", 1, 0, 2, INVALID), ("serial", 3, 7, 4, INVALID),
              ("nbf", 14, 0, 4, INVALID), ("exp", 18, 0, 4, INVALID), ("scenes", 19, 1, 4, INVALID),
              ("fare_class", 20, 0, 4, INVALID), ("flags", 21, 0, 4, INVALID), ("dpk", 40, 3, 4, INVALID),
              ("isig", 90, 5, 4, INVALID), ("t", 121, 0, 5, INVALID), ("ctr", 123, 0, 5, INVALID),
              ("dsig", 150, 6, 5, INVALID)]
    for field, offset, bit, step, reason in layout:
        cases.append((f"bit_flip_{field}", as_text(flip(valid_bytes, offset, bit)), refuse(step, reason), {}))
    sm2_bytes = sm2_valid.to_bytes()
    cases += [("bit_flip_sm2_isig", as_text(flip(sm2_bytes, 60, 2)), refuse(4, INVALID), {}),
              ("bit_flip_sm2_dsig", as_text(flip(sm2_bytes, 160, 4)), refuse(5, INVALID), {})]
    # Reserved values, each in an otherwise correctly signed code.
    base = certificate()
    for name, changed in [("reserved_scene_bit_3", replace(base, scenes=TRANSIT | 0x08)),
                          ("reserved_flag_bit_1", replace(base, flags=0x02)),
                          ("reserved_fare_class_4", replace(base, fare_class=4)),
                          ("nbf_after_exp", replace(base, nbf=NOW, exp=NOW - 1))]:
        cases.append((name, code_on(resigned(changed, ISSUERS[1]), DEVICES[ED25519]).text, refuse(1, INVALID), {}))
    cases += [
        ("lifetime_over_72h", code_on(resigned(replace(base, nbf=NOW - 3600, exp=NOW - 3600 + 72 * 3600 + 1), ISSUERS[1]),
                                      DEVICES[ED25519]).text, refuse(3, INVALID), {}),
        ("certificate_outlives_its_key", code_on(resigned(replace(base, exp=KEY_UNTIL + 1, nbf=KEY_UNTIL - 3600), ISSUERS[1]),
                                                 DEVICES[ED25519], t=NOW - 5).text, refuse(3, INVALID), {}),
        # An SM2 code naming kid 1, an Ed25519 key: the algorithm is bound to the kid.
        ("wrong_algorithm_for_kid", code_on(resigned(replace(certificate(SM2), kid=1), ISSUERS[2]), DEVICES[SM2]).text,
         refuse(2, INVALID), {}),
        ("unknown_kid", code_on(resigned(replace(base, kid=9), STRANGER), DEVICES[ED25519]).text, refuse(2, INVALID), {}),
        ("truncated_by_one_byte", as_text(valid_bytes[:-1]), refuse(1, INVALID), {}),
        ("truncated_text", valid.text[:-1], refuse(1, INVALID), {}),
        ("one_byte_too_long", as_text(valid_bytes + b"\x00"), refuse(1, INVALID), {}),
        ("wrong_prefix", "DGC1:" + valid.text[5:], refuse(1, INVALID), {}),
        ("lower_case_text", valid.text.lower(), refuse(1, INVALID), {}),
        ("deny_listed", code(certificate(serial=DENIED)).text, refuse(11, "card_inactive"), {}),
        ("deny_list_stale", valid.text, refuse(10, "scene_unavailable"), {"deny_list": deny_list(NOW - 901)}),
        ("deny_list_exactly_15_minutes_old", valid.text, ACCEPT, {"deny_list": deny_list(NOW - 900)}),
        ("scene_not_permitted", valid.text, refuse(9, "scene_not_permitted"), {"scene": "culture"}),
        ("scene_never_offline_medical", valid.text, refuse(9, "scene_not_permitted"), {"scene": "medical"}),
        ("replay_same_gate", valid.text, refuse(12, "code_used"), {"earlier": [{"code": valid.text, "now": NOW - 4}]}),
    ]
    passback = certificate(serial=_serial("anti-passback"), flags=0x01)
    first = code(passback, t=NOW - 125, ctr=0).text
    cases += [
        ("anti_passback_next_code_within_120s", code(passback, t=NOW - 5, ctr=1).text, refuse(12, "code_used"),
         {"earlier": [{"code": code(passback, t=NOW - 119, ctr=0).text, "now": NOW - 119}]}),
        ("anti_passback_next_code_after_120s", code(passback, t=NOW - 5, ctr=1).text, ACCEPT,
         {"earlier": [{"code": first, "now": NOW - 120}]}),
        ("no_anti_passback_next_code", code(t=NOW - 5, ctr=1).text, ACCEPT,
         {"earlier": [{"code": valid.text, "now": NOW - 4}]}),
    ]
    return cases


def _png(text: str) -> str | None:
    try:
        return base64.b64encode(render.png(text, scale=4)).decode()
    except ValueError:  # not QR-alphanumeric (e.g. lower case): no symbol in the code's mode
        return None


def _layers(text: str) -> dict:
    from dgc2 import base45

    try:
        data = base45.decode(text[5:]) if text.startswith("DGC2:") else None
    except ValueError:
        data = None
    cert_length = 119 if data and data[0] == 0x22 else 118
    return {"code_bytes": data.hex() if data is not None else None,
            "certificate": data[:cert_length].hex() if data is not None and len(data) >= cert_length else None,
            "text": text, "png": _png(text)}


def _private(key: SigningKey) -> dict:
    return {"alg": key.alg, "public_key": b64.encode(key.public_key), "private_key": b64.encode(key.raw)}


def build() -> dict:
    """The whole vectors document."""
    context = {"trust_list": trust_list(), "deny_list": deny_list(), "now": NOW, "scene": "transit"}
    vectors = [{"name": name, "code": text, "context": {**context, **overrides}, "expected": expected, "layers": _layers(text)}
               for name, text, expected, overrides in _cases()]
    keys = {
        "root": {"root_kid": ROOT_KID, **_private(ROOT_KEY)},
        "issuing": [{"kid": kid, **_private(key), "not_before": KEY_FROM, "not_after": KEY_UNTIL} for kid, key in ISSUERS.items()],
        "device": [_private(key) for key in DEVICES.values()],
        "deny_list": _private(DENY_KEY),
        "not_in_trust_list": [{"kid": 9, **_private(STRANGER)}],
    }
    return {"description": "DGC2 offline code test vectors (docs/offline-codes.md); the private keys are TEST keys, trust none",
            "keys": keys, "vectors": vectors}


def render_file() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed file differs")
    args = parser.parse_args()
    text = render_file()
    if args.check:
        return 0 if OUTPUT.read_text() == text else 1
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
