"""Issue 17 item 1 through gunicorn (3 worker processes) on PostgreSQL + Redis: a resident off the
roster applies for the e-card, a reviewer asks for more, the applicant answers, the reviewer
approves, and the e-card's code verifies at a transit gate; a second application is refused with
a reason. 32 simultaneous applications with one document make one application."""
from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from scenes.signing import authorization_header
from standins.wechat import WeChatStandIn

from .desk import console_session, csrf_of, desk_server
from .test_gunicorn import VERIFY_PATH, Server

pytestmark = pytest.mark.e2e
__all__ = ["desk_server"]

PATH = "/api/mp/v1/applications"
APPLICANT = {"name": "Maria Garcia", "phone": "13900139001", "employer": "东莞松山湖某科技公司",
             "document_type": "foreign_permanent_id", "document_number": "944840198001011233"}


def _bearer(server: Server, wechat: WeChatStandIn) -> dict[str, str]:
    login = requests.post(server.base + "/api/mp/v1/auth/wechat", json={"code": wechat.issue_code()}, timeout=30)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


def _status(server: Server, bearer: dict[str, str], reference: str) -> dict[str, Any]:
    shown = requests.get(f"{server.base}{PATH}/{reference}", headers=bearer, timeout=30)
    assert shown.status_code == 200, shown.text
    return shown.json()  # type: ignore[no-any-return]


def _decide(server: Server, http: requests.Session, reference: str, action: str, **form: str) -> requests.Response:
    page = f"{server.base}/console/applications/{reference}"
    return http.post(f"{page}/{action}", data={"csrf_token": csrf_of(http, page), **form}, timeout=30, allow_redirects=False)


def _transit_partner(server: Server) -> dict[str, str]:
    partner = json.loads(server.cli("partner", "create", "--name", "Metro", "--scenes", "transit", "--json").stdout)
    gates = server.log_path.parent / "gates.csv"
    gates.write_text("terminal_id,name,location\ngate-1,Gate 1,Hall A\n", encoding="utf-8")
    assert server.cli("partner", "terminal", "import", partner["partner_id"], str(gates)).returncode == 0
    return partner  # type: ignore[no-any-return]


def _verify(server: Server, partner: dict[str, str], code: str) -> requests.Response:
    body = json.dumps({"code": code, "scene": "transit", "terminal_id": "gate-1"}).encode()
    header = authorization_header(partner["partner_id"], partner["secret"], "POST", VERIFY_PATH, body, int(time.time()),
                                  secrets.token_hex(16))
    return requests.post(server.base + VERIFY_PATH, data=body, timeout=30,
                         headers={"Authorization": header, "Content-Type": "application/json"})


@pytest.mark.parametrize("desk_server", ["production"], indirect=True)
def test_apply_ask_answer_approve_and_the_code_verifies(desk_server: Server, wechat: WeChatStandIn) -> None:
    server = desk_server
    bearer = _bearer(server, wechat)
    created = requests.post(server.base + PATH, json=APPLICANT, headers=bearer, timeout=30)
    assert created.status_code == 201, created.text
    reference = created.json()["reference"]
    assert APPLICANT["document_number"] not in created.text
    reviewer = console_session(server, "reviewer1", "reviewer")
    assert reference in reviewer.get(server.base + "/console/applications", timeout=30).text

    assert _decide(server, reviewer, reference, "ask", question="请上传在职证明").status_code == 302
    assert _status(server, bearer, reference)["question"] == "请上传在职证明"
    answered = requests.post(f"{server.base}{PATH}/{reference}/answers", json={"answer": "在职证明编号 2026-118"},
                             headers=bearer, timeout=30)
    assert answered.status_code == 200 and answered.json()["status"] == "pending"
    assert _decide(server, reviewer, reference, "approve").status_code == 302

    done = _status(server, bearer, reference)
    assert done["status"] == "approved" and done["assurance"] == "knowledge" and done["card_number"]
    assert {line["action"] for line in done["access_log"]} == {"view", "ask", "approve"}
    code = requests.get(server.base + "/api/mp/v1/card/code", headers=bearer, timeout=30)
    assert code.status_code == 200, code.text
    verified = _verify(server, _transit_partner(server), code.json()["code"])
    assert verified.status_code == 200 and verified.json()["accepted"] is True, verified.text
    assert verified.json()["subject"]["concession"] == "standard"  # born 1980 (the 2023 ID says so): 46, below 60
    log = server.log_path.read_text(encoding="utf-8")
    for private in (APPLICANT["document_number"], APPLICANT["phone"], "Maria"):
        assert private not in log


@pytest.mark.parametrize("desk_server", ["production"], indirect=True)
def test_a_refusal_and_32_simultaneous_applications(desk_server: Server, wechat: WeChatStandIn) -> None:
    server = desk_server
    bearers = [_bearer(server, wechat) for _ in range(32)]
    document = {**APPLICANT, "document_type": "travel_permit_hkmo", "document_number": "H87654321"}
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda bearer: requests.post(server.base + PATH, json=document, headers=bearer, timeout=60),
                                bearers))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * 31, statuses
    winner = next(answer for answer in answers if answer.status_code == 201)
    bearer = bearers[answers.index(winner)]
    reference = winner.json()["reference"]
    reviewer = console_session(server, "reviewer2", "reviewer")
    assert _decide(server, reviewer, reference, "refuse", reason="证件号码与证件照片不符").status_code == 302
    refused = _status(server, bearer, reference)
    assert (refused["status"], refused["refusal_reason"], refused["card_number"]) == ("refused", "证件号码与证件照片不符", None)
    assert requests.get(server.base + "/api/mp/v1/card/code", headers=bearer, timeout=30).status_code == 403


@pytest.mark.parametrize("desk_server", ["production"], indirect=True)
def test_each_document_type_valid_and_invalid_through_gunicorn(desk_server: Server, wechat: WeChatStandIn) -> None:
    """Issue 17's done-when, per document type through the real HTTP stack: every type's valid
    number makes an application (shown masked), every refusal of tests/integration/test_applications.py
    is 422 ``document_invalid`` naming the field and the reason, never echoing the number."""
    from ..integration.test_applications import APPLICANT as BASE_APPLICANT
    from ..integration.test_applications import FPR_2023, REFUSALS, VALID

    cases = [(kind, fields) for kind, fields in VALID.items()] + [("foreign_permanent_id", {"document_number": FPR_2023}),
                                                                 ("travel_permit_hkmo", {"document_number": "M1234567801"})]
    for kind, fields in cases:
        made = requests.post(desk_server.base + PATH, json={**BASE_APPLICANT, "document_type": kind, **fields},
                             headers=_bearer(desk_server, wechat), timeout=30)
        assert made.status_code == 201, (kind, made.text)
        assert fields["document_number"] not in made.text and made.json()["document_masked"].endswith(fields["document_number"][-4:])
    for kind, fields, field, reason in REFUSALS:
        body = {**BASE_APPLICANT, "document_type": kind, **VALID.get(kind, {}), **fields}
        refused = requests.post(desk_server.base + PATH, json=body, headers=_bearer(desk_server, wechat), timeout=30)
        assert refused.status_code == 422, (kind, refused.text)
        assert refused.json()["error"]["details"] == {"document_type": kind, "field": field, "reason": reason}
        assert not fields.get("document_number") or fields["document_number"] not in refused.text
