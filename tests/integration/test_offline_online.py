"""DGC2 codes online: POST /api/partner/v1/verifications (issue 16, docs/offline-codes.md §7,
docs/partner-api.md): the gate's algorithm with the platform's own trust list and the live card
state, the gate's windows (60 s back, 20 s ahead), one use per (serial, ctr) in the same ledger as
DGC1, and invalid codes counted like invalid DGC1 codes."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.platform.db import db
from app.scanning import guessing, verification
from app.scanning.models import Verification
from qr import offline
from scenes.signing import authorization_header

from ..helpers import ApiClient, verification_row
from .test_login import error_code
from .test_offline_certificates import HOLDER, Phone

RUN_ON_CLUSTER = True  # also on the Redis Cluster backend (tests/conftest.py, pytest -m cluster)


@pytest.fixture
def phone(api: ApiClient) -> Phone:
    return Phone(api, api.bound_citizen(HOLDER)).set_up()


@pytest.fixture
def partner(api: ApiClient) -> dict[str, str]:
    return api.partner(scenes=("transit", "medical"))


def _flip(text: str, byte: int) -> str:
    """The code with one bit of byte ``byte`` changed (base45 re-encoded: a well-formed text)."""
    data = bytearray(offline.base45.decode(text[len(offline.PREFIX):]))
    data[byte] ^= 0x01
    return offline.PREFIX + offline.base45.encode(bytes(data))


@pytest.mark.parametrize("alg", [offline.ED25519, offline.SM2])
def test_a_dgc2_code_is_accepted_online_with_the_scene_s_subject(api: ApiClient, phone: Phone, partner: dict,
                                                                 alg: str) -> None:
    text, _ = phone.code(alg)
    dgc1 = api.verify(partner, api.code(phone.token), terminal_id="gate-2").json
    answer = api.verify(partner, text).json
    assert (answer["accepted"], answer["reason"], answer["scene"], answer["duplicate"]) == (True, None, "transit", False)
    assert set(answer["subject"]) == set(dgc1["subject"])  # the scene policy's subject, as for DGC1
    assert answer["subject"]["settlement_token"] == dgc1["subject"]["settlement_token"]  # per-partner token: the same
    with api.app.app_context():
        row = verification_row(answer["verification_id"])
        assert row.use_key is not None and row.use_key.startswith("dgc2:") and row.card_id is not None
        assert text not in json.dumps({c.name: str(getattr(row, c.name)) for c in Verification.__table__.columns})


def test_a_dgc2_code_verifies_only_once_and_a_re_read_gets_the_original_answer(api: ApiClient, phone: Phone,
                                                                              partner: dict) -> None:
    text, certificate = phone.code()
    first = api.verify(partner, text).json
    assert first["accepted"] is True
    assert api.verify(partner, text).json == {**first, "duplicate": True}
    second = api.verify(partner, text, terminal_id="gate-2").json
    assert (second["accepted"], second["reason"], second["subject"]) == (False, "code_used", None)


def test_the_next_code_of_the_same_certificate_is_accepted_but_not_a_second_use_of_a_counter(
        api: ApiClient, phone: Phone, partner: dict) -> None:
    certificate, device = phone.certificate()
    now = int(api.clock.time())
    codes = [offline.make_code(certificate, device, t=now, ctr=ctr).text for ctr in (0, 1)]
    assert api.verify(partner, codes[1]).json["accepted"] is True
    assert api.verify(partner, codes[0], terminal_id="gate-2").json["accepted"] is True  # another (serial, ctr)
    again = offline.make_code(certificate, device, t=now + 5, ctr=1).text  # same (serial, ctr), other bytes
    assert api.verify(partner, again, terminal_id="gate-3").json["reason"] == "code_used"


def test_32_concurrent_submissions_of_one_dgc2_code_accept_exactly_one(api: ApiClient, phone: Phone, partner: dict) -> None:
    text, _ = phone.code()
    barrier = threading.Barrier(32)

    def attempt(n: int) -> dict:
        client = api.app.test_client()
        body = json.dumps({"code": text, "scene": "transit", "terminal_id": f"gate-{n}"}).encode()
        header = authorization_header(partner["partner_id"], partner["secret"], "POST", "/api/partner/v1/verifications",
                                      body, int(api.clock.time()), f"nonce-{n:04d}-dgc2-parallel")
        barrier.wait()
        return client.post("/api/partner/v1/verifications", data=body,
                           headers={"Authorization": header, "Content-Type": "application/json"}).json

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(attempt, range(32)))
    assert sum(answer["accepted"] for answer in answers) == 1
    assert sorted(answer["reason"] for answer in answers if not answer["accepted"]) == ["code_used"] * 31
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).where(Verification.accepted.is_(True))) == 1


def test_the_durable_ledger_refuses_a_dgc2_use_the_store_forgot(api: ApiClient, phone: Phone, partner: dict) -> None:
    text, _ = phone.code()
    assert api.verify(partner, text).json["accepted"] is True
    mark_key = verification.OneTimeUse.dgc2(offline.parse(text)).mark_key
    assert api.rt.store.get(mark_key) == "1"
    api.rt.store.put(mark_key, "0", 60)  # the store lost its mark: only the unique use_key is left
    assert api.verify(partner, text, terminal_id="gate-2").json["reason"] == "code_used"


@pytest.mark.parametrize(("offset", "accepted", "reason"), [
    (60, True, None), (61, False, "code_expired"),  # t >= now - 60
    (-20, True, None), (-21, False, "code_invalid"),  # t <= now + 20 (a phone clock ahead)
])
def test_the_gate_s_time_windows_apply_online(api: ApiClient, phone: Phone, partner: dict, offset: int,
                                             accepted: bool, reason: str | None) -> None:
    certificate, device = phone.certificate()
    now = int(api.clock.time())
    if offset > 0:  # made now, scanned ``offset`` s later
        text = offline.make_code(certificate, device, t=now, ctr=0).text
        api.clock.advance(offset)
    else:  # made ``-offset`` s ahead of the server's clock
        text = offline.make_code(certificate, device, t=now - offset, ctr=0).text
    answer = api.verify(partner, text).json
    assert (answer["accepted"], answer["reason"]) == (accepted, reason)


def test_an_expired_certificate_s_code_is_expired(api: ApiClient, phone: Phone, partner: dict) -> None:
    certificate, device = phone.certificate()
    api.clock.advance(certificate.exp - int(api.clock.time()) + 21)
    text = offline.make_code(certificate, device, t=certificate.exp, ctr=0).text
    assert api.verify(partner, text).json["reason"] == "code_expired"


@pytest.mark.parametrize("action", ["suspension", "device_move"])
def test_a_revoked_certificate_or_inactive_card_is_card_inactive(api: ApiClient, phone: Phone, partner: dict,
                                                                 action: str) -> None:
    text, _ = phone.code()
    if action == "suspension":
        assert phone.post("/card/ecard/suspension").status_code == 200
    else:
        assert phone.post("/card/ecard/device", {"installation_id": "the-new-phone-02"}).status_code == 200
    answer = api.verify(partner, text).json
    assert (answer["accepted"], answer["reason"], answer["subject"]) == (False, "card_inactive", None)


def test_a_scene_the_certificate_lacks_is_not_permitted_and_not_counted(api: ApiClient, phone: Phone,
                                                                        partner: dict) -> None:
    text, _ = phone.code()
    for n in range(guessing.TERMINAL_LIMIT + 2):
        answer = api.verify(partner, text, scene="medical").json
        assert (answer["accepted"], answer["reason"]) == (False, "scene_not_permitted"), n
    assert api.verify(partner, text).json["accepted"] is True  # the terminal was not throttled; the code not used


@pytest.mark.parametrize("byte", [1, 3, 12, 19, 30, 60, 119, 123, 130])  # kid, serial, nbf, scenes, dpk, isig, t, ctr, dsig
def test_a_tampered_dgc2_code_is_invalid_and_names_no_card(api: ApiClient, phone: Phone, partner: dict, byte: int) -> None:
    text, _ = phone.code()
    answer = api.verify(partner, _flip(text, byte)).json
    assert (answer["accepted"], answer["reason"], answer["subject"]) == (False, "code_invalid", None)
    with api.app.app_context():
        row = verification_row(answer["verification_id"])
        assert row.card_id is None
    assert api.verify(partner, text, terminal_id="gate-2").json["accepted"] is True  # the real code survives


def test_invalid_dgc2_codes_count_against_the_terminal_like_invalid_dgc1_codes(api: ApiClient, phone: Phone,
                                                                               partner: dict) -> None:
    text, _ = phone.code()
    forged = _flip(text, 130)
    for _ in range(guessing.TERMINAL_LIMIT + 1):
        assert api.verify(partner, forged).json["reason"] == "code_invalid"
    blocked = api.verify(partner, text)
    assert (blocked.status_code, error_code(blocked)) == (429, "too_many_invalid_codes")
    assert api.verify(partner, text, terminal_id="gate-2").json["accepted"] is True  # other terminals go on
    owner = api.verify(partner, api.code(phone.token), terminal_id="gate-3").json  # the card was not slowed down
    assert owner["accepted"] is True


@pytest.mark.parametrize("mangle", [lambda t: t[:-1], lambda t: t + "0", lambda t: t.lower(), lambda t: "DGC2:"])
def test_malformed_dgc2_texts_are_invalid(api: ApiClient, phone: Phone, partner: dict, mangle) -> None:  # type: ignore[no-untyped-def]
    text, _ = phone.code()
    assert api.verify(partner, mangle(text)).json["reason"] == "code_invalid"


def test_a_code_signed_by_an_issuing_key_the_platform_does_not_hold_is_invalid(api: ApiClient, phone: Phone,
                                                                               partner: dict) -> None:
    genuine, device = phone.certificate()
    stranger = offline.generate(offline.ED25519)
    forged = offline.issue_certificate(stranger, kid=genuine.kid, serial=genuine.serial, nbf=genuine.nbf, exp=genuine.exp,
                                       scenes=genuine.scenes, fare_class=genuine.fare_class, flags=0,
                                       device_public_key=device.public_key)
    text = offline.make_code(forged, device, t=int(api.clock.time()), ctr=0).text
    assert api.verify(partner, text).json["reason"] == "code_invalid"
