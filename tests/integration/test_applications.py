"""E-card applications of residents off the roster (issue 17 item 1, M-5): the applicant's API.

Each document type through POST /applications (valid, invalid, edge formats, the error code and
the failing rule per type), personal data encrypted and the document masked, one open
application per account and per document (32 at once: one wins), the daily limit counted first."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.identity.idnumber import check_digit
from app.platform.db import db
from app.service_desk.models import CardApplication

from ..helpers import ApiClient
from .test_login import error_code

PATH = "/api/mp/v1/applications"
APPLICANT = {"name": "John Smith", "phone": "13900139000", "address": "广东省东莞市南城区宏图路 8 号"}


def _gb(body17: str) -> str:
    """A GB 11643 number with its check character."""
    return body17 + check_digit(body17)


FPR_2023 = _gb("94484019800101123")
VALID = {
    "residence_permit": {"document_number": _gb("11010119900307123")},  # a Beijing resident working here
    "hmt_residence_permit": {"document_number": "810000199001010027"},
    "travel_permit_hkmo": {"document_number": "H12345678"},
    "travel_permit_tw": {"document_number": "01234567"},
    "foreign_permanent_id": {"document_number": "USA110080010111"},
    "passport_with_permit": {"document_number": "E1234567", "nationality": "GBR", "permit_type": "work",
                             "permit_number": "WP20240001"},
}


def apply(api: ApiClient, token: str, document_type: str, **fields: Any) -> Any:
    body = {**APPLICANT, "document_type": document_type, **VALID.get(document_type, {}), **fields}
    return api.client.post(PATH, json=body, headers=api.bearer(token))


@pytest.mark.parametrize("document_type", list(VALID))
def test_each_document_type_applies_and_is_shown_masked(api: ApiClient, document_type: str) -> None:
    token = api.login()
    created = apply(api, token, document_type)
    assert created.status_code == 201, created.json
    body = created.json
    assert body["status"] == "pending" and body["document_type"] == document_type and body["card_number"] is None
    number = VALID[document_type]["document_number"]
    assert number not in body["document_masked"] and number[-4:] in body["document_masked"]
    assert body["due_at"] > body["submitted_at"]
    shown = api.client.get(f"{PATH}/{body['reference']}", headers=api.bearer(token))
    assert shown.status_code == 200 and shown.json["status"] == "pending" and shown.json["access_log"] == []


def test_the_2023_foreign_permanent_id_and_an_older_hkmo_permit(api: ApiClient) -> None:
    assert apply(api, api.login(), "foreign_permanent_id", document_number=FPR_2023).status_code == 201
    assert apply(api, api.login(), "travel_permit_hkmo", document_number="M1234567801").status_code == 201


REFUSALS = [  # (document_type, fields, the field refused, the reason): each type by its own rules
    ("residence_permit", {"document_number": "110101199003071230"}, "document_number", "bad_check_digit"),
    ("residence_permit", {"document_number": "810000199001010027"}, "document_number", "wrong_document_type"),
    ("hmt_residence_permit", {"document_number": "441900198506151235"}, "document_number", "bad_region"),
    ("travel_permit_hkmo", {"document_number": "K12345678"}, "document_number", "bad_format"),
    ("travel_permit_tw", {"document_number": "T1234567"}, "document_number", "bad_format"),
    ("foreign_permanent_id", {"document_number": "USA110080010112"}, "document_number", "bad_check_digit"),
    ("foreign_permanent_id", {"document_number": "8" + FPR_2023[1:]}, "document_number", "bad_format"),
    ("passport_with_permit", {"permit_type": None, "permit_number": None}, "permit_type", "permit_required"),
    ("passport_with_permit", {"nationality": "CHN"}, "nationality", "bad_nationality"),
    ("driving_licence", {"document_number": "123456"}, "document_type", "unknown_type"),
]


@pytest.mark.parametrize(("document_type", "fields", "field", "reason"), REFUSALS)
def test_each_type_refuses_by_its_own_rules(api: ApiClient, document_type: str, fields: dict[str, Any], field: str,
                                            reason: str) -> None:
    refused = apply(api, api.login(), document_type, **fields)
    assert (refused.status_code, error_code(refused)) == (422, "document_invalid")
    assert refused.json["error"]["details"] == {"document_type": document_type, "field": field, "reason": reason}
    assert fields.get("document_number") is None or fields["document_number"] not in refused.get_data(as_text=True)


def test_an_address_or_employer_in_dongguan_is_required(api: ApiClient) -> None:
    token = api.login()
    refused = apply(api, token, "travel_permit_tw", address="广州市天河区")
    assert (refused.status_code, error_code(refused)) == (422, "dongguan_address_required")
    assert apply(api, token, "travel_permit_tw", address=None, employer="Dongguan Widgets Ltd, Songshan Lake").status_code == 201


def test_a_bad_phone_is_a_validation_error(api: ApiClient) -> None:
    refused = apply(api, api.login(), "travel_permit_tw", phone="12345")
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")


def test_one_open_application_per_account_and_per_document(api: ApiClient) -> None:
    token = api.login()
    assert apply(api, token, "travel_permit_tw").status_code == 201
    again = apply(api, token, "travel_permit_hkmo")
    assert (again.status_code, error_code(again)) == (409, "application_open")
    same_document = apply(api, api.login(), "travel_permit_tw", document_number=" 0123 4567 ")
    assert (same_document.status_code, error_code(same_document)) == (409, "application_open")


def test_a_bound_account_binds_instead(api: ApiClient) -> None:
    refused = apply(api, api.bound_citizen(), "travel_permit_tw")
    assert (refused.status_code, error_code(refused)) == (409, "account_already_bound")


def test_another_accounts_application_is_not_found(api: ApiClient) -> None:
    reference = apply(api, api.login(), "travel_permit_tw").json["reference"]
    other = api.client.get(f"{PATH}/{reference}", headers=api.bearer(api.login()))
    assert (other.status_code, error_code(other)) == (404, "application_not_found")
    answered = api.client.post(f"{PATH}/{reference}/answers", json={"answer": "x"}, headers=api.bearer(api.login()))
    assert (answered.status_code, error_code(answered)) == (404, "application_not_found")


def test_answering_without_a_question_is_409(api: ApiClient) -> None:
    token = api.login()
    reference = apply(api, token, "travel_permit_tw").json["reference"]
    answered = api.client.post(f"{PATH}/{reference}/answers", json={"answer": "here"}, headers=api.bearer(token))
    assert (answered.status_code, error_code(answered)) == (409, "not_awaiting_answer")


def test_personal_data_is_encrypted_at_rest(api: ApiClient) -> None:
    token = api.login()
    assert apply(api, token, "passport_with_permit").status_code == 201
    with api.app.app_context():
        row = db.session.execute(text("SELECT * FROM card_applications")).mappings().one()
    stored = " ".join(str(value) for value in row.values())
    for secret in ("E1234567", "WP20240001", "John", "13900139000", "宏图路"):
        assert secret not in stored


@pytest.mark.parametrize("app", ["production"], indirect=True)
def test_32_accounts_applying_with_one_document_at_once_make_one_application(api: ApiClient) -> None:
    tokens = [api.login() for _ in range(32)]
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda token: apply(api, token, "foreign_permanent_id"), tokens))
    assert sorted(answer.status_code for answer in answers) == [201] + [409] * 31
    assert {error_code(answer) for answer in answers if answer.status_code == 409} == {"application_open"}
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CardApplication)) == 1


@pytest.mark.parametrize("app", ["production"], indirect=True)
def test_32_applications_from_one_account_are_counted_before_they_are_decided(api: ApiClient) -> None:
    token = api.login()
    numbers = [f"{n:08d}" for n in range(32)]
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda number: apply(api, token, "travel_permit_tw", document_number=number), numbers))
    codes = sorted((answer.status_code, error_code(answer) if answer.status_code != 201 else "") for answer in answers)
    assert codes == [(201, "")] + [(409, "application_open")] * 2 + [(429, "too_many_attempts")] * 29
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CardApplication)) == 1
