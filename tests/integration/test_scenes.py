"""Each scene: what it discloses, field by field, and what it refuses (M-19, M-23; docs/partner-api.md)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.platform.db import db
from app.scanning.models import Verification
from scenes.registry import POLICIES

from ..helpers import PERSON, ApiClient
from .test_login import error_code

SENIOR = {"name": "李建国", "id_number": "441900195008281658", "phone": "13800138488"}


def accepted_subject(api: ApiClient, partner: dict, token: str, scene: str, **extra: str) -> dict:
    answer = api.verify(partner, api.code(token), scene=scene, **extra).json
    assert answer.get("accepted") is True, answer
    assert set(answer["subject"]) == set(POLICIES[scene].fields)  # exactly the documented fields
    assert POLICIES[scene].Subject().validate(answer["subject"]) == {}  # and the published shape
    return answer["subject"]


@pytest.fixture
def citizen(api: ApiClient) -> str:
    return api.bound_citizen()


class TestTransit:
    def test_no_name_no_id_a_per_partner_token_and_the_concession(self, api: ApiClient, citizen: str) -> None:
        metro, bus = api.partner(("transit",), "Metro"), api.partner(("transit",), "Bus")
        first = accepted_subject(api, metro, citizen, "transit")
        again = accepted_subject(api, metro, citizen, "transit")
        other = accepted_subject(api, bus, citizen, "transit")
        assert first["settlement_token"] == again["settlement_token"] != other["settlement_token"]
        assert first["concession"] == "standard" and first["entry_verification_id"] is None
        text = json.dumps(first, ensure_ascii=False)
        assert PERSON["name"] not in text and PERSON["id_number"][6:14] not in text

    def test_age_categories_come_from_the_birth_date(self, api: ApiClient) -> None:
        api.import_sample_roster()
        senior = api.login()
        assert api.bind(senior, SENIOR).status_code == 200
        assert accepted_subject(api, api.partner(), senior, "transit")["concession"] == "elder"  # born 1950: over 70

    def test_the_disability_flag_of_the_roster(self, api: ApiClient) -> None:
        api.import_roster("name,id_number,phone,insured,disability\n陈小明,441900198506151235,13800138000,1,1\n")
        token = api.login()
        assert api.bind(token).status_code == 200
        assert accepted_subject(api, api.partner(), token, "transit")["concession"] == "disabled"

    def test_a_metro_exit_links_to_its_entry(self, api: ApiClient, citizen: str) -> None:
        metro = api.partner(("transit",), "Metro")
        entry = api.verify(metro, api.code(citizen), direction="entry").json
        exit_ = accepted_subject(api, metro, citizen, "transit", direction="exit")
        assert exit_["entry_verification_id"] == entry["verification_id"]
        second_exit = accepted_subject(api, metro, citizen, "transit", direction="exit")
        assert second_exit["entry_verification_id"] is None  # an entry links to one exit only


def test_medical_discloses_identity_for_care_with_the_id_masked(api: ApiClient, citizen: str) -> None:
    subject = accepted_subject(api, api.partner(("medical",), "Hospital"), citizen, "medical")
    assert subject == {"name": "陈小明", "sex": "M", "date_of_birth": "1985-06-15", "id_number_masked": "441900************",
                       "insured": True, "social_security_card_number": None, "medical_insurance_evoucher": None}


class TestMembership:
    def upload(self, api: ApiClient, partner: dict, members: list[dict], mode: str = "replace"):  # type: ignore[no-untyped-def]
        body = json.dumps({"members": members, "mode": mode}).encode()
        return api.signed_post(partner, body, path="/api/partner/v1/members", method="PUT")

    def test_campus_lets_only_members_pass(self, api: ApiClient, citizen: str) -> None:
        campus = api.partner(("campus",), "Dongguan University")
        code = api.code(citizen)
        assert api.verify(campus, code, scene="campus").json["reason"] == "not_a_member"
        uploaded = self.upload(api, campus, [{"id_number": PERSON["id_number"], "member_id": "S2026001"},
                                             {"id_number": "441900198506151234", "member_id": "bad"}])
        assert uploaded.status_code == 200
        assert uploaded.json == {"accepted": 1, "total": 1, "rejected": [{"position": 2, "reason": "id_number_bad_check_digit"}]}
        answer = api.verify(campus, code, scene="campus", terminal_id="gate-2").json  # not used up by the refusal
        assert answer["accepted"] is True and answer["subject"] == {"member_id": "S2026001", "name": "陈小明"}

    def test_repeated_id_numbers_or_member_ids_are_rejected(self, api: ApiClient, citizen: str) -> None:
        campus = api.partner(("campus",), "Campus")
        members = [{"id_number": PERSON["id_number"], "member_id": "S1"}, {"id_number": PERSON["id_number"], "member_id": "S2"},
                   {"id_number": SENIOR["id_number"], "member_id": "S1"}]
        assert self.upload(api, campus, members).json == {"accepted": 1, "total": 1, "rejected": [
            {"position": 2, "reason": "duplicate_id_number (first at 1)"},
            {"position": 3, "reason": "duplicate_member_id (first at 1)"}]}

    def test_a_blank_or_overlong_member_id_is_rejected_alone(self, api: ApiClient, citizen: str) -> None:
        campus = api.partner(("campus",), "Campus")
        members = [{"id_number": PERSON["id_number"], "member_id": ""}, {"id_number": SENIOR["id_number"], "member_id": "S" * 65},
                   {"id_number": "", "member_id": "S3"}]
        answer = self.upload(api, campus, members)
        assert answer.status_code == 200 and answer.json["accepted"] == 0
        assert [(item["position"], item["reason"]) for item in answer.json["rejected"]][:2] == [(1, "bad_member_id"), (2, "bad_member_id")]
        assert answer.json["rejected"][2]["position"] == 3 and answer.json["rejected"][2]["reason"].startswith("id_number_")

    def test_replace_empties_and_append_extends(self, api: ApiClient, citizen: str) -> None:
        campus = api.partner(("campus",), "Campus")
        self.upload(api, campus, [{"id_number": PERSON["id_number"], "member_id": "S1"}])
        assert self.upload(api, campus, [], mode="replace").json["total"] == 0
        assert api.verify(campus, api.code(citizen), scene="campus").json["reason"] == "not_a_member"
        assert self.upload(api, campus, [{"id_number": PERSON["id_number"], "member_id": "S1"}], mode="append").json["total"] == 1

    def test_a_library_lends_to_members_and_other_culture_partners_see_a_visitor_token(self, api: ApiClient, citizen: str) -> None:
        library = api.partner(("culture",), "City Library", kind="library")
        museum, park = api.partner(("culture",), "Museum"), api.partner(("culture",), "Park")
        assert api.verify(library, api.code(citizen), scene="culture").json["reason"] == "not_a_member"
        self.upload(api, library, [{"id_number": PERSON["id_number"], "member_id": "L-77"}])
        assert accepted_subject(api, library, citizen, "culture")["member_id"] == "L-77"
        at_museum, at_park = (accepted_subject(api, p, citizen, "culture") for p in (museum, park))
        assert at_museum["member_id"] is None and at_museum["visitor_token"] != at_park["visitor_token"]
        assert at_museum["concession"] == "standard"


def test_public_venue_sees_only_the_masked_name(api: ApiClient, citizen: str) -> None:
    assert accepted_subject(api, api.partner(("public_venue",), "Service Centre"), citizen, "public_venue") == {"masked_name": "陈*"}


class TestGovernment:
    def test_only_government_departments_may_use_it(self, api: ApiClient, citizen: str) -> None:
        shop = api.partner(("government",), "Not a department")
        assert api.verify(shop, api.code(citizen), scene="government").json["reason"] == "scene_not_permitted"

    def test_full_identity_and_the_disclosure_is_recorded_against_the_department(self, api: ApiClient, citizen: str) -> None:
        bureau = api.partner(("government",), "HR & Social Security Bureau", kind="government")
        subject = accepted_subject(api, bureau, citizen, "government")
        assert subject == {"name": PERSON["name"], "id_number": PERSON["id_number"]}
        with api.app.app_context():
            record = db.session.scalar(select(Verification).where(Verification.scene == "government"))
            assert (record.disclosed, record.accepted) == ("name,id_number", True)


def test_finance_sees_a_payment_account_reference_and_nothing_personal(api: ApiClient, citizen: str) -> None:
    bank_a, bank_b = api.partner(("finance",), "Bank A"), api.partner(("finance",), "Bank B")
    a, b = (accepted_subject(api, bank, citizen, "finance") for bank in (bank_a, bank_b))
    assert a["payment_account_reference"] != b["payment_account_reference"]


class TestRefusals:
    def test_a_re_read_for_another_scene_is_not_a_duplicate(self, api: ApiClient, citizen: str) -> None:
        partner = api.partner(("transit", "medical"))
        code = api.code(citizen)
        assert api.verify(partner, code).json["accepted"] is True
        other_scene = api.verify(partner, code, scene="medical").json
        assert (other_scene["duplicate"], other_scene["reason"]) == (False, "code_used")

    def test_direction_is_for_transit_only(self, api: ApiClient, citizen: str) -> None:
        response = api.verify(api.partner(("medical",)), api.code(citizen), scene="medical", direction="entry")
        assert (response.status_code, error_code(response)) == (422, "validation_error")

    def test_refusals_for_the_partners_own_checks_name_no_card(self, api: ApiClient, citizen: str) -> None:
        shop = api.partner(("government",), "Not a department")
        assert api.verify(shop, api.code(citizen), scene="government").json["reason"] == "scene_not_permitted"
        assert api.client.get("/api/mp/v1/card/verifications", headers=api.bearer(citizen)).json["items"] == []  # issue 15 item 13

    def test_an_unregistered_terminal_is_terminal_unknown(self, api: ApiClient, citizen: str) -> None:
        partner = api.partner()
        code = api.code(citizen)
        assert api.verify(partner, code, terminal_id="rogue-scanner").json["reason"] == "terminal_unknown"
        assert api.verify(partner, code).json["accepted"] is True  # not used up

    def test_an_unknown_scene_is_422_scene_unknown(self, api: ApiClient) -> None:
        response = api.verify(api.partner(), "x", scene="spaceport")
        assert (response.status_code, error_code(response)) == (422, "scene_unknown")

    def test_a_failing_policy_never_accepts(self, api: ApiClient, citizen: str, monkeypatch: pytest.MonkeyPatch) -> None:
        def broken(_context: object) -> dict:
            raise RuntimeError("bug")

        monkeypatch.setattr(POLICIES["public_venue"], "subject", broken)
        partner = api.partner(("public_venue",), "Venue")
        answer = api.verify(partner, api.code(citizen), scene="public_venue").json
        assert (answer["accepted"], answer["reason"], answer["subject"]) == (False, "scene_unavailable", None)


def test_scenes_not_yet_open_are_422(api: ApiClient) -> None:
    api.app.config["CARD_SCENES_ENABLED"] = frozenset({"transit"})
    response = api.verify(api.partner(("medical",)), "x", scene="medical")
    assert (response.status_code, error_code(response)) == (422, "scene_not_enabled")


def test_the_citizen_sees_scene_partner_location_and_disclosed_fields(api: ApiClient, citizen: str) -> None:
    api.verify(api.partner(("medical",), "People's Hospital"), api.code(citizen), scene="medical")
    item = api.client.get("/api/mp/v1/card/verifications", headers=api.bearer(citizen)).json["items"][0]
    assert (item["scene"], item["partner_name"], item["terminal_location"]) == ("medical", "People's Hospital", "People's Hospital hall")
    assert sorted(item["disclosed"]) == sorted(POLICIES["medical"].fields)


def test_the_disclosure_table_in_the_partner_docs_matches_the_code() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "partner-api.md").read_text()
    table = doc.split("<!-- disclosure table -->", 2)[1]
    rows = [line.strip().strip("|").split("|") for line in table.splitlines() if line.strip().startswith("| `")]
    documented = {row[0].strip("` "): [field.strip("` ") for field in row[1].split(",")] for row in rows}
    assert documented == {name: list(policy.fields) for name, policy in POLICIES.items()}
