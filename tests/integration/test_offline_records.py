"""Uploaded offline records (issue 16, docs/offline-codes.md "Records for upload"): settled in the
online ledger, idempotent by record_id, a malformed record among good ones, replays and clones
flagged (a clone's serial on the next deny list), a scan before a revocation settled, 1,000 records
in one request, 32 concurrent uploads of one batch."""
from __future__ import annotations

import json
import random
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from app.card.models import Card
from app.card.offline_lists import revoke_card_certificates
from app.platform.db import db
from app.scanning.models import Verification
from qr import offline

from ..helpers import ApiClient, verification_row
from .test_offline_certificates import HOLDER, Phone
from .test_offline_lists import GateOperator

RECORDS_PATH = "/api/partner/v1/offline/records"
FINDINGS_PATH = "/api/partner/v1/offline/findings"


@pytest.fixture
def phone(api: ApiClient) -> Phone:
    return Phone(api, api.bound_citizen(HOLDER)).set_up()


@pytest.fixture
def operator(api: ApiClient) -> GateOperator:
    return GateOperator(api)


def upload(api: ApiClient, operator: GateOperator, records: list[dict[str, Any]], client: Any = None) -> Any:
    body = json.dumps({"records": records}).encode()
    if client is None:
        return api.signed_post(operator.partner, body, RECORDS_PATH)
    from scenes.signing import authorization_header
    header = authorization_header(operator.partner["partner_id"], operator.partner["secret"], "POST", RECORDS_PATH, body,
                                  int(api.clock.time()), secrets.token_hex(12))
    return client.post(RECORDS_PATH, data=body, headers={"Authorization": header, "Content-Type": "application/json"})


def record(code: str, terminal_id: str = "gate-1", at: int = 0, record_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"record_id": record_id or secrets.token_hex(16), "terminal_id": terminal_id, "scene": "transit",
            "scanned_at": at, "code": code, **extra}


def codes(api: ApiClient, phone: Phone, n: int) -> list[str]:
    certificate, device = phone.certificate()
    now = int(api.clock.time())
    return [offline.make_code(certificate, device, t=now, ctr=ctr).text for ctr in range(n)]


def results(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [r["status"] for r in response.json["results"]]


def findings(api: ApiClient, operator: GateOperator) -> list[dict[str, Any]]:
    response = operator.get(FINDINGS_PATH)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["findings"]


def test_an_accepted_offline_scan_is_settled_in_the_online_ledger_with_the_online_tokens(
        api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    now = int(api.clock.time())
    [code] = codes(api, phone, 1)
    response = upload(api, operator, [record(code, "gate-7", now)])
    assert results(response) == ["settled"]
    answer = response.json["results"][0]
    online = api.verify(operator.partner, api.code(api.login(HOLDER)), terminal_id="gate-2")
    assert online.json["accepted"], online.json
    assert answer["subject"]["settlement_token"] == online.json["subject"]["settlement_token"]
    with api.app.app_context():
        stored = verification_row(answer["verification_id"])
        assert stored.terminal_id == "gate-7" and stored.accepted
    history = api.client.get("/api/mp/v1/card/verifications", headers=api.bearer(api.login(HOLDER)))
    assert history.status_code == 200 and len(history.json["items"]) == 2


def test_a_re_upload_of_a_record_is_a_duplicate_with_the_same_answer(api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    [code] = codes(api, phone, 1)
    batch = [record(code, at=int(api.clock.time()))]
    first = upload(api, operator, batch).json["results"][0]
    again = upload(api, operator, batch).json["results"][0]
    assert first["status"] == "settled" and again["status"] == "duplicate_record"
    assert (again["verification_id"], again["subject"]) == (first["verification_id"], first["subject"])
    assert findings(api, operator) == []


def test_a_malformed_record_among_good_ones_is_invalid_and_the_rest_are_settled(
        api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    now = int(api.clock.time())
    good = codes(api, phone, 2)
    tampered = good[1][:-1] + ("0" if good[1][-1] != "0" else "1")
    batch = [record(good[0], at=now), {"record_id": "x"}, record(tampered, at=now), "not an object",
             record(good[1], at=now, scanned_at="yesterday"), record(good[1], at=now, terminal_id="gate-none"),
             record(good[1], at=now)]
    batch[4]["scanned_at"] = "yesterday"
    assert results(upload(api, operator, batch)) == ["settled", "invalid", "invalid", "invalid", "invalid",
                                                     "terminal_unknown", "settled"]


@pytest.mark.parametrize("body", [b"[]", b'{"records": {}}', b'{"records": []}', b'{"nothing": 1}', b'{"records": 5}'])
def test_a_malformed_body_is_422(api: ApiClient, operator: GateOperator, body: bytes) -> None:
    response = api.signed_post(operator.partner, body, RECORDS_PATH)
    assert response.status_code == 422 and response.json["error"]["code"] == "validation_error", response.get_data(as_text=True)


def test_a_body_that_is_not_json_is_400_like_everywhere(api: ApiClient, operator: GateOperator) -> None:
    response = api.signed_post(operator.partner, b"not json", RECORDS_PATH)
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"


def test_a_thousand_records_fit_in_one_request(api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    now = int(api.clock.time())
    batch = [record(code, at=now) for code in codes(api, phone, 1000)]
    assert len(json.dumps({"records": batch})) > 64 * 1024
    assert results(upload(api, operator, batch)) == ["settled"] * 1000
    over = upload(api, operator, batch + [record("DGC2:X", at=now)])
    assert over.status_code == 422


def test_a_code_accepted_at_two_gates_is_a_replay_finding(api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    now = int(api.clock.time())
    [code] = codes(api, phone, 1)
    first, second = record(code, "gate-1", now), record(code, "gate-2", now + 30)
    assert results(upload(api, operator, [first])) == ["settled"]
    api.clock.advance(30)
    assert results(upload(api, operator, [second])) == ["double_use"]
    [finding] = findings(api, operator)
    assert finding["kind"] == "replay" and finding["record_ids"] == [first["record_id"], second["record_id"]]
    assert len(finding["serial"]) == 16


def test_a_code_used_online_then_uploaded_is_a_double_use(api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    [code] = codes(api, phone, 1)
    serial, ctr = offline.parse(code).certificate.serial.hex(), 0
    with api.app.app_context():  # the online ledger's row (online DGC2 writes the same use_key)
        card_id = db.session.scalar(select(Card.id))
        db.session.add(Verification(id="vf_online", partner_id=1, terminal_id="t1", scene="transit", card_id=card_id,
                                    accepted=True, reason=None, use_key=f"dgc2:{serial}:{ctr}", created_at=api.clock.now(),
                                    code_step=offline.parse(code).certificate.nbf // 30))  # as online: the nbf step
        db.session.commit()
    assert results(upload(api, operator, [record(code, at=int(api.clock.time()))])) == ["double_use"]


def test_a_clone_of_a_code_used_online_is_flagged_and_its_serial_is_on_the_next_deny_list(
        api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    """A trial found that a clone escaped when the first use was online (only uploads kept the bytes)."""
    now = int(api.clock.time())
    certificate, device = phone.certificate()
    original = offline.make_code(certificate, device, t=now, ctr=7).text
    clone = offline.make_code(certificate, device, t=now + 2, ctr=7).text  # another phone, same key and counter
    online = api.verify(operator.partner, original, terminal_id="gate-1")
    assert online.json["accepted"], online.json
    api.clock.advance(2)
    replayed, cloned = record(original, "gate-2", now), record(clone, "gate-9", now + 2)
    assert results(upload(api, operator, [replayed, cloned])) == ["double_use", "clone_suspect"]
    assert [f["kind"] for f in findings(api, operator)] == ["replay", "clone"]
    assert certificate.serial in operator.deny(operator.trust())


def test_a_clone_is_flagged_and_its_serial_is_on_the_next_deny_list(api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    now = int(api.clock.time())
    certificate, device = phone.certificate()
    original = offline.make_code(certificate, device, t=now, ctr=5).text
    clone = offline.make_code(certificate, device, t=now + 3, ctr=5).text  # another phone with the same key and counter
    batch = [record(original, "gate-1", now), record(clone, "gate-9", now + 3)]
    api.clock.advance(3)
    assert results(upload(api, operator, batch)) == ["settled", "clone_suspect"]
    [finding] = findings(api, operator)
    assert finding["kind"] == "clone" and finding["serial"] == certificate.serial.hex()
    assert finding["record_ids"] == [batch[0]["record_id"], batch[1]["record_id"]]
    trust = operator.trust()
    assert certificate.serial in operator.deny(trust)


def test_a_scan_before_a_revocation_is_settled_and_one_after_it_is_flagged(
        api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    now = int(api.clock.time())
    certificate, device = phone.certificate()
    before = offline.make_code(certificate, device, t=now, ctr=0).text
    api.clock.advance(30)
    with api.app.app_context():
        revoke_card_certificates(api.rt, db.session.scalar(select(Card.id)))
        db.session.commit()
    api.clock.advance(10)
    after = offline.make_code(certificate, device, t=now + 40, ctr=1).text
    assert results(upload(api, operator, [record(before, at=now), record(after, at=now + 40)])) == \
        ["settled", "revoked_at_scan"]
    [finding] = findings(api, operator)
    assert finding["kind"] == "revoked_at_scan" and finding["lag_seconds"] == 10


def test_32_concurrent_uploads_of_one_batch_settle_each_record_once(api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    now = int(api.clock.time())
    batch = [record(code, at=now) for code in codes(api, phone, 20)]

    def one(_: int) -> list[str]:
        return results(upload(api, operator, batch, api.app.test_client()))

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(one, range(32)))
    for position in range(20):
        column = [answer[position] for answer in answers]
        assert column.count("settled") == 1 and column.count("duplicate_record") == 31, column
    with api.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Verification)
                                 .where(Verification.use_key.like("dgc2:%"))) == 20
    assert findings(api, operator) == []


def test_findings_are_paged_and_another_partner_sees_none_of_them(api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    now = int(api.clock.time())
    used = codes(api, phone, 3)
    assert results(upload(api, operator, [record(code, "gate-1", now) for code in used])) == ["settled"] * 3
    assert results(upload(api, operator, [record(code, "gate-2", now) for code in used])) == ["double_use"] * 3
    first = operator.get(f"{FINDINGS_PATH}?limit=2").json
    assert [f["kind"] for f in first["findings"]] == ["replay", "replay"]
    rest = operator.get(f"{FINDINGS_PATH}?after={first['next_after']}").json
    assert len(rest["findings"]) == 1 and rest["findings"][0]["id"] > first["next_after"]
    other = GateOperator.__new__(GateOperator)
    other.api, other.partner = api, api.partner(("transit",), name="Bus company")
    assert other.get(FINDINGS_PATH).json["findings"] == []
    assert operator.get(f"{FINDINGS_PATH}?limit=0").status_code == 422


def test_32_gates_uploading_the_same_codes_in_different_orders_settle_each_use_once(
        api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    now = int(api.clock.time())
    shared = codes(api, phone, 20)

    def one(n: int) -> list[str]:
        batch = [record(code, f"gate-{n}", now) for code in shared]
        random.Random(n).shuffle(batch)
        return results(upload(api, operator, batch, api.app.test_client()))

    with ThreadPoolExecutor(32) as pool:
        answers = [status for answer in pool.map(one, range(32)) for status in answer]
    assert answers.count("settled") == 20 and answers.count("double_use") == 20 * 31, set(answers)


def test_an_upload_after_the_audit_seal_moved_on_still_enters_the_audit_chain(
        api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    from app.service_desk.audit import seal_pending
    from app.service_desk.models import AuditRecord

    scanned = int(api.clock.time())
    [code] = codes(api, phone, 1)  # accepted at a gate now, uploaded later
    api.clock.advance(30)
    assert api.verify(operator.partner, api.code(api.login(HOLDER)), terminal_id="gate-2").json["accepted"]
    api.clock.advance(120)
    with api.app.app_context():
        seal_pending(api.rt)
    settled = upload(api, operator, [record(code, "gate-7", scanned)]).json["results"][0]
    assert settled["status"] == "settled"
    api.clock.advance(120)
    with api.app.app_context():
        seal_pending(api.rt)
        sealed = set(db.session.scalars(select(AuditRecord.reference).where(AuditRecord.actor_kind == "partner")))
    assert settled["verification_id"] in sealed


def test_a_forged_certificate_sharing_a_good_ones_serial_is_invalid_in_the_same_batch(
        api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    """The upload verifies each certificate once per batch (a certificate cache): its key is the
    certificate's whole bytes, so a forgery with the good one's kid and serial (another device key,
    signed by a key that is not the platform's) is invalid before and after the good one."""
    now = int(api.clock.time())
    certificate, device = phone.certificate()
    thief = offline.generate(offline.ED25519)
    forged = offline.issue_certificate(
        thief, kid=certificate.kid, serial=certificate.serial, nbf=certificate.nbf, exp=certificate.exp,
        scenes=certificate.scenes, fare_class=certificate.fare_class, flags=certificate.flags, device_public_key=thief.public_key)
    batch = [record(offline.make_code(forged, thief, t=now, ctr=0).text, at=now),
             record(offline.make_code(certificate, device, t=now, ctr=0).text, at=now),
             record(offline.make_code(forged, thief, t=now, ctr=1).text, at=now),
             record(offline.make_code(certificate, device, t=now, ctr=1).text, at=now)]
    assert results(upload(api, operator, batch)) == ["invalid", "settled", "invalid", "settled"]
    assert findings(api, operator) == []


def test_replays_clones_and_new_uses_in_one_batch_are_each_told_apart(
        api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    """The detector looks up every conflicting use of a batch at once: two replays, two clones
    (the same counters with other bytes) and a new use, with the findings naming the earlier records."""
    now = int(api.clock.time())
    certificate, device = phone.certificate()
    first = [record(offline.make_code(certificate, device, t=now, ctr=ctr).text, "gate-1", now) for ctr in range(4)]
    assert results(upload(api, operator, first)) == ["settled"] * 4
    api.clock.advance(5)
    second = [record(first[0]["code"], "gate-2", now), record(first[1]["code"], "gate-3", now),
              record(offline.make_code(certificate, device, t=now + 5, ctr=2).text, "gate-4", now + 5),
              record(offline.make_code(certificate, device, t=now + 5, ctr=3).text, "gate-4", now + 5),
              record(offline.make_code(certificate, device, t=now + 5, ctr=4).text, "gate-4", now + 5)]
    response = upload(api, operator, second)
    assert results(response) == ["double_use", "double_use", "clone_suspect", "clone_suspect", "settled"]
    assert [r["verification_id"] is None for r in response.json["results"]] == [True, True, True, True, False]
    assert [(f["kind"], f["ctr"], f["record_ids"]) for f in findings(api, operator)] == [
        (kind, ctr, [first[ctr]["record_id"], second[ctr]["record_id"]])
        for kind, ctr in (("replay", 0), ("replay", 1), ("clone", 2), ("clone", 3))]
    assert certificate.serial in operator.deny(operator.trust())
    assert results(upload(api, operator, second[:1])) == ["duplicate_record"]


def test_a_scene_policy_that_fails_answers_503_and_the_same_batch_settles_later(
        api: ApiClient, phone: Phone, operator: GateOperator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never a 500, and no record lost: nothing of the batch is stored, so re-sending it settles it."""
    from scenes.policies.transit import Transit
    now = int(api.clock.time())
    batch = [record(code, at=now) for code in codes(api, phone, 3)]
    with monkeypatch.context() as patched:
        patched.setattr(Transit, "accept", lambda self, context: 1 / 0)
        response = upload(api, operator, batch)
    assert response.status_code == 503 and response.json["error"]["code"] == "scene_unavailable", response.get_data(as_text=True)
    assert results(upload(api, operator, batch)) == ["settled"] * 3


def test_the_scenes_own_rule_applies_to_uploads_a_librarys_non_member_is_invalid(api: ApiClient, phone: Phone) -> None:
    """As online (not_a_member): a library's culture scan of a holder who is not on its roster does not settle."""
    library = SimpleNamespace(partner=api.partner(("culture",), name="City library", kind="library"))
    now = int(api.clock.time())
    [code] = codes(api, phone, 1)
    response = upload(api, library, [record(code, at=now) | {"scene": "culture"}])
    assert results(response) == ["invalid"] and response.json["results"][0]["subject"] is None


def test_the_holders_history_shows_an_offline_use_at_its_scan_time_not_its_settlement(
        api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    scanned = int(api.clock.time())
    [code] = codes(api, phone, 1)
    api.clock.advance(3600)  # the bus came back to the depot an hour later
    assert results(upload(api, operator, [record(code, "gate-7", scanned)])) == ["settled"]
    history = api.client.get("/api/mp/v1/card/verifications", headers=api.bearer(api.login(HOLDER)))
    [item] = history.json["items"]
    assert datetime.fromisoformat(item["verified_at"]).timestamp() == scanned and item["terminal_id"] == "gate-7"


def test_a_partner_flooding_invalid_records_is_throttled_for_the_rest_of_the_minute(
        api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    """32 concurrent uploads, each holding an invalid record, are answered (invalid, or 429 once the
    block is known) and counted with the store's atomic counter; over 10 in the minute, the partner's uploads answer 429 with
    Retry-After (good records too: nothing stored, the gate sends them again) until the minute is over."""
    now = int(api.clock.time())
    forged = "DGC2:" + "A" * 282

    def one(_: int) -> int:
        response = upload(api, operator, [record(forged, at=now)], api.app.test_client())
        assert response.status_code == 429 or results(response) == ["invalid"], response.get_data(as_text=True)
        return response.status_code

    with ThreadPoolExecutor(32) as pool:
        answered = list(pool.map(one, range(32)))
    assert answered.count(200) > 10  # the block is learnt after the 11th counted upload, while others ran
    good = [record(code, at=now) for code in codes(api, phone, 2)]
    refused = upload(api, operator, good)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "too_many_invalid_records"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    other = SimpleNamespace(partner=api.partner(("transit",), name="Bus company"))
    assert results(upload(api, other, [record(forged, at=now)])) == ["invalid"]  # another partner is not blocked
    api.clock.advance(61)
    assert results(upload(api, operator, good)) == ["settled", "settled"]
