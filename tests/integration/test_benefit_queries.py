"""What a citizen sees (M-4, M-21, M-23.7): benefit pages while postings arrive, filters,
yearly totals, the card's accounts. Both backends."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from app.platform.clock import DISPLAY_ZONE

from ..benefits_support import MEDICAL, Benefits, line
from ..helpers import ApiClient

DAY = 86400


@pytest.fixture
def benefits(api: ApiClient) -> Benefits:
    return Benefits(api)


@pytest.fixture
def paid(benefits: Benefits) -> dict[str, Any]:
    holder, other = benefits.holders(2)
    bank, department = benefits.bank("Dongguan Rural Bank"), benefits.department()
    benefits.open_account(bank, holder, "6222020012345678")
    benefits.open_account(bank, other)
    return {"holder": holder, "other": other, "bank": bank, "department": department}


def walk(benefits: Benefits, holder: Any, query: str, between: Any = None) -> list[int]:
    """Every disbursement id of the walk, page by page, calling ``between()`` after each page."""
    seen, cursor = [], None
    while True:
        answer = benefits.benefits(holder, query + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status_code == 200, answer.json
        seen.extend(item["disbursement_id"] for item in answer.json["items"])
        cursor = answer.json["next_cursor"]
        if cursor is None:
            return seen
        if between:
            between()


def test_pages_skip_and_repeat_nothing_while_new_postings_arrive(benefits: Benefits, paid: dict[str, Any]) -> None:
    holder, department = paid["holder"], paid["department"]
    for batch in range(5):  # five postings moments apart, five lines each (same posted_at within a batch)
        benefits.submit(department, f"B{batch}", [line(f"B{batch}-L{n}", holder, amount=100 * batch + n + 1) for n in range(5)])
        benefits.api.clock.advance(60)
    before = walk(benefits, holder, "?limit=100")
    assert len(before) == 25 and before == sorted(before, reverse=True)  # newest first (ids grow with time here)
    arrivals = iter(range(100))

    def post_more() -> None:
        n = next(arrivals)
        benefits.submit(department, f"late-{n}", [line(f"late-{n}-{k}", holder, amount=7) for k in range(3)])

    during = walk(benefits, holder, "?limit=4", between=post_more)
    assert during == before  # no line skipped, none repeated; the late ones are newer than the walk
    after = walk(benefits, holder, "?limit=100")
    assert len(after) == 25 + 3 * (len(before) // 4 + (len(before) % 4 > 0) - 1) and after[-25:] == before


def test_filters_by_posting_date_and_type(benefits: Benefits, paid: dict[str, Any]) -> None:
    holder, department, clock = paid["holder"], paid["department"], benefits.api.clock
    first_day = datetime.fromtimestamp(clock.time(), DISPLAY_ZONE).date()
    benefits.submit(department, "B1", [line("L1", holder, benefit_type="pension"), line("L2", holder, benefit_type="talent_subsidy")])
    clock.advance(3 * DAY)
    benefits.submit(department, "B2", [line("L3", holder, benefit_type="pension")])
    later = first_day + timedelta(days=3)
    holder.token = benefits.api.login(holder.openid)  # the first token expired meanwhile

    def amounts(query: str) -> list[str]:
        answer = benefits.benefits(holder, query)
        assert answer.status_code == 200, answer.json
        return [item["benefit_type"] for item in answer.json["items"]]

    assert amounts(f"?from={first_day}&to={first_day}") == ["talent_subsidy", "pension"]
    assert amounts(f"?from={later}") == ["pension"]
    assert amounts(f"?to={first_day + timedelta(days=2)}&type=talent_subsidy") == ["talent_subsidy"]
    assert amounts("?type=pension") == ["pension", "pension"]
    assert amounts("?type=social_relief") == []


@pytest.mark.parametrize(("query", "code"), [
    ("?from=2026-05-02&to=2026-05-01", "date_range_invalid"),
    ("?type=lottery", "benefit_type_unknown"),
    ("?cursor=bm9wZQ", "cursor_invalid"),
    ("?from=yesterday", "validation_error"),
    ("?limit=0", "validation_error"),
])
def test_bad_queries_are_clear_422s(benefits: Benefits, paid: dict[str, Any], query: str, code: str) -> None:
    answer = benefits.benefits(paid["holder"], query)
    assert answer.status_code == 422 and answer.json["error"]["code"] == code


def test_a_citizen_sees_only_their_own_lines_and_the_bank_outcome(benefits: Benefits, paid: dict[str, Any]) -> None:
    holder, other, bank = paid["holder"], paid["other"], paid["bank"]
    benefits.submit(paid["department"], "B1", [line("L1", holder, amount=150000), line("L2", other, amount=99)])
    [pending] = [item for item in benefits.pending(bank) if item["amount_fen"] == 150000]
    benefits.confirm(bank, (pending["disbursement_id"], "returned", "account frozen"))
    [item] = benefits.benefits(holder).json["items"]
    assert item["amount_fen"] == 150000 and item["status"] == "returned" and item["return_reason"] == "account frozen"
    assert item["department"] == "HRSS" and item["settled_at"] is not None
    assert [entry["amount_fen"] for entry in benefits.benefits(other).json["items"]] == [99]


def test_summary_totals_per_type_per_year(benefits: Benefits, paid: dict[str, Any]) -> None:
    holder, bank = paid["holder"], paid["bank"]
    benefits.submit(paid["department"], "B1", [
        line("L1", holder, amount=1000, period="2025-11"), line("L2", holder, amount=2000, period="2025-12"),
        line("L3", holder, amount=4000, period="2026-01"), line("L4", holder, amount=300, benefit_type="talent_subsidy", period="2026-01"),
    ])
    ids = {item["amount_fen"]: item["disbursement_id"] for item in benefits.pending(bank)}
    benefits.confirm(bank, (ids[1000], "credited"), (ids[2000], "returned", "closed"), (ids[4000], "credited"))
    answer = benefits.api.client.get("/api/mp/v1/benefits/summary", headers=benefits.api.bearer(holder.token))
    assert answer.status_code == 200
    assert answer.json["totals"] == [
        {"year": 2026, "benefit_type": "pension", "lines": 1, "credited_fen": 4000, "pending_fen": 0, "returned_fen": 0},
        {"year": 2026, "benefit_type": "talent_subsidy", "lines": 1, "credited_fen": 0, "pending_fen": 300, "returned_fen": 0},
        {"year": 2025, "benefit_type": "pension", "lines": 2, "credited_fen": 1000, "pending_fen": 0, "returned_fen": 2000},
    ]


def test_accounts_show_the_masked_financial_account_and_the_latest_medical_report(benefits: Benefits, paid: dict[str, Any]) -> None:
    holder = paid["holder"]
    bureau = benefits.api.partner((), name="Medical Insurance Bureau", roles=("medical_insurance",))

    def accounts() -> dict[str, Any]:
        answer = benefits.api.client.get("/api/mp/v1/accounts", headers=benefits.api.bearer(holder.token))
        assert answer.status_code == 200, answer.json
        return answer.json

    assert accounts()["medical_insurance"] is None
    financial = accounts()["financial_account"]
    assert financial["bank_name"] == "Dongguan Rural Bank" and financial["account_number_masked"] == "**** 5678"
    assert "6222020012345678" not in str(accounts())

    def report(balance: int, as_of: str) -> Any:
        body = {"id_number": holder.id_number, "balance_fen": balance, "as_of": as_of,
                "statement": [{"date": "2026-10-30", "description": "门诊统筹", "amount_fen": -2350}]}
        return benefits.call(bureau, MEDICAL, body, method="PUT")

    assert report(123456, "2026-11-01T08:00:00+08:00").json == {"applied": True}
    assert report(999, "2026-10-01T08:00:00+08:00").json == {"applied": False}  # older: does not roll back
    medical = accounts()["medical_insurance"]
    assert medical["balance_fen"] == 123456 and medical["as_of"] == "2026-11-01T08:00:00+08:00"  # the city's offset (issue 20 item 4)
    assert medical["statement"] == [{"date": "2026-10-30", "description": "门诊统筹", "amount_fen": -2350}]
    assert report(100, "2026-11-02T08:00:00+08:00").json == {"applied": True}
    assert accounts()["medical_insurance"]["balance_fen"] == 100


def test_a_medical_report_dated_in_the_future_is_refused_and_freezes_nothing(benefits: Benefits, paid: dict[str, Any]) -> None:
    holder = paid["holder"]
    bureau = benefits.api.partner((), name="Medical Insurance Bureau", roles=("medical_insurance",))
    now = datetime.fromtimestamp(benefits.api.clock.time(), DISPLAY_ZONE)

    def report(balance: int, as_of: datetime | str) -> Any:
        at = as_of if isinstance(as_of, str) else as_of.isoformat()
        return benefits.call(bureau, MEDICAL, {"card_number": holder.card_number, "balance_fen": balance, "as_of": at}, method="PUT")

    for as_of in ("2099-01-01T00:00:00+08:00", now + timedelta(minutes=5, seconds=1)):
        refused = report(1, as_of)
        assert refused.status_code == 422 and refused.json["error"]["code"] == "as_of_in_future", refused.json
    assert report(200, now - timedelta(hours=1)).json == {"applied": True}  # the refused reports froze nothing
    assert report(300, now + timedelta(minutes=4)).json == {"applied": True}  # a bureau clock a little ahead is fine
    accounts = benefits.api.client.get("/api/mp/v1/accounts", headers=benefits.api.bearer(holder.token)).json
    assert accounts["medical_insurance"]["balance_fen"] == 300


def test_queries_need_a_bound_card(benefits: Benefits) -> None:
    token = benefits.api.login()
    for path in ("/api/mp/v1/benefits", "/api/mp/v1/benefits/summary", "/api/mp/v1/accounts"):
        answer = benefits.api.client.get(path, headers=benefits.api.bearer(token))
        assert answer.status_code == 403 and answer.json["error"]["code"] == "not_bound"
