"""The gate algorithm (issue 16): steps, the terminal's memory, records, concurrency."""
from __future__ import annotations

import dataclasses
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from dgc2 import gate as gate_module
from dgc2 import keys
from dgc2.denylist import read_deny_list, write_deny_list
from dgc2.format import issue_certificate, make_code
from dgc2.gate import CertificateCache, Gate, check, verify_code
from dgc2.trust import IssuingKey, RootKey, read_trust_list, write_trust_list

NOW = 1_780_000_000
ROOT, DENY, ISSUER, DEVICE = (keys.generate(keys.ED25519) for _ in range(4))


def _trust(version: int = 1):
    document = write_trust_list(ROOT, 1, version=version, issued_at=NOW, next_update=NOW + 60,
                                keys=[IssuingKey(1, ISSUER.verifying_key(), NOW - 86400, NOW + 86400 * 30)],
                                deny_list_key=DENY.verifying_key())
    return read_trust_list(document, RootKey(1, ROOT.verifying_key()))


def _deny(serials=(), version: int = 1, issued_at: int = NOW):
    return read_deny_list(write_deny_list(DENY, version=version, issued_at=issued_at, next_update=issued_at + 60, serials=serials),
                          DENY.verifying_key())


def _cert(flags: int = 0, serial: bytes | None = None):
    return issue_certificate(ISSUER, kid=1, serial=serial or os.urandom(8), nbf=NOW - 60, exp=NOW + 86400, scenes=0x01,
                             fare_class=0, flags=flags, device_public_key=DEVICE.public_key)


def _gate(**kwargs) -> Gate:
    return Gate("gate-A01", "transit", _trust(), _deny(), **kwargs)


def test_an_accepted_scan_keeps_its_record_for_upload() -> None:
    gate = _gate(direction="in", record_id=lambda: "r-1")
    code = make_code(_cert(), DEVICE, t=NOW, ctr=0)
    decision = gate.scan(code.text, NOW + 1)
    assert decision.to_json() == {"accepted": True, "reason": None, "step": 13}
    assert decision.record.to_json() == {"record_id": "r-1", "terminal_id": "gate-A01", "scene": "transit", "direction": "in",
                                         "scanned_at": NOW + 1, "code": code.text}
    assert gate.take_records() == [decision.record] and gate.records == []


def test_records_leave_in_batches_of_at_most_1000() -> None:
    gate, cert = _gate(), _cert()
    for ctr in range(1001):
        assert gate.scan(make_code(cert, DEVICE, t=NOW, ctr=ctr).text, NOW).accepted
    assert len(gate.take_records()) == 1000 and len(gate.take_records()) == 1


def test_the_same_code_is_accepted_once_per_gate_even_under_32_concurrent_reads() -> None:
    gate = _gate()
    text = make_code(_cert(), DEVICE, t=NOW, ctr=7).text
    barrier = threading.Barrier(32)

    def scan(_):
        barrier.wait()
        return gate.scan(text, NOW)

    with ThreadPoolExecutor(32) as pool:
        decisions = list(pool.map(scan, range(32)))
    assert sum(d.accepted for d in decisions) == 1 and len(gate.records) == 1
    assert {(d.reason, d.step) for d in decisions if not d.accepted} == {("code_used", 12)}


def test_another_gate_accepts_the_same_code_and_the_server_settles_it_later() -> None:
    text = make_code(_cert(), DEVICE, t=NOW, ctr=0).text
    assert _gate().scan(text, NOW).accepted and Gate("gate-B02", "transit", _trust(), _deny()).scan(text, NOW).accepted


def test_anti_passback_refuses_the_serial_for_120_seconds_whatever_the_direction() -> None:
    cert = _cert(flags=1)
    gate = _gate()
    assert gate.scan(make_code(cert, DEVICE, t=NOW, ctr=0).text, NOW).accepted
    gate.direction = "out"
    assert gate.scan(make_code(cert, DEVICE, t=NOW + 119, ctr=1).text, NOW + 119).to_json()["reason"] == "code_used"
    assert gate.scan(make_code(cert, DEVICE, t=NOW + 120, ctr=2).text, NOW + 120).accepted


def test_without_the_flag_the_next_code_passes_at_once() -> None:
    cert, gate = _cert(), _gate()
    assert gate.scan(make_code(cert, DEVICE, t=NOW, ctr=0).text, NOW).accepted
    assert gate.scan(make_code(cert, DEVICE, t=NOW, ctr=1).text, NOW).accepted


def test_memory_is_forgotten_only_when_no_code_can_need_it() -> None:
    cert, gate = _cert(), _gate()
    text = make_code(cert, DEVICE, t=NOW + 20, ctr=0).text
    assert gate.scan(text, NOW).accepted
    for later in range(NOW + 1, NOW + 81, 10):  # the code stays acceptable until t + 60 = NOW + 80
        assert gate.scan(text, later).step == 12
    assert gate.scan(text, NOW + 81).step == 8


def test_the_memory_survives_a_restart() -> None:
    cert, gate = _cert(flags=1), _gate()
    text = make_code(cert, DEVICE, t=NOW, ctr=0).text
    gate.scan(text, NOW)
    restarted = _gate()
    restarted.restore(gate.state())
    assert restarted.scan(text, NOW + 1).step == 12 and restarted.records == gate.records
    assert restarted.scan(make_code(cert, DEVICE, t=NOW + 2, ctr=1).text, NOW + 2).step == 12


def test_older_lists_are_not_installed() -> None:
    gate = Gate("g", "transit", _trust(version=5), _deny(version=5))
    with pytest.raises(ValueError):
        gate.set_trust_list(_trust(version=4))
    with pytest.raises(ValueError):
        gate.set_deny_list(_deny(version=4))
    gate.set_deny_list(_deny(version=6))
    assert gate.deny.version == 6


def test_a_revoked_serial_is_refused_once_the_new_list_arrives() -> None:
    cert = _cert()
    gate = _gate()
    assert gate.scan(make_code(cert, DEVICE, t=NOW, ctr=0).text, NOW).accepted
    gate.set_deny_list(_deny([cert.serial], version=2, issued_at=NOW + 30))
    assert gate.scan(make_code(cert, DEVICE, t=NOW + 31, ctr=1).text, NOW + 31).to_json() == \
        {"accepted": False, "reason": "card_inactive", "step": 11}


def test_no_deny_list_means_no_offline_acceptance() -> None:
    text = make_code(_cert(), DEVICE, t=NOW, ctr=0).text
    assert check(text, _trust(), None, "transit", NOW).to_json() == {"accepted": False, "reason": "scene_unavailable", "step": 10}


def test_verify_code_is_steps_1_to_8_for_the_platform() -> None:
    text = make_code(_cert(), DEVICE, t=NOW, ctr=0).text
    passed = verify_code(text, _trust(), NOW)
    assert passed.accepted and passed.step == 9 and passed.code.ctr == 0
    assert verify_code(text, _trust(), NOW + 61).to_json() == {"accepted": False, "reason": "code_expired", "step": 8}
    assert verify_code("DGC2:", _trust(), NOW).step == 1


def _forged(good, signer: keys.SigningKey, device: keys.SigningKey, **fields):
    """A certificate with ``good``'s kid and serial (and any ``fields``) signed by ``signer``, not the issuer."""
    return issue_certificate(signer, kid=good.kid, serial=good.serial, nbf=good.nbf, exp=good.exp, scenes=good.scenes,
                             fare_class=good.fare_class, flags=good.flags, device_public_key=device.public_key, **fields)


def test_a_certificate_cache_refuses_a_forged_certificate_that_shares_a_good_ones_serial() -> None:
    """The cache is keyed by the whole certificate: a forgery with the good one's kid and serial
    (another device key, signed by someone else), met after the good one was cached, fails step 4;
    so does the good certificate with a changed issuer signature; the good one still passes."""
    trust, good, thief = _trust(), _cert(), keys.generate(keys.ED25519)
    cache = CertificateCache(trust)
    assert verify_code(make_code(good, DEVICE, t=NOW, ctr=0).text, trust, NOW, cache).accepted
    forged = _forged(good, thief, thief)
    assert verify_code(make_code(forged, thief, t=NOW, ctr=1).text, trust, NOW, cache).to_json() == {
        "accepted": False, "reason": "code_invalid", "step": 4}
    resigned = dataclasses.replace(good, isig=bytes([good.isig[0] ^ 1]) + good.isig[1:])
    assert verify_code(make_code(resigned, DEVICE, t=NOW, ctr=2).text, trust, NOW, cache).step == 4
    assert verify_code(make_code(good, DEVICE, t=NOW, ctr=3).text, trust, NOW, cache).accepted


def test_a_certificate_cache_remembers_a_refusal_and_still_checks_each_codes_own_signature() -> None:
    """A forgery met first is refused, and again from the cache; the good certificate with the same
    serial after it passes; a code of a cached good certificate with a bad device signature fails step 5."""
    trust, good, thief = _trust(), _cert(), keys.generate(keys.ED25519)
    cache = CertificateCache(trust)
    forged = make_code(_forged(good, thief, thief), thief, t=NOW, ctr=0).text
    assert [verify_code(forged, trust, NOW, cache).step for _ in range(2)] == [4, 4]
    assert verify_code(make_code(good, DEVICE, t=NOW, ctr=0).text, trust, NOW, cache).accepted
    other = make_code(_cert(), DEVICE, t=NOW, ctr=1)  # signed by DEVICE over another certificate's bytes
    spliced = dataclasses.replace(make_code(good, DEVICE, t=NOW, ctr=1), dsig=other.dsig)
    assert verify_code(spliced.text, trust, NOW, cache).step == 5


def test_a_certificate_cache_verifies_each_certificate_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(gate_module, "_cert_input", lambda tbs: calls.append(tbs) or b"DGC2/cert\x00" + tbs)
    trust, first, second = _trust(), _cert(), _cert()
    cache = CertificateCache(trust)
    for ctr in range(10):
        for cert in (first, second):
            assert verify_code(make_code(cert, DEVICE, t=NOW, ctr=ctr).text, trust, NOW, cache).accepted
    assert len(calls) == 2


def test_a_certificate_cache_is_for_one_trust_list() -> None:
    with pytest.raises(ValueError, match="another trust list"):
        verify_code(make_code(_cert(), DEVICE, t=NOW, ctr=0).text, _trust(), NOW, CertificateCache(_trust()))
