"""Reviewing e-card applications (issue 17 item 1, M-5): the ``reviewer`` role in the console.

The list (by status, overdue), the detail page (its read audited and shown to the applicant),
ask -> answer -> approve ending in an e-card-only card whose code verifies in a scene, a refusal
with a reason, other roles kept out, and decisions racing: exactly one wins."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.card.models import Card
from app.identity.models import Citizen, MpAccount
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import EXTENSION_KEY
from app.service_desk import reviews
from app.service_desk.audit import StaffActor, verify_chain
from app.service_desk.models import AuditRecord, CardApplication, Staff
from app.service_desk.retention import run

from ..helpers import PERSON, ApiClient, Console, new_staff
from .test_applications import PATH, apply
from .test_login import error_code


def _reviewer(api: ApiClient, username: str = "reviewer1", role: str = "reviewer") -> Console:
    console = Console(api.app, api.clock)
    assert console.login(username, new_staff(api.app, username, role)).status_code == 302
    return console


def _page(response: Any) -> str:
    return response.get_data(as_text=True)


def _status(api: ApiClient, token: str, reference: str) -> dict[str, Any]:
    response = api.client.get(f"{PATH}/{reference}", headers=api.bearer(token))
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def test_ask_answer_approve_issues_an_ecard_that_verifies(api: ApiClient) -> None:
    token = api.login()
    reference = apply(api, token, "passport_with_permit").json["reference"]
    console = _reviewer(api)
    listed = _page(console.get("/console/applications"))
    assert reference in listed and "护照及工作/居留许可" in listed and "John" not in listed  # the list shows nothing personal
    detail = _page(console.get(f"/console/applications/{reference}"))
    assert "John Smith" in detail and "E1234567" not in detail and "****4567" in detail and "宏图路" in detail
    assert "WP20240001" not in detail and "13900139000" not in detail

    asked = console.post(f"/console/applications/{reference}/ask", f"/console/applications/{reference}",
                         question="请补充工作许可证的有效期")
    assert asked.status_code == 302
    waiting = _status(api, token, reference)
    assert (waiting["status"], waiting["question"]) == ("more_info", "请补充工作许可证的有效期")
    actions = [line["action"] for line in waiting["access_log"]]  # newest first
    assert actions[0] == "ask" and set(actions[1:]) == {"view"}
    assert {line["role"] for line in waiting["access_log"]} == {"reviewer"}

    answered = api.client.post(f"{PATH}/{reference}/answers", json={"answer": "有效期至 2027-06-30"}, headers=api.bearer(token))
    assert answered.status_code == 200 and answered.json["status"] == "pending"
    assert "有效期至 2027-06-30" in _page(console.get(f"/console/applications/{reference}"))

    approved = console.post(f"/console/applications/{reference}/approve", f"/console/applications/{reference}", counter="1")
    assert approved.status_code == 302
    done = _status(api, token, reference)
    assert done["status"] == "approved" and done["assurance"] == "counter" and len(done["card_number"]) == 16
    with api.app.app_context():
        citizen = db.session.scalar(select(Citizen).join(Card, Card.citizen_id == Citizen.id)
                                    .where(Card.card_number == done["card_number"]))
        assert citizen is not None and citizen.insured is False
        account = db.session.scalar(select(MpAccount).where(MpAccount.citizen_id == citizen.id))
        assert account is not None and account.assurance == "counter"
        assert verify_chain(api.rt).first_bad is None
    partner = api.partner()
    verified = api.verify(partner, api.code(token))
    assert verified.status_code == 200 and verified.json["accepted"] is True
    assert verified.json["subject"]["concession"] == "standard"  # a passport carries no birth date
    logged = api.client.get("/api/mp/v1/me/access-log", headers=api.bearer(token))
    assert logged.status_code == 200
    items = logged.json["items"]
    assert {item["purpose"] for item in items} == {reference} and {item["role"] for item in items} == {"reviewer"}
    assert items[0]["action"] == "approve" and "ask" in [item["action"] for item in items]


def test_a_refusal_with_a_reason_reaches_the_applicant(api: ApiClient) -> None:
    token = api.login()
    reference = apply(api, token, "travel_permit_tw").json["reference"]
    console = _reviewer(api)
    too_short = console.post(f"/console/applications/{reference}/refuse", f"/console/applications/{reference}", reason="no")
    assert too_short.status_code == 422
    refused = console.post(f"/console/applications/{reference}/refuse", f"/console/applications/{reference}",
                           reason="通行证号码与证件不符")
    assert refused.status_code == 302
    shown = _status(api, token, reference)
    assert (shown["status"], shown["refusal_reason"], shown["card_number"]) == ("refused", "通行证号码与证件不符", None)
    again = console.post(f"/console/applications/{reference}/approve", f"/console/applications/{reference}")
    assert again.status_code == 409
    assert apply(api, token, "travel_permit_tw").status_code == 201  # a refused application is no longer open


def test_other_roles_cannot_review(api: ApiClient) -> None:
    reference = apply(api, api.login(), "travel_permit_tw").json["reference"]
    agent = _reviewer(api, "agent1", "agent")
    assert agent.get("/console/applications").status_code == 403
    assert agent.get(f"/console/applications/{reference}").status_code == 403
    assert agent.post(f"/console/applications/{reference}/approve").status_code == 403
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.actor_kind == "staff")) == 0


def test_overdue_applications_are_shown_and_filtered(api: ApiClient) -> None:
    old = apply(api, api.login(), "travel_permit_tw").json["reference"]
    api.clock.advance(timedelta(days=8).total_seconds())
    new = apply(api, api.login(), "travel_permit_hkmo").json["reference"]
    console = _reviewer(api)
    overdue = _page(console.get("/console/applications?overdue=1"))
    assert old in overdue and new not in overdue and "已超时" in overdue
    pending = _page(console.get("/console/applications?status=pending"))
    assert old in pending and new in pending
    assert old not in _page(console.get("/console/applications?status=approved"))


def test_a_document_already_holding_a_card_cannot_be_approved(api: ApiClient) -> None:
    api.bound_citizen()
    token = api.login()
    reference = apply(api, token, "residence_permit", document_number=PERSON["id_number"]).json["reference"]
    console = _reviewer(api)
    answer = console.post(f"/console/applications/{reference}/approve", f"/console/applications/{reference}")
    assert answer.status_code == 409 and "该证件已有持卡人" in _page(answer)
    assert _status(api, token, reference)["status"] == "pending"


def _actor(api: ApiClient, username: str) -> StaffActor:
    new_staff(api.app, username, "reviewer")
    with api.app.app_context():
        staff = db.session.scalar(select(Staff).where(Staff.username == username))
        assert staff is not None
        return StaffActor(staff.id, username, "reviewer", None)


@pytest.mark.parametrize("app", ["production"], indirect=True)
def test_32_decisions_at_once_from_two_reviewers_one_wins(api: ApiClient) -> None:
    token = api.login()
    reference = apply(api, token, "foreign_permanent_id").json["reference"]
    actors = [_actor(api, "reviewer1"), _actor(api, "reviewer2")]
    barrier = threading.Barrier(32)

    def decide(n: int) -> str:
        with api.app.app_context():
            rt, actor = api.app.extensions[EXTENSION_KEY], actors[n % 2]
            barrier.wait()
            try:
                (reviews.approve(rt, actor, reference) if n % 3 == 0 else reviews.refuse(rt, actor, reference, "证件不符")
                 if n % 3 == 1 else reviews.ask(rt, actor, reference, "请补充材料"))
                return "won"
            except AppError as exc:
                return exc.code
            finally:
                db.session.remove()

    with ThreadPoolExecutor(32) as pool:
        outcomes = list(pool.map(decide, range(32)))
    assert sorted(outcomes) == ["application_decided"] * 31 + ["won"]
    with api.app.app_context():
        row = db.session.scalar(select(CardApplication))
        assert row is not None and row.status in ("approved", "refused", "more_info")
        assert db.session.scalar(select(func.count()).select_from(Card)) == (1 if row.status == "approved" else 0)
        decisions = db.session.scalar(select(func.count()).select_from(AuditRecord)
                                      .where(AuditRecord.action.in_(("approve", "refuse", "ask"))))
        assert decisions == 1 and verify_chain(api.rt).first_bad is None


@pytest.mark.parametrize("app", ["production"], indirect=True)
def test_32_answers_at_once_move_the_application_once(api: ApiClient) -> None:
    token = api.login()
    reference = apply(api, token, "travel_permit_tw").json["reference"]
    with api.app.app_context():
        reviews.ask(api.rt, _actor(api, "reviewer1"), reference, "请补充材料")
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda n: api.client.post(f"{PATH}/{reference}/answers", json={"answer": f"答复 {n}"},
                                                          headers=api.bearer(token)), range(32)))
    codes = sorted(answer.status_code if answer.status_code != 429 else 429 for answer in answers)
    assert codes.count(200) == 1 and set(codes) <= {200, 409, 429}
    assert {error_code(answer) for answer in answers if answer.status_code == 409} <= {"not_awaiting_answer"}
    assert codes.count(429) == 32 - 10  # 10 answers a day, counted before the state is looked at


def test_a_cancelled_applicant_is_not_approved_and_the_retention_job_deletes_the_application(api: ApiClient) -> None:
    token = api.login("o-leaving")
    reference = apply(api, token, "travel_permit_tw").json["reference"]
    assert api.client.delete("/api/mp/v1/account", json={}, headers=api.bearer(token)).status_code == 204
    console = _reviewer(api)
    refused = console.post(f"/console/applications/{reference}/approve", f"/console/applications/{reference}")
    assert refused.status_code == 409 and "申请人已注销账号" in _page(refused)
    api.clock.advance(31 * 86400)
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CardApplication)) == 1
        run(api.rt)
        assert db.session.scalar(select(func.count()).select_from(CardApplication)) == 0
        assert db.session.scalar(select(func.count()).select_from(MpAccount)) == 0
        assert db.session.scalar(select(func.count()).select_from(Citizen)) == 0


def test_a_passport_holder_in_the_medical_scene_is_refused_without_disclosure(api: ApiClient) -> None:
    token = api.login()
    reference = apply(api, token, "passport_with_permit").json["reference"]
    with api.app.app_context():
        reviews.approve(api.rt, _actor(api, "reviewer1"), reference)
    answer = api.verify(api.partner(("medical",), "Hospital"), api.code(token), scene="medical")
    assert answer.status_code == 200, answer.json
    assert (answer.json["accepted"], answer.json["reason"], answer.json.get("subject")) == (False, "scene_unavailable", None)


def test_the_list_is_paged_earliest_deadline_first(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reviews, "PAGE_SIZE", 2)
    references = []
    for number in ("01234567", "11234567", "21234567"):
        references.append(apply(api, api.login(), "travel_permit_tw", document_number=number).json["reference"])
        api.clock.advance(3600)
    console = _reviewer(api)
    first, second = _page(console.get("/console/applications")), _page(console.get("/console/applications?page=2"))
    assert references[0] in first and references[1] in first and references[2] not in first and "page=2" in first
    assert references[2] in second and references[0] not in second and "page=3" not in second
    assert first.index(references[0]) < first.index(references[1])
