"""Misuse cases and the credit platform (M-27, M-10(6), docs/data-hub.md "Misuse cases"): e-card
scans at two distant terminals within minutes are flagged; an investigator opens a case from the
flag in the console, notifies the holder, records the statement, decides; only a final decision
is exported (signed, with the legal basis and the repair date); an upheld appeal withdraws it.
Both backends."""
from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from app.hub.cases import SIGNATURE_PREFIX, export_file, finalize_due, open_case, sweep_ecard_lending
from app.hub.models import MisuseCase
from app.partners.terminals import register_terminals
from app.platform.db import db
from app.platform.errors import AppError
from app.scanning.models import LendingFlag
from app.service_desk.audit import StaffActor
from app.service_desk.models import AuditRecord

from ..helpers import PERSON, ApiClient, Console, new_staff

HUMEN, QINGXI = (22.82, 113.67), (22.85, 114.15)  # about 50 km apart


def flagged(api: ApiClient) -> int:
    """A bound holder whose e-card is scanned at Humen, then 60 s later at Qingxi; the sweep's flag."""
    token = api.bound_citizen()
    metro = api.partner(("transit",), name="Metro", terminals=("t1",))
    with api.app.app_context():
        register_terminals(api.rt, metro["partner_id"], [("north", "North", "Humen", *HUMEN), ("south", "South", "Qingxi", *QINGXI)])
    assert api.verify(metro, api.code(token), terminal_id="north").json["accepted"] is True
    api.clock.advance(60)
    assert api.verify(metro, api.code(token), terminal_id="south").json["accepted"] is True
    api.clock.advance(10)
    with api.app.app_context():
        assert sweep_ecard_lending(api.rt) == 1
        assert sweep_ecard_lending(api.rt) == 0  # the window is claimed once
        flag = db.session.scalars(select(LendingFlag)).one()
        assert 40_000 < flag.distance_m < 60_000 and flag.seconds == 60
        return flag.id


def investigator(api: ApiClient, name: str = "inv1") -> Console:
    console = Console(api.app, api.clock)
    assert console.login(name, new_staff(api.app, name, "investigator")).status_code == 302
    return console


def act(console: Console, number: str, action: str, **form: str) -> Any:
    response = console.post(f"/console/cases/{number}/{action}", form_page=f"/console/cases/{number}", **form)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


def status(api: ApiClient, number: str) -> str:
    with api.app.app_context():
        return db.session.scalar(select(MisuseCase.status).where(MisuseCase.case_number == number))


def export(api: ApiClient) -> list[list[str]]:
    with api.app.app_context():
        body, count = export_file(api.rt)
    content, signature_line = body.rsplit(b"\n#", 1)
    content += b"\n"
    key = api.app.config["CARD_HUB_CREDIT_EXPORT_KEY"].encode()
    assert ("#" + signature_line.decode()).strip() == SIGNATURE_PREFIX + base64.b64encode(
        hmac.new(key, content, hashlib.sha256).digest()).decode()
    rows = list(csv.reader(io.StringIO(content.decode())))[1:]
    assert len(rows) == count
    return rows


def test_a_case_from_flag_to_export_to_appeal(api: ApiClient) -> None:
    flag_id = flagged(api)
    console = investigator(api)
    page = console.get("/console/cases").get_data(as_text=True)
    assert f'name="flag_id" value="{flag_id}"' in page
    opened = console.post("/console/cases/open", form_page="/console/cases", flag_id=str(flag_id))
    assert opened.status_code == 302
    number = opened.headers["Location"].rsplit("/", 1)[1]
    assert status(api, number) == "open"
    case_page = console.get(f"/console/cases/{number}").get_data(as_text=True)
    assert "陈**" in case_page and PERSON["name"] not in case_page  # masked
    act(console, number, "notify")
    assert number in api.rt.sms.sent[-1][1]
    assert api.rt.sms.messages[-1][1].kind == "misuse_case_notice" and api.rt.sms.messages[-1][1].params == (number,)
    act(console, number, "statement", statement="我借给了家人使用")
    assert "我借给了家人使用" in console.get(f"/console/cases/{number}").get_data(as_text=True)
    act(console, number, "decide", violation="1", reason="借给他人使用")
    assert status(api, number) == "decided"
    assert export(api) == []  # not final during the appeal period
    api.clock.advance(15 * 86400 + 1)
    with api.app.app_context():
        assert finalize_due(api.rt) == 1
    rows = export(api)
    assert len(rows) == 1
    operation, case_number, name, id_number, _violation, basis, decided_on, repair_on, _authority = rows[0]
    assert (operation, case_number, name, id_number) == ("publish", number, PERSON["name"], PERSON["id_number"])
    assert "第二十七条" in basis and repair_on > decided_on
    assert export(api) == []  # exported once
    assert console.login_again().status_code == 302  # 15 days later: a new console session
    act(console, number, "appeal", grounds="家人持卡为本人代办，非出借")
    act(console, number, "appeal_decision", upheld="1", outcome="申诉成立")
    assert status(api, number) == "overturned"
    withdrawn = export(api)
    assert [(row[0], row[1]) for row in withdrawn] == [("withdraw", number)]
    assert export(api) == []
    with api.app.app_context():  # every case page read is in the audit trail, under the case number
        assert db.session.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.ticket_number == number)) >= 3


def test_a_dismissed_case_and_an_illegal_step_export_nothing(api: ApiClient) -> None:
    flag_id = flagged(api)
    console = investigator(api)
    number = console.post("/console/cases/open", form_page="/console/cases", flag_id=str(flag_id)).headers["Location"].rsplit("/", 1)[1]
    early = console.post(f"/console/cases/{number}/decide", form_page=f"/console/cases/{number}", violation="1", reason="x")
    assert early.status_code == 409 and status(api, number) == "open"
    act(console, number, "notify")
    act(console, number, "decide", violation="0", reason="本人乘车，定位误差")
    assert status(api, number) == "dismissed"
    api.clock.advance(30 * 86400)
    with api.app.app_context():
        assert finalize_due(api.rt) == 0
    assert export(api) == []


def test_only_investigators_see_cases(api: ApiClient) -> None:
    agent = Console(api.app, api.clock)
    agent.login("agent1", new_staff(api.app, "agent1", "agent"))
    assert agent.get("/console/cases").status_code == 403
    assert agent.get("/console/figures").status_code == 200


def test_thirty_two_investigators_opening_one_flag_make_one_case(api: ApiClient) -> None:
    flag_id = flagged(api)
    actors = [StaffActor(n, f"inv{n}", "investigator", None) for n in range(32)]
    for n in range(32):
        new_staff(api.app, f"inv{n}", "investigator")

    def open_one(actor: StaffActor) -> str:
        with api.app.app_context():
            from app.service_desk.models import Staff

            staff_id = db.session.scalar(select(Staff.id).where(Staff.username == actor.username))
            try:
                return open_case(api.rt, StaffActor(staff_id, actor.username, "investigator", None), flag_id).case_number
            except AppError as exc:
                return exc.code

    with ThreadPoolExecutor(32) as pool:
        outcomes = list(pool.map(open_one, actors))
    assert sum(outcome.startswith("MC") for outcome in outcomes) == 1
    assert set(outcome for outcome in outcomes if not outcome.startswith("MC")) <= {"flag_taken"}
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MisuseCase)) == 1



def test_thirty_two_concurrent_exports_carry_a_final_decision_once(api: ApiClient) -> None:
    flag_id = flagged(api)
    console = investigator(api)
    number = console.post("/console/cases/open", form_page="/console/cases", flag_id=str(flag_id)).headers["Location"].rsplit("/", 1)[1]
    act(console, number, "notify")
    act(console, number, "decide", violation="1", reason="借给他人使用")
    api.clock.advance(15 * 86400 + 1)

    def finalize_and_export(_: int) -> int:
        with api.app.app_context():
            finalize_due(api.rt)
            return export_file(api.rt)[1]

    with ThreadPoolExecutor(32) as pool:
        rows = list(pool.map(finalize_and_export, range(32)))
    assert sum(rows) == 1 and status(api, number) == "final"
