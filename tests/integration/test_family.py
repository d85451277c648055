"""Family members and relatives' codes (M-15, issue 18 items 1, 2 and 5; docs/family.md)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy import select

from app.card.models import Device, FamilyMember
from app.card.offline_lists import DENY_MIN_INTERVAL
from app.identity.idnumber import check_digit
from app.platform.db import db
from qr import offline

from ..helpers import ApiClient
from .test_login import error_code
from .test_offline_lists import GateOperator

FAMILY = "/api/mp/v1/family-members"


def person(n: int, born: date, name: str | None = None) -> dict[str, str]:
    """A roster row (name, valid ID number, phone) for test person ``n``."""
    first17 = f"441900{born:%Y%m%d}{n % 1000:03d}"
    return {"name": name or f"家{chr(0x4E00 + n)}{chr(0x4E00 + n + 7)}", "id_number": first17 + check_digit(first17),
            "phone": f"139{n:08d}"}


GUARDIAN = person(1, date(1980, 5, 1), "陈大明")
SPOUSE = person(2, date(1982, 6, 2), "林美丽")
GRANDMA = person(3, date(1948, 3, 3), "陈阿婆")
CHILD = person(4, date(2015, 9, 4), "陈小宝")  # 11 years old
ELDERS = [person(10 + n, date(1950, 1 + n % 12, 1 + n // 12)) for n in range(40)]
GUARDIANS = [person(100 + n, date(1975, 2, 1 + n % 28)) for n in range(34)]


def roster(api: ApiClient, people: list[dict[str, str]]) -> None:
    api.import_roster("name,id_number,phone,insured\n" + "".join(f"{p['name']},{p['id_number']},{p['phone']},1\n" for p in people))


def openid(who: dict[str, str]) -> str:
    return f"o-{who['id_number']}"


def bound(api: ApiClient, who: dict[str, str]) -> dict[str, str]:
    token = api.login(openid(who))
    answer = api.bind(token, who)
    assert answer.status_code == 200, answer.json
    return api.bearer(token)


def confirm(api: ApiClient, headers: dict[str, str], who: dict[str, str], entry: int):  # type: ignore[no-untyped-def]
    """The member confirms in their (WeChat) app with a passed face check of their own (issue 17)."""
    token = api.wechat.issue_face_result(openid(who), who["name"], who["id_number"])
    return api.client.post(f"{FAMILY}/{entry}/confirmation", json={"real_person_token": token}, headers=headers)


def add(api: ApiClient, headers: dict[str, str], who: dict[str, str], relation: str):  # type: ignore[no-untyped-def]
    return api.client.post(FAMILY, json={"name": who["name"], "id_number": who["id_number"], "relation": relation}, headers=headers)


@pytest.fixture
def family(api: ApiClient) -> dict[str, dict[str, str]]:
    roster(api, [GUARDIAN, SPOUSE, GRANDMA, CHILD, *ELDERS, *GUARDIANS])
    return {"guardian": bound(api, GUARDIAN), "spouse": bound(api, SPOUSE), "grandma": bound(api, GRANDMA)}


def test_an_adult_confirms_then_the_relatives_code_passes_transit_and_is_refused_at_a_government_window(
        api: ApiClient, family: dict) -> None:
    added = add(api, family["guardian"], GRANDMA, "parent")
    assert added.status_code == 201 and added.json["status"] == "pending"
    assert added.json["masked_name"] == "陈**" and GRANDMA["id_number"] not in str(added.json)
    entry = added.json["id"]
    assert error_code(api.client.get(f"{FAMILY}/{entry}/code", headers=family["guardian"])) == "family_member_pending"
    assert confirm(api, family["spouse"], SPOUSE, entry).status_code == 404  # not hers
    mine = api.client.get(FAMILY, headers=family["grandma"]).json
    assert [g["id"] for g in mine["guardians"]] == [entry] and mine["guardians"][0]["masked_name"] == "陈**"
    assert confirm(api, family["grandma"], GRANDMA, entry).json["status"] == "active"

    metro, window = api.partner(("transit",), "Metro"), api.partner(("government",), "Tax office", kind="government")
    code = api.client.get(f"{FAMILY}/{entry}/code", headers=family["guardian"]).json["code"]
    accepted = api.verify(metro, code).json
    assert accepted["accepted"] is True and accepted["subject"]["proxy"] is True and accepted["subject"]["relation"] == "parent"
    assert accepted["subject"]["concession"] == "elder"  # the member's facts, not the guardian's
    other = api.client.get(f"{FAMILY}/{entry}/code", headers=family["guardian"]).json["code"]
    refused = api.verify(window, other, scene="government").json
    assert refused["accepted"] is False and refused["reason"] == "proxy_not_accepted" and refused["subject"] is None
    own = api.verify(metro, api.code(family["grandma"]["Authorization"].split()[1])).json
    assert own["accepted"] is True and "proxy" not in own["subject"]  # her own phone: no proxy mark

    history = api.client.get("/api/mp/v1/card/verifications", headers=family["grandma"]).json["items"]
    shown = sorted((item["scene"], item["accepted"], str(item["shown_by"])) for item in history)  # one frozen instant
    assert shown == [("government", False, "None"), ("transit", True, "None"), ("transit", True, "relative (parent)")]


def test_a_child_under_16_is_added_by_a_parent_at_once_and_ages_and_relations_are_checked(
        api: ApiClient, family: dict) -> None:
    assert error_code(add(api, family["guardian"], CHILD, "spouse")) == "relation_mismatch"
    assert error_code(add(api, family["guardian"], CHILD, "grandchild")) == "minor_needs_parent"
    assert error_code(add(api, family["guardian"], {**CHILD, "name": "王小宝"}, "child")) == "identity_mismatch"
    assert error_code(add(api, family["guardian"], GUARDIAN, "spouse")) == "family_self"
    child = add(api, family["guardian"], CHILD, "child").json
    assert child["status"] == "active" and child["minor"] is True and child["share_history"] is True
    assert error_code(add(api, family["guardian"], CHILD, "child")) == "family_member_exists"
    code = api.client.get(f"{FAMILY}/{child['id']}/code", headers=family["guardian"]).json["code"]
    assert api.verify(api.partner(("culture",), "Museum"), code, scene="culture").json["accepted"] is True
    # the other parent (also the child's parent on her own list) may remove the first parent's entry
    assert add(api, family["spouse"], CHILD, "child").status_code == 201
    assert api.client.delete(f"{FAMILY}/{child['id']}", headers=family["grandma"]).status_code == 404
    assert api.client.delete(f"{FAMILY}/{child['id']}", headers=family["spouse"]).status_code == 204
    assert api.verify(api.partner(("transit",), "Bus"), code).json["reason"] == "code_invalid"


def test_removal_by_the_member_ends_the_guardians_codes_at_once(api: ApiClient, family: dict) -> None:
    entry = add(api, family["guardian"], GRANDMA, "parent").json["id"]
    confirm(api, family["grandma"], GRANDMA, entry)
    code = api.client.get(f"{FAMILY}/{entry}/code", headers=family["guardian"]).json["code"]
    assert api.client.delete(f"{FAMILY}/{entry}", headers=family["grandma"]).status_code == 204
    assert api.verify(api.partner(), code).json["reason"] == "code_invalid"
    assert error_code(api.client.get(f"{FAMILY}/{entry}/code", headers=family["guardian"])) == "family_member_not_found"
    with api.app.app_context():
        row = db.session.get(FamilyMember, entry)
        assert row.removed_at is not None and db.session.get(Device, row.device_id).revoked_at is not None
    assert add(api, family["guardian"], GRANDMA, "parent").status_code == 201  # the slots are free again


def test_quotas_four_elders_one_spouse_two_guardians(api: ApiClient, family: dict) -> None:
    for elder in ELDERS[:4]:
        assert add(api, family["guardian"], elder, "grandparent").status_code == 201
    full = add(api, family["guardian"], ELDERS[4], "parent")
    assert error_code(full) == "family_quota_exceeded" and full.json["error"]["details"] == {"category": "elder", "limit": 4}
    assert add(api, family["guardian"], SPOUSE, "spouse").status_code == 201
    assert error_code(add(api, family["guardian"], GUARDIANS[0], "spouse")) == "family_quota_exceeded"
    assert add(api, family["spouse"], GRANDMA, "parent_in_law").status_code == 201
    assert add(api, family["guardian"], GRANDMA, "parent").status_code == 409  # elders full
    third = bound(api, GUARDIANS[1])
    assert add(api, third, GRANDMA, "parent").status_code == 201
    assert error_code(add(api, bound(api, GUARDIANS[2]), GRANDMA, "parent")) == "member_guardian_limit"


def test_32_simultaneous_additions_pass_no_quota(api: ApiClient, family: dict) -> None:
    guardians = [bound(api, g) for g in GUARDIANS[:32]]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda h: add(api, h, GRANDMA, "parent"), guardians))
    assert sorted(a.status_code for a in answers) == [201] * 2 + [409] * 30
    assert {error_code(a) for a in answers if a.status_code == 409} == {"member_guardian_limit"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda elder: add(api, family["guardian"], elder, "grandparent"), ELDERS[:32]))
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 4 and statuses.count(409) == 6 and statuses.count(429) == 22  # 10 evaluated an hour
    with api.app.app_context():
        live = db.session.scalars(select(FamilyMember).where(FamilyMember.removed_at.is_(None))).all()
    assert len({row.member_citizen_id for row in live if row.relation == "parent"}) == 1
    assert sorted(row.member_slot for row in live if row.relation == "parent") == [0, 1]
    assert sorted(row.guardian_slot for row in live if row.relation == "grandparent") == [0, 1, 2, 3]


def test_the_guardian_sees_history_and_benefits_only_with_the_members_consent(api: ApiClient, family: dict) -> None:
    entry = add(api, family["guardian"], GRANDMA, "parent").json["id"]
    confirm(api, family["grandma"], GRANDMA, entry)
    for path in ("verifications", "benefits/summary"):
        assert error_code(api.client.get(f"{FAMILY}/{entry}/{path}", headers=family["guardian"])) == "consent_required"
    switched = api.client.put(f"{FAMILY}/{entry}/consent", json={"share_history": True}, headers=family["grandma"]).json
    assert switched["share_history"] is True and switched["share_benefits"] is False
    assert api.client.put(f"{FAMILY}/{entry}/consent", json={"share_history": True}, headers=family["guardian"]).status_code == 404
    history = api.client.get(f"{FAMILY}/{entry}/verifications", headers=family["guardian"])
    assert history.status_code == 200 and history.json["items"] == []
    assert error_code(api.client.get(f"{FAMILY}/{entry}/benefits/summary", headers=family["guardian"])) == "consent_required"
    listed = api.client.get(FAMILY, headers=family["guardian"]).json["members"][0]
    assert listed["masked_id_number"] == GRANDMA["id_number"][:6] + "********" + GRANDMA["id_number"][-4:]


def test_offline_certificates_for_a_member_are_marked_and_removal_puts_them_on_the_next_deny_list(
        api: ApiClient, family: dict) -> None:
    entry = add(api, family["guardian"], GRANDMA, "parent").json["id"]
    confirm(api, family["grandma"], GRANDMA, entry)
    nonce = api.client.post("/api/mp/v1/card/offline/challenge", json={"installation_id": "son-phone-01"},
                            headers=family["guardian"]).json["nonce"]
    device = offline.generate(offline.ED25519)
    body = {"nonce": nonce, "alg": "ed25519", "device_public_key": offline.b64url_encode(device.public_key),
            "proof": offline.b64url_encode(offline.proof_of_possession(device, offline.b64url_decode(nonce)))}
    assert api.client.post(f"{FAMILY}/{entry}/offline/certificates", json=body, headers=family["spouse"]).status_code == 404
    issued = api.client.post(f"{FAMILY}/{entry}/offline/certificates", json=body, headers=family["guardian"])
    assert issued.status_code == 200, issued.json
    certificate = offline.certificate_from_bytes(offline.b64url_decode(issued.json["certificates"][0]["certificate"]))
    code = offline.make_code(certificate, device, t=int(api.clock.time()), ctr=0).text
    operator = GateOperator(api)
    trust = operator.trust()
    assert offline.check(code, trust, operator.deny(trust), "transit", int(api.clock.time())).accepted  # a gate offline
    answer = api.verify(api.partner(), code).json
    assert answer["accepted"] is True and answer["subject"]["proxy"] is True and answer["subject"]["relation"] == "parent"
    history = api.client.get("/api/mp/v1/card/verifications", headers=family["grandma"]).json["items"]
    assert [item["shown_by"] for item in history] == ["relative (parent)"]

    assert api.client.delete(f"{FAMILY}/{entry}", headers=family["grandma"]).status_code == 204
    later = offline.make_code(certificate, device, t=int(api.clock.time()), ctr=1).text
    assert api.verify(api.partner(name="Bus"), later).json["reason"] == "card_inactive"  # online: at once
    api.clock.advance(DENY_MIN_INTERVAL)
    assert certificate.serial in operator.deny(trust)  # gates: the next deny list


def test_32_simultaneous_confirmations_and_removals_act_once(api: ApiClient, family: dict) -> None:
    entry = add(api, family["guardian"], GRANDMA, "parent").json["id"]
    with ThreadPoolExecutor(8) as pool:
        confirmed = sorted(pool.map(lambda _: confirm(api, family["grandma"], GRANDMA, entry).status_code, range(32)))
    assert confirmed.count(200) == 1 and set(confirmed) <= {200, 404, 429}  # 10 real-person checks an hour
    with api.app.app_context():
        assert len(db.session.scalars(select(Device).where(Device.platform == f"fm{entry}")).all()) == 1
    with ThreadPoolExecutor(8) as pool:
        removed = sorted(pool.map(lambda who: api.client.delete(f"{FAMILY}/{entry}", headers=who).status_code,
                                  [family["grandma"], family["guardian"]] * 16))
    assert removed == [204] + [404] * 31
