"""POST /api/partner/v1/verifications: the rules, the record, and the signed-request check."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, update

from app.card.models import Card
from app.partners.models import Partner
from app.platform.db import db
from app.scanning import verification
from app.scanning.models import Verification
from qr import payload

from ..helpers import ApiClient, verification_row
from .test_login import error_code

OTHER_PERSON = {"name": "李建国", "id_number": "441900195008281658", "phone": "13800138488"}  # app/samples/roster.csv
RUN_ON_CLUSTER = True  # also on the Redis Cluster backend (tests/conftest.py, pytest -m cluster)


@pytest.fixture
def citizen(api: ApiClient) -> str:
    return api.bound_citizen()


@pytest.fixture
def partner(api: ApiClient) -> dict[str, str]:
    return api.partner(scenes=("transit", "medical"))


def test_an_accepted_code_answers_with_the_scenes_subject(api: ApiClient, citizen: str, partner: dict) -> None:
    response = api.verify(partner, api.code(citizen))
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"verification_id", "accepted", "reason", "scene", "subject", "duplicate"}
    assert (body["accepted"], body["reason"], body["scene"], body["duplicate"]) == (True, None, "transit", False)
    assert set(body["subject"]) == {"settlement_token", "concession", "entry_verification_id"}  # test_scenes.py: field by field


def test_a_code_verifies_only_once(api: ApiClient, citizen: str, partner: dict) -> None:
    code = api.code(citizen)
    assert api.verify(partner, code, terminal_id="gate-1").json["accepted"] is True
    second = api.verify(partner, code, terminal_id="gate-2").json
    assert (second["accepted"], second["reason"], second["subject"]) == (False, "code_used", None)


def test_one_batch_holding_two_acceptances_of_one_use_key_records_one(api: ApiClient, citizen: str, partner: dict) -> None:
    """The durable ledger inside one group-commit batch (app.platform.group_commit): ON CONFLICT (use_key)
    DO NOTHING keeps the first row and reports the second as not inserted; refusals have no use_key."""
    assert api.verify(partner, api.code(citizen)).json["accepted"] is True
    with api.app.app_context():
        row = dict(db.session.execute(select(Verification.__table__)).mappings().one())
        rows = [{**row, "id": f"vf_batch{n}", "use_key": "pseudonym:999"} for n in range(2)]
        rows.append({**row, "id": "vf_batch2", "use_key": None, "accepted": False, "reason": "code_used"})
        assert verification._insert_records(rows) == [True, False, True]
        assert db.session.scalar(select(func.count()).where(Verification.use_key == "pseudonym:999")) == 1


def test_the_same_terminal_reading_twice_gets_the_original_answer(api: ApiClient, citizen: str, partner: dict) -> None:
    code = api.code(citizen)
    first = api.verify(partner, code).json
    again = api.verify(partner, code).json
    assert again == {**first, "duplicate": True}
    api.clock.advance(61)
    late = api.verify(partner, code).json
    assert late["duplicate"] is False and late["accepted"] is False


def test_after_a_scan_a_new_code_is_valid_at_once(api: ApiClient, citizen: str, partner: dict) -> None:
    assert api.verify(partner, api.code(citizen)).json["accepted"] is True
    assert api.verify(partner, api.code(citizen), terminal_id="gate-2").json["accepted"] is True


def test_a_later_accepted_code_retires_earlier_ones(api: ApiClient, citizen: str, partner: dict) -> None:
    older, newer = api.code(citizen), api.code(citizen)
    assert api.verify(partner, newer).json["accepted"] is True
    assert api.verify(partner, older, terminal_id="gate-2").json["reason"] == "code_used"


def test_one_step_old_is_accepted_two_steps_old_is_expired(api: ApiClient, citizen: str, partner: dict) -> None:
    one, two = api.code(citizen), api.code(citizen)
    api.clock.advance(30)
    assert api.verify(partner, two).json["accepted"] is True
    api.clock.advance(30)
    assert api.verify(partner, one, terminal_id="gate-9").json["reason"] == "code_expired"


def test_a_code_from_two_steps_ahead_is_invalid(api: ApiClient, citizen: str, partner: dict) -> None:
    code = api.code(citizen)
    api.clock.advance(-60)
    assert api.verify(partner, code).json["reason"] == "code_invalid"
    api.clock.advance(30)  # one step ahead: a phone clock a little fast
    assert api.verify(partner, code).json["accepted"] is True


@pytest.mark.parametrize("mangle", [
    lambda c: c[:-1] + str((int(c[-1]) + 1) % 10),  # mistyped password
    lambda c: c.replace(".00.", ".01."),  # another sequence, same password
    lambda c: c[:5] + "AAAAAAAAAAAAAAAA" + c[21:],  # unknown pseudonym
    lambda c: "hello",
    lambda c: c.lower(),
])
def test_forged_or_mistyped_codes_are_invalid(api: ApiClient, citizen: str, partner: dict, mangle) -> None:  # type: ignore[no-untyped-def]
    code = api.code(citizen)
    answer = api.verify(partner, mangle(code)).json
    assert (answer["accepted"], answer["reason"], answer["subject"]) == (False, "code_invalid", None)
    assert api.verify(partner, code, terminal_id="gate-2").json["accepted"] is True  # the real code survives


def test_a_scene_the_partner_lacks_is_refused_without_using_the_code(api: ApiClient, citizen: str, partner: dict) -> None:
    code = api.code(citizen)
    refused = api.verify(partner, code, scene="campus").json
    assert (refused["accepted"], refused["reason"], refused["scene"]) == (False, "scene_not_permitted", "campus")
    assert api.verify(partner, code, terminal_id="gate-2").json["accepted"] is True


def test_an_inactive_card_is_refused(api: ApiClient, citizen: str, partner: dict) -> None:
    code = api.code(citizen)
    with api.app.app_context():
        db.session.execute(update(Card).values(status="suspended"))
        db.session.commit()
    assert api.verify(partner, code).json["reason"] == "card_inactive"


def test_every_verification_is_recorded_without_the_code(api: ApiClient, citizen: str, partner: dict) -> None:
    code = api.code(citizen)
    ids = [api.verify(partner, code, terminal_id=t).json["verification_id"] for t in ("gate-1", "gate-2")]
    api.verify(partner, "garbage", terminal_id="gate-3")
    with api.app.app_context():
        rows = db.session.query(Verification).order_by(Verification.created_at).all()
        values = [(r.terminal_id, r.scene, r.accepted, r.reason, r.card_id is not None) for r in rows]
        dumped = json.dumps([{c.name: str(getattr(r, c.name)) for c in Verification.__table__.columns} for r in rows])
    assert sorted(values) == [("gate-1", "transit", True, None, True), ("gate-2", "transit", False, "code_used", True),
                              ("gate-3", "transit", False, "code_invalid", False)]
    assert {r for r in ids} <= {r.id for r in rows}
    assert payload.parse(code).otp not in dumped and code not in dumped


def test_citizens_list_their_own_verifications_newest_first(api: ApiClient, citizen: str, partner: dict) -> None:
    for terminal in ("gate-1", "gate-2", "gate-3"):
        api.verify(partner, api.code(citizen), terminal_id=terminal)
        api.clock.advance(1)
    other = api.login()
    page = api.client.get("/api/mp/v1/card/verifications?limit=2", headers=api.bearer(citizen)).json
    assert [item["terminal_id"] for item in page["items"]] == ["gate-3", "gate-2"]
    assert page["items"][0]["partner_name"] == "Metro" and page["items"][0]["accepted"] is True
    rest = api.client.get(f"/api/mp/v1/card/verifications?limit=2&cursor={page['next_cursor']}", headers=api.bearer(citizen)).json
    assert [item["terminal_id"] for item in rest["items"]] == ["gate-1"] and rest["next_cursor"] is None
    assert error_code(api.client.get("/api/mp/v1/card/verifications", headers=api.bearer(other))) == "not_bound"


@pytest.mark.parametrize("query", ["cursor=bm9wZQ", "cursor=%%%", "limit=0", "limit=101", "limit=x"])
def test_bad_history_queries_are_422(api: ApiClient, citizen: str, query: str) -> None:
    response = api.client.get(f"/api/mp/v1/card/verifications?{query}", headers=api.bearer(citizen))
    assert response.status_code == 422 and error_code(response) in ("cursor_invalid", "validation_error")


def test_one_code_sent_50_times_in_parallel_is_accepted_exactly_once(api: ApiClient, citizen: str, partner: dict) -> None:
    code = api.code(citizen)
    barrier = threading.Barrier(50)

    def attempt(n: int) -> dict:
        client = api.app.test_client()
        body = json.dumps({"code": code, "scene": "transit", "terminal_id": f"gate-{n}"}).encode()
        barrier.wait()
        from scenes.signing import authorization_header
        header = authorization_header(partner["partner_id"], partner["secret"], "POST", "/api/partner/v1/verifications",
                                      body, int(api.clock.time()), f"nonce-{n:04d}-parallel")
        return client.post("/api/partner/v1/verifications", data=body,
                           headers={"Authorization": header, "Content-Type": "application/json"}).json

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(attempt, range(50)))
    assert sum(answer["accepted"] for answer in answers) == 1
    assert sorted(answer["reason"] for answer in answers if not answer["accepted"]) == ["code_used"] * 49


class TestValidation:
    @pytest.mark.parametrize("body", [
        {"code": "x", "scene": "transit"},
        {"code": "x", "scene": "transit", "terminal_id": "bad terminal"},
        {"code": "x", "scene": "transit", "terminal_id": "gate-9\n"},
        {"code": "x", "scene": "transit", "terminal_id": "t1", "extra": True},
        {"code": 5, "scene": "transit", "terminal_id": "t1"},
        {"code": "x" * 513, "scene": "transit", "terminal_id": "t1"},
    ])
    def test_bad_bodies_are_422_with_the_envelope(self, api: ApiClient, partner: dict, body: dict) -> None:
        response = api.signed_post(partner, json.dumps(body).encode())
        assert (response.status_code, error_code(response)) == (422, "validation_error")

    def test_a_lone_surrogate_in_the_code_is_400(self, api: ApiClient, partner: dict) -> None:
        response = api.signed_post(partner, b'{"code": "\\ud800", "scene": "transit", "terminal_id": "t1"}')
        assert (response.status_code, error_code(response)) == (400, "bad_request")

    def test_a_signed_body_that_is_not_json_is_refused_with_the_envelope(self, api: ApiClient, partner: dict) -> None:
        response = api.signed_post(partner, b"\xff\xfe not json")
        assert response.status_code in (400, 422) and error_code(response) in ("bad_request", "validation_error")


class TestSignature:
    BODY = json.dumps({"code": "x", "scene": "transit", "terminal_id": "t1"}).encode()

    def post(self, api: ApiClient, header: str | None, body: bytes = BODY):  # type: ignore[no-untyped-def]
        headers = {"Content-Type": "application/json"} | ({"Authorization": header} if header else {})
        return api.client.post("/api/partner/v1/verifications", data=body, headers=headers)

    def test_a_correct_signature_passes(self, api: ApiClient, partner: dict) -> None:
        assert api.signed_post(partner, self.BODY).status_code == 200

    @pytest.mark.parametrize(("header", "code"), [
        (None, "signature_missing"),
        ("Bearer abc", "signature_missing"),
        ('CC-HMAC-SHA256 partner_id="p"', "signature_malformed"),
        ('CC-HMAC-SHA256 partner_id="p",timestamp="x",nonce="abcdefgh",signature="s"', "signature_malformed"),
        ('CC-HMAC-SHA256 partner_id="p",timestamp="²",nonce="abcdefgh",signature="s"', "signature_malformed"),
        ('CC-HMAC-SHA256 partner_id="p",timestamp="1",nonce="short",signature="s"', "signature_malformed"),
        ('CC-HMAC-SHA256 partner_id="p_0",timestamp="1",nonce="abcdefgh",signature="s"', "partner_unknown"),
    ])
    def test_refusals_name_their_reason(self, api: ApiClient, header: str | None, code: str) -> None:
        response = self.post(api, header)
        assert (response.status_code, error_code(response)) == (401, code)

    def test_a_tampered_body_fails_the_signature(self, api: ApiClient, partner: dict) -> None:
        from scenes.signing import authorization_header
        header = authorization_header(partner["partner_id"], partner["secret"], "POST", "/api/partner/v1/verifications",
                                      self.BODY, int(api.clock.time()), "nonce-tamper-1")
        response = self.post(api, header, self.BODY.replace(b"t1", b"t2"))
        assert (response.status_code, error_code(response)) == (401, "signature_invalid")

    def test_a_wrong_secret_fails(self, api: ApiClient, partner: dict) -> None:
        response = api.signed_post({**partner, "secret": "guess"}, self.BODY)
        assert error_code(response) == "signature_invalid"

    @pytest.mark.parametrize(("skew", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
    def test_the_timestamp_window_is_300_seconds(self, api: ApiClient, partner: dict, skew: int, ok: bool) -> None:
        response = api.signed_post(partner, self.BODY, timestamp=int(api.clock.time()) + skew)
        assert response.status_code == (200 if ok else 401)
        if not ok:
            assert error_code(response) == "timestamp_out_of_window"

    def test_a_nonce_is_single_use(self, api: ApiClient, partner: dict) -> None:
        assert api.signed_post(partner, self.BODY, nonce="nonce-once-0001").status_code == 200
        again = api.signed_post(partner, self.BODY, nonce="nonce-once-0001")
        assert (again.status_code, error_code(again)) == (401, "nonce_reused")

    def test_a_replayed_accepted_verification_is_refused_and_recorded_once(self, api: ApiClient, citizen: str,
                                                                              partner: dict) -> None:
        """On the accepted path the nonce is claimed in the code's atomic use (one Redis round trip)."""
        body = json.dumps({"code": api.code(citizen), "scene": "transit", "terminal_id": "gate-1"}).encode()
        assert api.signed_post(partner, body, nonce="nonce-accept-01").json["accepted"] is True
        again = api.signed_post(partner, body, nonce="nonce-accept-01")
        assert (again.status_code, error_code(again)) == (401, "nonce_reused")
        with api.app.app_context():
            assert db.session.query(Verification).count() == 1

    def test_a_reused_nonce_leaves_a_fresh_code_unused(self, api: ApiClient, citizen: str, partner: dict) -> None:
        """A request refused for its nonce changes nothing: its code still verifies once, later."""
        first = json.dumps({"code": api.code(citizen), "scene": "transit", "terminal_id": "gate-1"}).encode()
        assert api.signed_post(partner, first, nonce="nonce-shared-01").status_code == 200
        code = api.code(citizen)
        second = json.dumps({"code": code, "scene": "transit", "terminal_id": "gate-1"}).encode()
        refused = api.signed_post(partner, second, nonce="nonce-shared-01")
        assert (refused.status_code, error_code(refused)) == (401, "nonce_reused")
        assert api.verify(partner, code, terminal_id="gate-2").json["accepted"] is True

    def test_a_nonce_is_single_use_across_cards(self, api: ApiClient, citizen: str, partner: dict) -> None:
        """A nonce spent on one card's accepted code is spent for another card's too: on a Redis
        Cluster the nonce is not claimed under the card's hash tag (app.platform.store)."""
        other = api.login("another-holder")
        assert api.bind(other, OTHER_PERSON).status_code == 200
        first = json.dumps({"code": api.code(citizen), "scene": "transit", "terminal_id": "gate-1"}).encode()
        assert api.signed_post(partner, first, nonce="nonce-cards-01").json["accepted"] is True
        code = api.code(other)
        second = json.dumps({"code": code, "scene": "transit", "terminal_id": "gate-1"}).encode()
        refused = api.signed_post(partner, second, nonce="nonce-cards-01")
        assert (refused.status_code, error_code(refused)) == (401, "nonce_reused")
        assert api.verify(partner, code, terminal_id="gate-2").json["accepted"] is True

    def test_a_failed_signature_does_not_burn_the_nonce(self, api: ApiClient, partner: dict) -> None:
        api.signed_post({**partner, "secret": "guess"}, self.BODY, nonce="nonce-keep-0001")
        assert api.signed_post(partner, self.BODY, nonce="nonce-keep-0001").status_code == 200

    def test_a_disabled_partner_is_refused(self, api: ApiClient, partner: dict) -> None:
        with api.app.app_context():
            db.session.execute(update(Partner).values(disabled_at=api.clock.now()))
            db.session.commit()
        response = api.signed_post(partner, self.BODY)
        assert (response.status_code, error_code(response)) == (401, "partner_disabled")
        assert response.headers["WWW-Authenticate"] == "CC-HMAC-SHA256"
        guessed = api.signed_post({**partner, "secret": "guess"}, self.BODY)
        assert error_code(guessed) == "signature_invalid"  # that it is disabled is told only to the secret's holder

    def test_an_unknown_partner_is_refused_with_the_scheme_to_use(self, api: ApiClient, partner: dict) -> None:
        response = api.signed_post({**partner, "partner_id": "p_nobody"}, self.BODY)
        assert (response.status_code, error_code(response)) == (401, "partner_unknown")
        assert response.headers["WWW-Authenticate"] == "CC-HMAC-SHA256"

    def test_the_query_string_is_signed(self, api: ApiClient, partner: dict) -> None:
        signed_for_other_path = api.signed_post(partner, self.BODY, path="/api/partner/v1/verifications?x=1")
        assert signed_for_other_path.status_code == 200


def test_a_body_over_64_kib_is_413_with_the_envelope(api: ApiClient, partner: dict) -> None:
    big = json.dumps({"code": "x" * 70_000, "scene": "transit", "terminal_id": "t1"}).encode()
    response = api.signed_post(partner, big)
    assert (response.status_code, error_code(response)) == (413, "payload_too_large")
    login = api.client.post("/api/mp/v1/auth/wechat", data=b'{"code": "' + b"x" * 70_000 + b'"}', content_type="application/json")
    assert (login.status_code, error_code(login)) == (413, "payload_too_large")


def test_nothing_personal_reaches_the_logs(api: ApiClient, partner: dict, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from ..helpers import PERSON

    caplog.set_level(logging.DEBUG)
    token = api.bound_citizen()
    code = api.code(token)
    api.verify(partner, code)
    api.verify(partner, code, terminal_id="gate-2")
    for private in (*PERSON.values(), code, token, partner["secret"], "test-wechat-secret"):
        assert private not in caplog.text


def test_a_store_that_lost_its_data_still_cannot_make_a_code_verify_twice(api: ApiClient, citizen: str, partner: dict) -> None:
    """The verification records are a durable second ledger (qr-format.md, one-time rule)."""
    code = api.code(citizen)
    assert api.verify(partner, code, terminal_id="gate-1").json["accepted"] is True
    _wipe_store(api)
    again = api.verify(partner, code, terminal_id="gate-2").json
    assert (again["accepted"], again["reason"]) == (False, "code_used")
    api.clock.advance(30)  # server-issued sequence numbers restart with the store: see qr-format.md
    assert api.verify(partner, api.code(citizen), terminal_id="gate-3").json["accepted"] is True
    with api.app.app_context():
        reasons = sorted(str(r.reason) for r in db.session.query(Verification))
    assert reasons == ["None", "None", "code_used"]


def _wipe_store(api: ApiClient) -> None:
    store = api.rt.store
    if hasattr(store, "client"):
        store.client.flushdb()
    else:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM kv_entries")


class TestStrangersHistory:
    """Issue 15 item 13: a partner that fails its own checks (scene, terminal) writes nothing into
    the history of the card whose code it holds; the refusal names no card and counts against it."""

    def history(self, api: ApiClient, token: str) -> list[dict]:
        return api.client.get("/api/mp/v1/card/verifications", headers=api.bearer(token)).json["items"]

    def test_a_partner_cannot_write_refusals_into_a_strangers_history(self, api: ApiClient, citizen: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        from app.scanning import guessing

        monkeypatch.setattr(guessing, "PARTNER_LIMIT", 3)  # over 3 refusals: blocked
        monkeypatch.setattr(guessing, "TERMINAL_LIMIT", 100)
        rogue = api.partner(("transit",), "Rogue")
        glimpse = api.code(citizen)
        refusals = [api.verify(rogue, glimpse, scene="government").json["reason"],
                    api.verify(rogue, glimpse, scene="medical").json["reason"],
                    api.verify(rogue, glimpse, terminal_id="chosen-terminal-1").json["reason"],
                    api.verify(rogue, glimpse, terminal_id="chosen-terminal-2").json["reason"]]
        assert refusals == ["scene_not_permitted"] * 2 + ["terminal_unknown"] * 2
        assert self.history(api, citizen) == []
        with api.app.app_context():
            rows = db.session.scalars(select(Verification)).all()
            assert len(rows) == 4 and all(row.card_id is None for row in rows)  # the partner's own record
        throttled = api.verify(rogue, glimpse, terminal_id="chosen-terminal-3")
        assert (throttled.status_code, error_code(throttled)) == (429, "too_many_invalid_codes")  # counted against it
        assert api.verify(api.partner(), glimpse).json["accepted"] is True  # the code was not used up

    def test_a_removed_terminal_writes_nothing_either(self, api: ApiClient, citizen: str) -> None:
        from app.partners.terminals import remove_terminal

        partner = api.partner()
        with api.app.app_context():
            remove_terminal(api.rt, partner["partner_id"], "gate-5")
        assert api.verify(partner, api.code(citizen), terminal_id="gate-5").json["reason"] == "terminal_unknown"
        assert self.history(api, citizen) == []

    def test_once_the_partners_checks_pass_refusals_do_show_in_the_history(self, api: ApiClient, citizen: str) -> None:
        partner = api.partner()
        code = api.code(citizen)
        api.verify(partner, code[:-8] + f"{(int(code[-8:]) + 1) % 10**8:08d}")  # a wrong password: someone tried the card
        assert [item["reason"] for item in self.history(api, citizen)] == ["code_invalid"]


def test_a_re_read_is_never_a_duplicate_of_an_acceptance_that_was_not_recorded(
        api: ApiClient, citizen: str, partner: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15 item 10. The first read's INSERT is held, then fails (injected); a re-read from the
    same terminal meanwhile must not be told ``accepted, duplicate`` from the kept answer: 503."""
    from sqlalchemy.exc import OperationalError

    code = api.code(citizen)
    inserting, re_read_done = threading.Event(), threading.Event()
    real_insert = verification._insert_records

    def failing_insert(rows: list[dict]) -> list[bool]:
        if any(row["accepted"] for row in rows):
            inserting.set()
            re_read_done.wait(10)
            raise OperationalError("INSERT INTO verifications", {}, Exception("injected: the database went away"))
        return real_insert(rows)

    monkeypatch.setattr(verification, "_insert_records", failing_insert)
    body = json.dumps({"code": code, "scene": "transit", "terminal_id": "gate-1"}).encode()
    headers = {"Authorization": _header(api, partner, body, "first-read-nonce"), "Content-Type": "application/json"}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(lambda: api.app.test_client().post("/api/partner/v1/verifications", data=body, headers=headers))
        assert inserting.wait(10)
        re_read = api.verify(partner, code, terminal_id="gate-1")
        re_read_done.set()
        first_answer = first.result(10)
    assert (first_answer.status_code, error_code(first_answer)) == (503, "service_unavailable")
    assert (re_read.status_code, error_code(re_read)) == (503, "service_unavailable"), re_read.json
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).where(Verification.accepted.is_(True))) == 0
    later = api.verify(partner, code, terminal_id="gate-1").json  # after the failure: never a duplicate acceptance
    assert later["accepted"] is False and later["duplicate"] is False


def test_a_re_read_after_the_record_committed_is_the_duplicate(api: ApiClient, citizen: str, partner: dict) -> None:
    code = api.code(citizen)
    first = api.verify(partner, code).json
    with api.app.app_context():
        assert verification_row(first["verification_id"]) is not None
    assert api.verify(partner, code).json == {**first, "duplicate": True}


def _header(api: ApiClient, partner: dict, body: bytes, nonce: str) -> str:
    from scenes.signing import authorization_header

    return authorization_header(partner["partner_id"], partner["secret"], "POST", "/api/partner/v1/verifications",
                                body, int(api.clock.time()), nonce)
