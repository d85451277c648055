"""Issue 17 items 2 and 4: real-person checks (WeChat face verification, Alipay certification,
both through their stand-ins on the real wire format), the assurance recorded on binding, a
knowledge-only squatter evicted by the holder, unbinding and binding again, and the e-card
password reset by a real-person check."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.card.models import CarrierEvent, Device
from app.config import load_config
from app.platform.clock import FrozenClock
from app.platform.db import db
from app.service_desk.models import AuditRecord
from standins.alipay import AlipayStandIn
from standins.wechat import WeChatStandIn

from ..conftest import make_app
from ..helpers import PERSON, ApiClient
from .test_login import error_code

PASSWORD = "305172"


def _face(api: ApiClient, openid: str, person: dict[str, str] = PERSON, **kwargs: Any) -> str:
    return api.wechat.issue_face_result(openid, person["name"], person["id_number"], **kwargs)


def _bind_real(api: ApiClient, token: str, verify_result: str) -> Any:
    return api.client.post("/api/mp/v1/binding", json={**PERSON, "real_person_token": verify_result}, headers=api.bearer(token))


def test_a_real_person_binding_records_its_assurance(api: ApiClient) -> None:
    api.import_sample_roster()
    token = api.login("o-holder")
    started = api.client.post("/api/mp/v1/real-person/checks", json={"name": PERSON["name"], "id_number": PERSON["id_number"]},
                              headers=api.bearer(token))
    assert started.json == {"provider": "wechat_face", "certify_id": None, "certify_url": None}
    bound = _bind_real(api, token, _face(api, "o-holder"))
    assert bound.status_code == 200 and bound.json["assurance"] == "real_person"
    knowledge = api.bind(api.login("o-other"), {"name": "林秀英", "id_number": "441900195612012868", "phone": "13800138205"})
    assert knowledge.json["assurance"] == "knowledge"


def test_the_token_is_checked_with_wechat_never_trusted(api: ApiClient) -> None:
    api.import_sample_roster()
    token = api.login("o-holder")
    assert error_code(_bind_real(api, token, "made-up-verify-result")) == "real_person_failed"
    assert error_code(_bind_real(api, token, _face(api, "o-holder", passed=False))) == "real_person_failed"
    assert error_code(_bind_real(api, token, _face(api, "o-someone-else"))) == "real_person_invalid"
    other_person = {**PERSON, "id_number": "441900195008281658"}
    assert error_code(_bind_real(api, token, _face(api, "o-holder", other_person))) == "real_person_invalid"
    second = api.login("o-second")  # 5 binding attempts per account an hour
    stale = _face(api, "o-second", identify_time=int(api.clock.time()) - 3600)
    assert error_code(_bind_real(api, second, stale)) == "real_person_invalid"
    once = _face(api, "o-second")
    assert _bind_real(api, second, once).status_code == 200
    assert error_code(_bind_real(api, second, once)) == "real_person_invalid"


def test_a_knowledge_only_squatter_is_evicted_by_the_holder(api: ApiClient) -> None:
    api.import_sample_roster()
    squatter = api.login("o-squatter")
    assert api.bind(squatter).status_code == 200
    seeded = api.client.post("/api/mp/v1/card/seed", json={"installation_id": "squatter-phone"}, headers=api.bearer(squatter))
    assert seeded.status_code == 200
    holder = api.login("o-holder")
    assert error_code(api.bind(holder)) == "already_bound"  # knowledge against knowledge: first come keeps it
    evicting = _bind_real(api, holder, _face(api, "o-holder"))
    assert evicting.status_code == 200 and evicting.json["assurance"] == "real_person"
    assert error_code(api.client.get("/api/mp/v1/card/code", headers=api.bearer(squatter))) == "token_invalid"
    again = api.client.post("/api/mp/v1/auth/wechat", json={"code": api.wechat.issue_code(openid="o-squatter")})
    assert again.json["bound"] is False and again.json["binding_ended"] == "evicted"
    assert api.client.get("/api/mp/v1/card/code", headers=api.bearer(holder)).status_code == 200
    with api.app.app_context():
        devices = db.session.scalars(select(Device)).all()
        assert [d.installation_id for d in devices if d.revoked_at is None] == [None]  # the squatter's copy ended
        assert db.session.scalar(select(CarrierEvent.event).where(CarrierEvent.event == "evicted")) == "evicted"
        audit = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "binding_evicted")).one()
        assert audit.actor_kind == "system" and audit.seq is not None


def test_a_real_person_binding_is_not_evicted(api: ApiClient) -> None:
    api.import_sample_roster()
    assert _bind_real(api, api.login("o-holder"), _face(api, "o-holder")).status_code == 200
    assert error_code(_bind_real(api, api.login("o-rival"), _face(api, "o-rival"))) == "already_bound"


def test_unbind_after_reauthentication_then_bind_again(api: ApiClient) -> None:
    token = api.bound_citizen("o-holder")
    card_number = api.client.get("/api/mp/v1/card/carriers", headers=api.bearer(token)).json["card_number"]
    assert error_code(api.client.delete("/api/mp/v1/binding", json={}, headers=api.bearer(token))) == "reauthentication_required"
    assert api.client.put("/api/mp/v1/card/password", json={"password": PASSWORD}, headers=api.bearer(token)).status_code == 204
    assert error_code(api.client.delete("/api/mp/v1/binding", json={"password": "000001"}, headers=api.bearer(token))) == "password_wrong"
    assert api.client.delete("/api/mp/v1/binding", json={"password": PASSWORD}, headers=api.bearer(token)).status_code == 204
    assert error_code(api.client.get("/api/mp/v1/card/code", headers=api.bearer(token))) == "not_bound"
    other = api.login("o-new-phone")
    rebound = api.bind(other)
    assert rebound.status_code == 200 and rebound.json["card_number"] == card_number
    assert api.client.get("/api/mp/v1/card/code", headers=api.bearer(other)).status_code == 200
    unbind_real = api.client.delete("/api/mp/v1/binding", json={"real_person_token": _face(api, "o-new-phone")},
                                    headers=api.bearer(other))
    assert unbind_real.status_code == 204


def test_a_forgotten_or_locked_password_is_reset_by_a_real_person_check(api: ApiClient) -> None:
    token = api.bound_citizen("o-holder")
    headers = api.bearer(token)
    assert api.client.put("/api/mp/v1/card/password", json={"password": PASSWORD}, headers=headers).status_code == 204
    for n in range(6):
        api.client.post("/api/mp/v1/card/ecard/device", json={"installation_id": "install-x", "password": f"00000{n}"}, headers=headers)
    locked = api.client.post("/api/mp/v1/card/ecard/device", json={"installation_id": "install-x", "password": PASSWORD}, headers=headers)
    assert error_code(locked) == "password_locked"
    wrong_person = api.client.post("/api/mp/v1/card/password/reset", headers=headers,
                                   json={"password": "580213", "real_person_token": _face(api, "o-someone")})
    assert error_code(wrong_person) == "real_person_invalid"
    reset = api.client.post("/api/mp/v1/card/password/reset", headers=headers,
                            json={"password": "580213", "real_person_token": _face(api, "o-holder")})
    assert reset.status_code == 204
    moved = api.client.post("/api/mp/v1/card/ecard/device", json={"installation_id": "install-x", "password": "580213"}, headers=headers)
    assert moved.status_code == 200, moved.json


@pytest.fixture(params=["embedded", "production"])
def alipay_api(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock, wechat: WeChatStandIn,
               alipay_config: dict[str, str]) -> ApiClient:
    return ApiClient(make_app(request.param, request, tmp_path, clock, wechat, **alipay_config), wechat, clock)


def test_alipay_certification_binds_at_real_person(alipay_api: ApiClient, alipay: AlipayStandIn) -> None:
    api = alipay_api
    api.import_sample_roster()
    token = api.client.post("/api/mp/v1/auth/alipay", json={"auth_code": alipay.issue_code()}).json["token"]
    started = api.client.post("/api/mp/v1/real-person/checks", json={"name": PERSON["name"], "id_number": PERSON["id_number"]},
                              headers=api.bearer(token)).json
    assert started["provider"] == "alipay_certify" and started["certify_url"].startswith(alipay.base_url)
    body = {**PERSON, "real_person_token": started["certify_id"]}
    assert error_code(api.client.post("/api/mp/v1/binding", json=body, headers=api.bearer(token))) == "real_person_failed"
    assert alipay.complete_certification(started["certify_url"]) == started["certify_id"]
    identity = alipay.certifications[started["certify_id"]]["identity"]
    assert identity == {"identity_type": "CERT_INFO", "cert_type": "IDENTITY_CARD", "cert_name": PERSON["name"],
                        "cert_no": PERSON["id_number"]}
    bound = api.client.post("/api/mp/v1/binding", json=body, headers=api.bearer(token))
    assert bound.status_code == 200 and bound.json["assurance"] == "real_person"
    other = {**body, "real_person_token": "0" * 32}
    assert error_code(api.client.post("/api/mp/v1/binding", json=other, headers=api.bearer(token))) == "real_person_invalid"


@pytest.fixture(params=["embedded", "production"])
def default_api(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock, wechat: WeChatStandIn) -> ApiClient:
    """The configured default of CARD_SCENE_MIN_ASSURANCE (the other tests turn it off)."""
    minimum = load_config()["CARD_SCENE_MIN_ASSURANCE"]
    assert minimum == {"government": "real_person", "finance": "real_person"}
    return ApiClient(make_app(request.param, request, tmp_path, clock, wechat, CARD_SCENE_MIN_ASSURANCE=minimum), wechat, clock)


def test_government_and_finance_need_a_real_person_binding(default_api: ApiClient) -> None:
    api = default_api
    token = api.bound_citizen("o-holder")
    government = api.partner(("government",), name="Tax office", kind="government")
    bank = api.partner(("finance",), name="Bank")
    metro = api.partner(("transit",), name="Metro")
    code = api.code(token)
    refused = api.verify(government, code, scene="government").json
    assert refused["accepted"] is False and refused["reason"] == "assurance_too_low"
    assert api.verify(bank, api.code(token), scene="finance").json["reason"] == "assurance_too_low"
    assert api.verify(metro, api.code(token)).json["accepted"] is True  # transit asks for no more
    assert _bind_real(api, token, _face(api, "o-holder")).json["assurance"] == "real_person"  # the same account, raised
    accepted = api.verify(government, api.code(token), scene="government").json
    assert accepted["accepted"] is True, accepted
