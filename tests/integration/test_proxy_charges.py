"""Charges on a code a relative shows (issue 22 item 1, issue 18; docs/payments.md "Proxies"):
refused with ``proxy_charge_not_allowed`` unless the family entry's ``proxy_charges`` switch is
on; the member sets it, the guardian only turns it off or sets it for a minor. Both backends."""
from __future__ import annotations

from typing import Any

import pytest

from ..benefits_support import Holder
from ..helpers import ApiClient
from ..payments_support import Payments
from .test_family import CHILD, FAMILY, GRANDMA, GUARDIAN, SPOUSE, add, confirm, openid, roster
from .test_login import error_code
from .test_payments import THREADS, race


def _holder(api: ApiClient, who: dict[str, str]) -> Holder:
    token = api.login(openid(who))  # test_family's openid: the member's face check names this account
    answer = api.bind(token, who)
    assert answer.status_code == 200, answer.json
    return Holder(token, "", who["id_number"], answer.json["card_number"])


@pytest.fixture
def kin(api: ApiClient) -> dict[str, Any]:
    """A guardian with grandma (adult, confirmed) and a child on the list; grandma's and the
    child's accounts open at the bank; a metro that charges."""
    roster(api, [GUARDIAN, SPOUSE, GRANDMA, CHILD])
    pay = Payments(api)
    guardian, grandma, spouse = _holder(api, GUARDIAN), _holder(api, GRANDMA), _holder(api, SPOUSE)
    elder = add(api, api.bearer(guardian.token), GRANDMA, "parent").json["id"]
    assert confirm(api, api.bearer(grandma.token), GRANDMA, elder).json["status"] == "active"  # with her face check (issue 18)
    child = add(api, api.bearer(guardian.token), CHILD, "child").json
    bank = pay.bank()
    assert pay.open_account(bank, grandma).status_code == 200
    return {"pay": pay, "guardian": guardian, "grandma": grandma, "spouse": spouse, "elder": elder, "child": child["id"],
            "metro": pay.merchant(("transit",), "Metro")}


def _proxy_verification(kin: dict[str, Any], entry: int) -> str:
    api: ApiClient = kin["pay"].api
    code = api.client.get(f"{FAMILY}/{entry}/code", headers=api.bearer(kin["guardian"].token)).json["code"]
    answer = api.verify(kin["metro"], code).json
    assert answer["accepted"] is True and answer["subject"]["proxy"] is True, answer
    return answer["verification_id"]


def _switch(kin: dict[str, Any], who: str, entry: int, allowed: Any) -> Any:
    api: ApiClient = kin["pay"].api
    return api.client.put(f"{FAMILY}/{entry}/proxy-charges", json={"proxy_charges": allowed}, headers=api.bearer(kin[who].token))


def test_a_relatives_code_is_charged_only_once_the_member_allows_it(kin: dict[str, Any]) -> None:
    pay, metro, elder = kin["pay"], kin["metro"], kin["elder"]
    shown = _proxy_verification(kin, elder)
    refused = pay.charge(metro, shown, 300)
    assert refused.status_code == 403 and error_code(refused) == "proxy_charge_not_allowed"
    own = pay.verified(metro, kin["grandma"], scene="transit")  # her own phone: no proxy, charged
    assert pay.charge(metro, own, 300).status_code == 200

    assert error_code(_switch(kin, "guardian", elder, True)) == "proxy_charges_member_decides"  # an adult decides
    assert _switch(kin, "spouse", elder, True).status_code == 404  # not on her list
    assert _switch(kin, "grandma", 8474854816899065184256, True).status_code == 404  # past the id column's range: no 500
    assert _switch(kin, "grandma", elder, "maybe").status_code == 422
    answer = _switch(kin, "grandma", elder, True)
    assert answer.status_code == 200 and answer.json == {"id": elder, "proxy_charges": True}
    charged = pay.charge(metro, shown, 300)  # the switch is read when charging: the earlier code now pays
    assert charged.status_code == 200 and charged.json["status"] == "pending", charged.json

    assert _switch(kin, "guardian", elder, False).json["proxy_charges"] is False  # the guardian may always turn it off
    again = pay.charge(metro, _proxy_verification(kin, elder), 300)
    assert again.status_code == 403 and error_code(again) == "proxy_charge_not_allowed"


def test_the_guardian_sets_the_switch_for_a_minor_and_removal_ends_it(kin: dict[str, Any]) -> None:
    api: ApiClient = kin["pay"].api
    child = kin["child"]
    assert _switch(kin, "guardian", child, True).json == {"id": child, "proxy_charges": True}
    assert api.client.delete(f"{FAMILY}/{child}", headers=api.bearer(kin["guardian"].token)).status_code == 204
    assert _switch(kin, "guardian", child, True).status_code == 404  # a removed entry cannot be switched


def test_32_racing_switches_leave_one_answered_state(kin: dict[str, Any]) -> None:
    from app.card.models import FamilyMember
    from app.platform.db import db

    elder = kin["elder"]
    answers = race(THREADS, lambda n: _switch(kin, "grandma" if n % 2 else "guardian", elder, bool(n % 2)))
    # the member's 16 "on" and the guardian's 16 "off" all apply; the last one committed stands
    assert sorted(answer.status_code for answer in answers) == [200] * THREADS
    with kin["pay"].api.app.app_context():
        stored = db.session.get(FamilyMember, elder).proxy_charges
    refused = kin["pay"].charge(kin["metro"], _proxy_verification(kin, elder), 300)
    assert (refused.status_code == 200) is stored
