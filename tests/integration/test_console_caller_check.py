"""Issue 15 item 3: the console's caller check ("does the caller's phone / ID number match this
ticket's citizen?") is not an oracle. It needs the ticket and a stated reason, is counted before
it is answered (per ticket, per citizen a day, per agent a day), every check is in the audit
trail, and running into a limit alerts the supervisors in the console."""
from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from app.identity.idnumber import check_digit
from app.identity.models import Citizen
from app.platform.db import db
from app.service_desk import lookup
from app.service_desk.models import AuditRecord, Complaint

from ..helpers import PERSON, ApiClient, Console, new_staff

MATCH, NO_MATCH = "与本工单市民一致", "与本工单市民不一致"


def _ticket(api: ApiClient) -> str:
    token = api.bound_citizen()
    return api.client.post("/api/mp/v1/complaints", json={"category": "code", "description": "扫码失败"},
                           headers=api.bearer(token)).json["ticket_number"]


def _staff(api: ApiClient, username: str, role: str = "agent") -> Console:
    console = Console(api.app, api.clock)
    assert console.login(username, new_staff(api.app, username, role)).status_code == 302
    return console


def _check(agent: Console, number: str, query: str, reason: str = "来电人自称本人，核对手机号") -> Any:
    page = f"/console/tickets/{number}/citizen"
    return agent.post(f"{page}/lookup", form_page=page, query=query, reason=reason)


def _answer(response: Any) -> str | None:
    """MATCH, NO_MATCH, or None when no answer was given."""
    text = response.get_data(as_text=True)
    if response.status_code != 200:
        assert MATCH not in text
        return None
    return NO_MATCH if NO_MATCH in text else MATCH if MATCH in text else None


def _lookups(api: ApiClient) -> int:
    with api.app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "lookup"))


def test_a_check_needs_a_stated_reason(api: ApiClient) -> None:
    number = _ticket(api)
    agent = _staff(api, "agent1")
    refused = _check(agent, number, PERSON["phone"], reason="")
    assert refused.status_code == 422 and _answer(refused) is None and _lookups(api) == 0
    assert _answer(_check(agent, number, PERSON["phone"])) == MATCH
    with api.app.app_context():
        record = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "lookup")).one()
        assert (record.ticket_number, record.fields, record.reason) == (number, "phone", "来电人自称本人，核对手机号")


def test_an_agent_cannot_recover_the_hidden_phone_digits(api: ApiClient) -> None:
    """The page shows 138****8000: 10,000 candidates. Try them in order, right one included."""
    number = _ticket(api)
    agent = _staff(api, "agent1")
    candidates = [f"138{n:04d}8000" for n in range(59, 12, -1)]  # the right one last
    assert PERSON["phone"] in candidates
    answers = [_answer(_check(agent, number, phone)) for phone in candidates]
    assert MATCH not in answers
    assert sum(answer is not None for answer in answers) <= lookup.CHECKS_PER_TICKET
    assert _lookups(api) <= lookup.CHECKS_PER_TICKET


def _with_birth_date(birth: date) -> str:
    first17 = PERSON["id_number"][:6] + f"{birth:%Y%m%d}" + PERSON["id_number"][14:17]
    return first17 + check_digit(first17)


def test_an_agent_cannot_recover_the_hidden_birth_date(api: ApiClient) -> None:
    """The page shows 441900********1235: only valid numbers ending in 1235 are worth trying."""
    number = _ticket(api)
    agent = _staff(api, "agent1")
    days = [date(1983, 1, 1) + timedelta(days=n) for n in range(1000)]  # in date order, as a guesser would
    candidates = [n for n in map(_with_birth_date, days) if n.endswith("1235")]
    assert len(candidates) > 40 and PERSON["id_number"] in candidates[lookup.CHECKS_PER_TICKET:]
    answers = [_answer(_check(agent, number, candidate)) for candidate in candidates]
    assert MATCH not in answers
    assert sum(answer is not None for answer in answers) <= lookup.CHECKS_PER_TICKET


_SERIAL = itertools.count()


def _more_tickets(api: ApiClient, citizen_id: int, how_many: int) -> list[str]:
    now = api.clock.now()
    numbers = [f"CS20260101-S{next(_SERIAL):05d}" for _ in range(how_many)]
    with api.app.app_context():
        for ticket_number in numbers:
            db.session.add(Complaint(ticket_number=ticket_number, citizen_id=citizen_id, category="other", description="x",
                                     status="new", created_at=now, first_response_due=now, resolution_due=now))
        db.session.commit()
    return numbers


def test_an_agent_cannot_spread_checks_over_many_tickets(api: ApiClient) -> None:
    number = _ticket(api)
    with api.app.app_context():
        citizen_id = db.session.scalar(select(Complaint.citizen_id))
    tickets = [number, *_more_tickets(api, citizen_id, 6)]
    agent = _staff(api, "agent1")
    answered = sum(_answer(_check(agent, ticket, f"1380000{n:04d}")) is not None
                   for ticket in tickets for n in range(lookup.CHECKS_PER_TICKET))
    assert answered == lookup.CHECKS_PER_CITIZEN
    other = _staff(api, "agent2")  # a colleague gets no fresh allowance on the same citizen
    assert _answer(_check(other, tickets[-1], PERSON["phone"])) is None
    api.clock.advance(24 * 3600)  # the next day the citizen's allowance is back (a used ticket's is not)
    agent.login_again()
    assert _answer(_check(agent, tickets[-1], PERSON["phone"])) is None
    assert _answer(_check(agent, _more_tickets(api, citizen_id, 1)[0], PERSON["phone"])) == MATCH


def test_an_agent_has_a_daily_allowance_across_citizens(api: ApiClient) -> None:
    _ticket(api)
    with api.app.app_context():
        citizens = list(db.session.scalars(select(Citizen.id).order_by(Citizen.id)))
    tickets = [t for citizen_id in citizens for t in _more_tickets(api, citizen_id, 1)]
    agent = _staff(api, "agent1")
    answered = 0
    for ticket in tickets:
        for _ in range(2):
            answered += _answer(_check(agent, ticket, "13900000000")) is not None
    assert answered == min(lookup.CHECKS_PER_AGENT, 2 * len(tickets))


def test_misuse_alerts_the_supervisor(api: ApiClient) -> None:
    number = _ticket(api)
    agent = _staff(api, "agent1")
    supervisor = _staff(api, "boss", "supervisor")
    assert "agent1" not in supervisor.get("/console/alerts").get_data(as_text=True)
    for n in range(lookup.CHECKS_PER_TICKET + 3):
        _check(agent, number, f"1380000{n:04d}")
    page = supervisor.get("/console/alerts")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "agent1" in text and number in text
    assert text.count('class="alert-row') == 1  # one alert per agent and limit, not one per refusal
    assert "/console/alerts" in supervisor.get("/console/").get_data(as_text=True)  # the supervisor's nav shows them
    assert agent.get("/console/alerts").status_code == 403
    acknowledged = supervisor.post(f"/console/alerts/{_alert_id(api)}/ack", form_page="/console/alerts")
    assert acknowledged.status_code == 302


def _alert_id(api: ApiClient) -> int:
    from app.service_desk.models import StaffAlert

    with api.app.app_context():
        return db.session.scalars(select(StaffAlert.id)).one()
