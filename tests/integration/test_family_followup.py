"""Issue 18 follow-up (docs/family.md): the member's confirmation by a real-person check where the
app's platform offers one (else the binding's assurance recorded); relatives' actions in the
member's access log; the consent switches on every endpoint that shows member data; a proxy
certificate's offline scans settled marked ``proxy``; a child checked against the roster's
household data."""
from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.card.models import FamilyMember
from app.identity.models import Citizen
from app.identity.people import citizen_by_id_number
from app.platform.clock import FrozenClock
from app.platform.db import db
from app.scanning.models import Verification
from app.service_desk import counter
from app.service_desk.audit import StaffActor, verify_chain
from app.service_desk.models import AuditRecord
from qr import offline
from standins.alipay import AlipayStandIn
from standins.wechat import WeChatStandIn

from ..conftest import make_app
from ..helpers import ApiClient
from .test_family import CHILD, FAMILY, GRANDMA, GUARDIAN, GUARDIANS, SPOUSE, add, bound, confirm, openid, roster
from .test_login import error_code
from .test_offline_lists import GateOperator

ACCESS_LOG = "/api/mp/v1/me/access-log"


@pytest.fixture
def family(api: ApiClient) -> dict[str, dict[str, str]]:
    roster(api, [GUARDIAN, SPOUSE, GRANDMA, CHILD, *GUARDIANS[:2]])
    return {"guardian": bound(api, GUARDIAN), "spouse": bound(api, SPOUSE), "grandma": bound(api, GRANDMA)}


def _face(api: ApiClient, who: dict[str, str], as_who: dict[str, str] | None = None, **kwargs: Any) -> str:
    person = as_who or who
    return api.wechat.issue_face_result(openid(who), person["name"], person["id_number"], **kwargs)


def _confirm_with(api: ApiClient, headers: dict[str, str], entry: int, token: str | None) -> Any:
    body = {} if token is None else {"real_person_token": token}
    return api.client.post(f"{FAMILY}/{entry}/confirmation", json=body, headers=headers)


# 1. Real-person check at the member's confirmation ------------------------------------------------

def test_where_the_platform_offers_a_face_check_the_member_must_pass_one_of_their_own(api: ApiClient, family: dict) -> None:
    entry = add(api, family["guardian"], GRANDMA, "parent").json["id"]
    grandma = family["grandma"]
    assert error_code(_confirm_with(api, grandma, entry, None)) == "real_person_required"
    assert error_code(api.client.post(f"{FAMILY}/{entry}/confirmation", headers=grandma)) == "real_person_required"  # no body
    assert error_code(_confirm_with(api, grandma, entry, _face(api, GRANDMA, passed=False))) == "real_person_failed"
    assert error_code(_confirm_with(api, grandma, entry, _face(api, GRANDMA, as_who=SPOUSE))) == "real_person_invalid"
    assert error_code(_confirm_with(api, grandma, entry, _face(api, SPOUSE, as_who=GRANDMA))) == "real_person_invalid"  # other account
    stale = _face(api, GRANDMA, identify_time=int(api.clock.time()) - 3600)
    assert error_code(_confirm_with(api, grandma, entry, stale)) == "real_person_invalid"
    pending = api.client.get(FAMILY, headers=family["guardian"]).json["members"][0]
    assert pending["status"] == "pending" and pending["confirmed_assurance"] is None
    token = _face(api, GRANDMA)
    confirmed = _confirm_with(api, grandma, entry, token)
    assert confirmed.status_code == 200 and confirmed.json["status"] == "active"
    assert confirmed.json["confirmed_assurance"] == "real_person"
    # single use: the same token cannot confirm another guardian's entry
    other = add(api, family["spouse"], GRANDMA, "parent_in_law").json["id"]
    assert error_code(_confirm_with(api, grandma, other, token)) == "real_person_invalid"
    # a token is not spent on an entry that is not the member's pending one
    fresh = _face(api, GRANDMA)
    assert _confirm_with(api, grandma, entry, fresh).status_code == 404  # already active
    assert _confirm_with(api, grandma, other, fresh).json["confirmed_assurance"] == "real_person"


@pytest.fixture(params=["embedded", "production"])
def no_face_api(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock, wechat: WeChatStandIn) -> ApiClient:
    """No real-person provider configured (CARD_REAL_PERSON_PROVIDERS names none)."""
    return ApiClient(make_app(request.param, request, tmp_path, clock, wechat, CARD_REAL_PERSON_PROVIDERS=frozenset()),
                     wechat, clock)


def test_without_a_provider_the_members_binding_assurance_is_recorded(no_face_api: ApiClient) -> None:
    api = no_face_api
    roster(api, [GUARDIAN, GRANDMA, SPOUSE])
    guardian, grandma = bound(api, GUARDIAN), bound(api, GRANDMA)
    entry = add(api, guardian, GRANDMA, "parent").json["id"]
    confirmed = api.client.post(f"{FAMILY}/{entry}/confirmation", headers=grandma)
    assert confirmed.status_code == 200 and confirmed.json["confirmed_assurance"] == "knowledge"
    with api.app.app_context():
        row = db.session.get(FamilyMember, entry)
        assert (row.confirmed_by, row.confirmed_assurance) == ("citizen", "knowledge")


def test_a_counter_confirmation_is_recorded_at_counter_assurance(api: ApiClient, family: dict) -> None:
    with api.app.app_context():
        guardian = citizen_by_id_number(api.rt, GUARDIAN["id_number"])
        assert guardian is not None
        counter.add_member(api.rt, StaffActor(1, "desk-7", "counter", None), guardian.id, GRANDMA["name"],
                           GRANDMA["id_number"], "parent", True)
        row = db.session.scalar(select(FamilyMember))
        assert row is not None and (row.status, row.confirmed_by, row.confirmed_assurance) == ("active", "counter:desk-7", "counter")
    logged = [(item["role"], item["action"]) for item in api.client.get(ACCESS_LOG, headers=family["grandma"]).json["items"]]
    assert logged == [("counter", "family_confirm"), ("counter", "family_add")]  # the member's log too


# 2. Relatives' own actions in the member's access log ----------------------------------------------

def _log(api: ApiClient, headers: dict[str, str]) -> list[tuple[str, str, str | None, str | None]]:
    items = api.client.get(ACCESS_LOG, headers=headers, query_string={"limit": 100}).json["items"]
    return [(item["role"], item["action"], item["department"], item["purpose"]) for item in reversed(items)]


def _device_body(api: ApiClient, headers: dict[str, str]) -> tuple[dict[str, str], Any]:
    nonce = api.client.post("/api/mp/v1/card/offline/challenge", json={"installation_id": "son-phone-02"},
                            headers=headers).json["nonce"]
    device = offline.generate(offline.ED25519)
    return {"nonce": nonce, "alg": "ed25519", "device_public_key": offline.b64url_encode(device.public_key),
            "proof": offline.b64url_encode(offline.proof_of_possession(device, offline.b64url_decode(nonce)))}, device


def test_every_family_action_of_a_relative_and_of_the_member_is_in_the_members_access_log(
        api: ApiClient, family: dict) -> None:
    guardian, grandma = family["guardian"], family["grandma"]
    entry = add(api, guardian, GRANDMA, "parent").json["id"]
    purpose = f"family:{entry}"
    assert _log(api, grandma) == [("relative", "family_add", "parent", purpose)]
    assert _log(api, guardian) == []  # recorded on the member, whose data it is
    confirm(api, grandma, GRANDMA, entry)
    api.client.put(f"{FAMILY}/{entry}/consent", json={"share_history": True}, headers=grandma)
    assert api.client.get(f"{FAMILY}/{entry}/verifications", headers=guardian).status_code == 200
    assert api.client.get(f"{FAMILY}/{entry}/benefits/summary", headers=guardian).status_code == 403  # refused: no record
    assert api.client.post(f"{FAMILY}/{entry}/printed-codes", json={"scenes": ["transit"], "days": 30},
                           headers=guardian).status_code == 201
    assert api.client.get(f"{FAMILY}/{entry}/printed-code.pdf", headers=guardian).status_code == 200
    assert api.client.delete(f"{FAMILY}/{entry}/printed-codes", headers=guardian).status_code == 204
    assert api.client.delete(f"{FAMILY}/{entry}/printed-codes", headers=guardian).status_code == 204  # nothing left: no record
    body, _device = _device_body(api, guardian)
    assert api.client.post(f"{FAMILY}/{entry}/offline/certificates", json=body, headers=guardian).status_code == 200
    assert api.client.delete(f"{FAMILY}/{entry}", headers=guardian).status_code == 204
    assert _log(api, grandma) == [
        ("relative", "family_add", "parent", purpose), ("self", "family_confirm", "parent", purpose),
        ("self", "family_consent", "parent", purpose), ("relative", "view", "parent", purpose),
        ("relative", "printed_issue", "parent", purpose), ("relative", "printed_print", "parent", purpose),
        ("relative", "printed_revoke", "parent", purpose), ("relative", "offline_cert", "parent", purpose),
        ("relative", "family_remove", "parent", purpose)]
    with api.app.app_context():
        records = db.session.scalars(select(AuditRecord).where(AuditRecord.actor_kind == "family")).all()
        assert all(GRANDMA["id_number"] not in f"{r.reason}{r.fields}{r.actor_id}" for r in records)
        assert {r.reason for r in records if r.action == "family_confirm"} == {"confirmed (real_person)"}
        assert verify_chain(api.rt).first_bad is None


def test_the_member_removing_a_guardian_is_recorded_as_their_own_action(api: ApiClient, family: dict) -> None:
    entry = add(api, family["guardian"], GRANDMA, "parent").json["id"]
    assert api.client.delete(f"{FAMILY}/{entry}", headers=family["grandma"]).status_code == 204
    assert _log(api, family["grandma"])[-1] == ("self", "family_remove", "parent", f"family:{entry}")


def test_32_simultaneous_consent_switches_each_leave_one_record_in_one_chain(api: ApiClient, family: dict) -> None:
    entry = add(api, family["guardian"], GRANDMA, "parent").json["id"]
    confirm(api, family["grandma"], GRANDMA, entry)

    def switch(n: int) -> int:
        return api.client.put(f"{FAMILY}/{entry}/consent", json={"share_history": n % 2 == 0},
                              headers=family["grandma"]).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(switch, range(32))) == [200] * 32
    with api.app.app_context():
        switched = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "family_consent")).all()
        assert len(switched) == 32 and len({r.seq for r in switched}) == 32
        assert verify_chain(api.rt).first_bad is None


# 3. The consent switches on every endpoint that shows member data ----------------------------------

MEMBER_DATA = {"verifications": "history", "benefits/summary": "benefits"}


def test_each_member_data_endpoint_follows_its_own_switch_per_guardian_and_at_once(api: ApiClient, family: dict) -> None:
    son, daughter_in_law, grandma = family["guardian"], family["spouse"], family["grandma"]
    mine = add(api, son, GRANDMA, "parent").json["id"]
    hers = add(api, daughter_in_law, GRANDMA, "parent_in_law").json["id"]
    for path, switch in MEMBER_DATA.items():  # pending: refused even with the switch on
        api.client.put(f"{FAMILY}/{mine}/consent", json={f"share_{switch}": True}, headers=grandma)
        assert error_code(api.client.get(f"{FAMILY}/{mine}/{path}", headers=son)) == "consent_required"
    confirm(api, grandma, GRANDMA, mine)
    confirm(api, grandma, GRANDMA, hers)
    for path, switch in MEMBER_DATA.items():
        assert api.client.get(f"{FAMILY}/{mine}/{path}", headers=son).status_code == 200
        refused = api.client.get(f"{FAMILY}/{hers}/{path}", headers=daughter_in_law)  # her switches are her own
        assert error_code(refused) == "consent_required" and refused.json["error"]["details"] == {"share": switch}
        assert api.client.get(f"{FAMILY}/{hers}/{path}", headers=son).status_code == 404  # not his entry
        assert api.client.get(f"{FAMILY}/{mine}/{path}", headers=grandma).status_code == 404  # the member's own: not here
    for path, switch in MEMBER_DATA.items():  # off again: refused at once, the other switch untouched
        api.client.put(f"{FAMILY}/{mine}/consent", json={f"share_{switch}": False}, headers=grandma)
        assert error_code(api.client.get(f"{FAMILY}/{mine}/{path}", headers=son)) == "consent_required"
    api.client.delete(f"{FAMILY}/{mine}", headers=grandma)
    assert api.client.get(f"{FAMILY}/{mine}/verifications", headers=son).status_code == 404


def test_the_guardians_list_shows_no_member_data_beyond_the_masked_identity(api: ApiClient, family: dict) -> None:
    entry = add(api, family["guardian"], GRANDMA, "parent").json["id"]
    confirm(api, family["grandma"], GRANDMA, entry)
    listed = api.client.get(FAMILY, headers=family["guardian"]).json["members"][0]
    assert set(listed) == {"id", "relation", "status", "minor", "masked_name", "masked_id_number", "share_benefits",
                           "share_history", "created_at", "confirmed_at", "confirmed_assurance"}
    assert GRANDMA["name"] not in json.dumps(listed, ensure_ascii=False) and GRANDMA["id_number"] not in json.dumps(listed)


# 4. Offline scans of a proxy certificate are settled marked proxy -----------------------------------

def test_an_uploaded_offline_scan_of_a_proxy_certificate_is_settled_marked_proxy(api: ApiClient, family: dict) -> None:
    entry = add(api, family["guardian"], GRANDMA, "parent").json["id"]
    confirm(api, family["grandma"], GRANDMA, entry)
    body, device = _device_body(api, family["guardian"])
    issued = api.client.post(f"{FAMILY}/{entry}/offline/certificates", json=body, headers=family["guardian"])
    certificate = offline.certificate_from_bytes(offline.b64url_decode(issued.json["certificates"][0]["certificate"]))
    assert certificate.flags == 0  # the format has no proxy bit: the serial tells the platform
    now = int(api.clock.time())
    proxy_code = offline.make_code(certificate, device, t=now, ctr=0).text
    own = api.code(family["grandma"]["Authorization"].split()[1])
    operator = GateOperator(api)
    records = [{"record_id": secrets.token_hex(8), "terminal_id": "gate-1", "scene": "transit", "scanned_at": now,
                "code": proxy_code}]
    uploaded = api.signed_post(operator.partner, json.dumps({"records": records}).encode(), "/api/partner/v1/offline/records")
    assert uploaded.status_code == 200, uploaded.get_data(as_text=True)
    [settled] = uploaded.json["results"]
    assert settled["status"] == "settled"
    assert settled["subject"]["proxy"] is True and settled["subject"]["relation"] == "parent"
    assert settled["subject"]["concession"] == "elder"
    online = api.verify(operator.partner, own).json  # the member's own phone, online: no mark
    assert online["accepted"] is True and "proxy" not in online["subject"]
    with api.app.app_context():
        row = db.session.scalar(select(Verification).where(Verification.id == settled["verification_id"]))
        assert "proxy" in row.disclosed.split(",") and "relation" in row.disclosed.split(",")
    history = api.client.get("/api/mp/v1/card/verifications", headers=family["grandma"]).json["items"]
    assert sorted(str(item["shown_by"]) for item in history) == ["None", "relative (parent)"]


# 5. The roster's household data checks a child's relation ------------------------------------------

def _household_roster(api: ApiClient, rows: list[tuple[dict[str, str], str]]) -> None:
    api.import_roster("name,id_number,phone,insured,disability,town,household\n"
                      + "".join(f"{p['name']},{p['id_number']},{p['phone']},1,0,,{h}\n" for p, h in rows))


def test_a_child_in_the_parents_household_is_added_and_one_in_another_is_refused_in_the_app(api: ApiClient) -> None:
    other_parent = GUARDIANS[0]
    _household_roster(api, [(GUARDIAN, "441900-H-0001"), (CHILD, "441900-H-0001"), (other_parent, "441900-H-0002"),
                            (SPOUSE, "")])
    parent, stranger, spouse = bound(api, GUARDIAN), bound(api, other_parent), bound(api, SPOUSE)
    refused = add(api, stranger, CHILD, "child")
    assert refused.status_code == 422 and error_code(refused) == "household_mismatch"
    assert add(api, parent, CHILD, "child").status_code == 201
    assert add(api, spouse, CHILD, "child").status_code == 201  # no household data for her: recorded as stated
    with api.app.app_context():
        checked = {row.guardian_citizen_id: row.household_checked for row in db.session.scalars(select(FamilyMember))}
        assert sorted(checked.values(), key=str) == [None, True]
        keys = [c.household_key for c in db.session.scalars(select(Citizen))]  # a keyed hash, never the number
        assert "441900-H-0001" not in keys and len({k for k in keys if k}) == 2


def test_a_counter_may_add_a_child_registered_in_another_household_recorded_unchecked(api: ApiClient) -> None:
    _household_roster(api, [(GUARDIAN, "H-A"), (CHILD, "H-B")])
    bound(api, GUARDIAN)
    actor = StaffActor(1, "desk-7", "counter", None)
    with api.app.app_context():
        guardian = citizen_by_id_number(api.rt, GUARDIAN["id_number"])
        assert guardian is not None
        counter.add_member(api.rt, actor, guardian.id, CHILD["name"], CHILD["id_number"], "child", False)
        row = db.session.scalar(select(FamilyMember))
        assert row is not None and row.household_checked is False and row.status == "active"


def test_a_re_import_without_the_household_column_keeps_the_household(api: ApiClient) -> None:
    _household_roster(api, [(GUARDIAN, "H-A"), (CHILD, "H-B")])
    roster(api, [GUARDIAN, CHILD])  # the four-column file
    assert error_code(add(api, bound(api, GUARDIAN), CHILD, "child")) == "household_mismatch"


def test_an_entry_id_beyond_the_columns_range_is_no_entry_not_a_server_error(api: ApiClient, family: dict) -> None:
    huge = 2**95
    for method, path in (("get", "code"), ("get", "verifications"), ("get", "benefits/summary"), ("post", "confirmation"),
                         ("put", "consent"), ("delete", ""), ("post", "printed-codes")):
        body = {"scenes": ["transit"]} if path == "printed-codes" else {}
        answer = getattr(api.client, method)(f"{FAMILY}/{huge}/{path}".rstrip("/"), json=body, headers=family["grandma"])
        assert answer.status_code == 404 and error_code(answer) == "family_member_not_found", (method, path, answer.json)


@pytest.fixture(params=["embedded", "production"])
def alipay_family_api(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock, wechat: WeChatStandIn,
                      alipay_config: dict[str, str]) -> ApiClient:
    return ApiClient(make_app(request.param, request, tmp_path, clock, wechat, **alipay_config), wechat, clock)


def test_a_member_on_alipay_confirms_with_alipay_certification(alipay_family_api: ApiClient, alipay: AlipayStandIn) -> None:
    api = alipay_family_api
    roster(api, [GUARDIAN, GRANDMA])
    guardian = bound(api, GUARDIAN)
    token = api.client.post("/api/mp/v1/auth/alipay", json={"auth_code": alipay.issue_code()}).json["token"]
    grandma = api.bearer(token)
    assert api.bind(token, GRANDMA).status_code == 200
    entry = add(api, guardian, GRANDMA, "parent").json["id"]
    assert error_code(_confirm_with(api, grandma, entry, None)) == "real_person_required"
    started = api.client.post("/api/mp/v1/real-person/checks", json={"name": GRANDMA["name"], "id_number": GRANDMA["id_number"]},
                              headers=grandma).json
    assert started["provider"] == "alipay_certify"
    assert error_code(_confirm_with(api, grandma, entry, started["certify_id"])) == "real_person_failed"  # not done yet
    alipay.complete_certification(started["certify_url"])
    confirmed = _confirm_with(api, grandma, entry, started["certify_id"])
    assert confirmed.status_code == 200 and confirmed.json["confirmed_assurance"] == "real_person"
