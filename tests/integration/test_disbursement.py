"""Disbursement batches (M-20, M-22): validation with reasons, exactly-once payment under
resubmission and races, bank confirmation, reconciliation. Both backends."""
from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from ..benefits_support import ACCOUNTS, BATCHES, MEDICAL, Benefits, Holder, id_number, line
from ..helpers import ApiClient, roster_text


@pytest.fixture
def benefits(api: ApiClient) -> Benefits:
    return Benefits(api)


@pytest.fixture
def scene(benefits: Benefits) -> dict[str, Any]:
    """Three card holders (the first two with a financial account), a department and a bank."""
    holders = benefits.holders(3)
    bank, department = benefits.bank(), benefits.department()
    for holder in holders[:2]:
        assert benefits.open_account(bank, holder).status_code == 200
    return {"holders": holders, "bank": bank, "department": department}


def test_valid_lines_are_accepted_and_each_bad_line_is_reported_with_its_reason(benefits: Benefits, scene: dict[str, Any]) -> None:
    paid, unpaid, no_account = scene["holders"]
    unknown_card = Holder("", "", id_number(900), "8000000000000009")
    benefits.api.import_roster(roster_text([("未领卡", id_number(700), "13900000700", "1")]))  # on the roster, no card yet
    lines = [
        line("L1", paid),
        line("L2", paid, by_card=False),  # by ID number, through the blind index
        line("L3", unknown_card),
        line("L4", no_account),
        line("L5", paid, amount=0),
        line("L6", paid, amount=-5),
        line("L7", paid, benefit_type="lottery"),
        line("L8", paid, period="2026-13"),
        line("L1", unpaid),
        line("L9"),
        line("L10", paid, id_number=paid.id_number),
        line("L11", None, id_number=id_number(5)[:-1] + ("1" if id_number(5)[-1] == "0" else "0")),  # wrong check digit
        line("L12", None, id_number=id_number(901)),  # valid but not on the roster
        line("bad ref!", paid),
        line("L13", None, card_number="12ab"),
        line("L14", paid, amount=10_000_000_01),
        line("L15", unpaid, amount=123),
        line("L16", None, id_number=id_number(700)),
    ]
    answer = benefits.submit(scene["department"], "B-2026-10", lines)
    assert answer.status_code == 200, answer.json
    assert answer.json["accepted"] == 3 and answer.json["duplicates"] == 0
    reasons = {item["position"]: item["reason"] for item in answer.json["rejected"]}
    assert reasons == {
        3: "recipient_unknown", 4: "no_financial_account", 5: "amount_not_positive", 6: "amount_not_positive",
        7: "benefit_type_unknown", 8: "period_invalid", 9: "duplicate_in_batch", 10: "recipient_missing",
        11: "recipient_ambiguous", 12: "id_number_invalid", 13: "recipient_unknown", 14: "line_reference_invalid",
        15: "card_number_invalid", 16: "amount_too_large", 18: "no_card",
    }
    references = {item["position"]: item["line_reference"] for item in answer.json["rejected"]}
    assert (references[3], references[14]) == ("L3", None)  # a malformed reference is never repeated back


def test_a_non_integer_amount_is_refused_as_a_validation_error(benefits: Benefits, scene: dict[str, Any]) -> None:
    answer = benefits.submit(scene["department"], "B1", [line("L1", scene["holders"][0], amount=12.5)])
    assert answer.status_code == 422 and answer.json["error"]["code"] == "validation_error"
    assert "amount_fen" in str(answer.json["error"]["details"])


def test_resubmitting_a_batch_or_a_line_never_pays_twice(benefits: Benefits, scene: dict[str, Any]) -> None:
    first, second = scene["holders"][:2]
    lines = [line("L1", first), line("L2", second)]
    assert benefits.submit(scene["department"], "B1", lines).json["accepted"] == 2
    again = benefits.submit(scene["department"], "B1", lines)
    assert again.json["accepted"] == 0 and again.json["duplicates"] == 2
    elsewhere = benefits.submit(scene["department"], "B2", [line("L2", second), line("L3", second)])
    assert elsewhere.json["accepted"] == 1 and elsewhere.json["duplicates"] == 1
    assert len(benefits.pending(scene["bank"])) == 3
    # Line references belong to their department: another department's L1 is its own line.
    other = benefits.department("Civil Affairs")
    assert benefits.submit(other, "B1", [line("L1", first)]).json["accepted"] == 1


def test_racing_overlapping_batches_pay_each_line_exactly_once(benefits: Benefits, scene: dict[str, Any]) -> None:
    first, second = scene["holders"][:2]
    lines = [line(f"L{n:03d}", first if n % 2 else second, amount=100 + n) for n in range(200)]
    shuffled = random.Random(5)
    submissions = [("B-a", lines), ("B-b", lines[50:] + lines[:50]), ("B-a", lines[::-1]), ("B-c", lines[100:]),
                   ("B-d", shuffled.sample(lines, len(lines))), ("B-e", shuffled.sample(lines, 150))]
    answers: list[Any] = [None] * len(submissions)
    start = threading.Barrier(len(submissions))

    def submit(index: int) -> None:
        client = ApiClient(benefits.api.app, benefits.api.wechat, benefits.api.clock)
        start.wait()
        answers[index] = Benefits(client).submit(scene["department"], *submissions[index])

    threads = [threading.Thread(target=submit, args=(index,)) for index in range(len(submissions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answer.status_code == 200 for answer in answers), [answer.json for answer in answers]
    assert sum(answer.json["accepted"] for answer in answers) == 200
    assert sum(answer.json["accepted"] + answer.json["duplicates"] for answer in answers) == sum(len(s[1]) for s in submissions)
    pending = benefits.pending(scene["bank"], limit=500)
    assert sorted(item["amount_fen"] for item in pending) == [100 + n for n in range(200)]


def test_large_racing_imports_overlap_in_the_database_and_pay_each_line_once(benefits: Benefits, scene: dict[str, Any]) -> None:
    """Big enough that the transactions really overlap: shuffled orders would deadlock unless
    rows are written in one order."""
    from app.money.disbursement import submit_batch
    from app.partners.partners import partner_view

    first, second = scene["holders"][:2]
    api = benefits.api
    with api.app.app_context():
        department_id = partner_view(api.rt, scene["department"]["partner_id"]).id  # type: ignore[union-attr]
    lines = [{**line(f"R{n:05d}", first if n % 2 else second, amount=1 + n % 500)} for n in range(4000)]
    orders = [random.Random(seed).sample(lines, len(lines)) for seed in range(4)]
    reports: list[Any] = [None] * len(orders)
    start = threading.Barrier(len(orders))

    def run(index: int) -> None:
        with api.app.app_context():
            start.wait()
            reports[index] = submit_batch(api.rt, department_id, f"BIG-{index % 2}", enumerate(orders[index], start=1))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(orders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(report is not None for report in reports)
    assert sum(report.accepted for report in reports) == 4000
    assert all(report.accepted + report.duplicates == 4000 and not report.rejected for report in reports)
    totals = benefits.call(scene["department"], "/api/partner/v1/disbursement-reconciliation", method="GET").json
    assert totals["total"]["count"] == 4000 and totals["balanced"]


def test_the_holding_bank_confirms_each_line_once_and_batches_reconcile(benefits: Benefits, scene: dict[str, Any]) -> None:
    first, second = scene["holders"][:2]
    department, bank = scene["department"], scene["bank"]
    benefits.submit(department, "B1", [line("L1", first, amount=1000), line("L2", second, amount=2000), line("L3", first, amount=4000)])
    ids = {item["amount_fen"]: item["disbursement_id"] for item in benefits.pending(bank)}
    other_bank = benefits.bank("Other Bank")
    refused = benefits.confirm(other_bank, (ids[1000], "credited"))
    assert refused.json["results"] == [{"disbursement_id": ids[1000], "result": "unknown", "status": None}]

    answer = benefits.confirm(bank, (ids[1000], "credited"), (ids[2000], "returned", "account closed"))
    assert [item["result"] for item in answer.json["results"]] == ["applied", "applied"]
    repeat = benefits.confirm(bank, (ids[1000], "credited"), (ids[2000], "credited"), (999999, "credited"))
    assert [(item["result"], item["status"]) for item in repeat.json["results"]] == [
        ("unchanged", "credited"), ("conflict", "returned"), ("unknown", None)]
    assert [item["amount_fen"] for item in benefits.pending(bank)] == [4000]

    totals = benefits.reconciliation(department, "B1").json
    assert totals["total"] == {"count": 3, "amount_fen": 7000}
    assert (totals["credited"], totals["returned"], totals["pending"]) == (
        {"count": 1, "amount_fen": 1000}, {"count": 1, "amount_fen": 2000}, {"count": 1, "amount_fen": 4000})
    assert totals["balanced"] is True
    benefits.submit(department, "B2", [line("L4", second, amount=8000)])
    department_totals = benefits.call(department, "/api/partner/v1/disbursement-reconciliation", method="GET").json
    assert department_totals["total"] == {"count": 4, "amount_fen": 15000} and department_totals["pending"]["count"] == 2
    assert benefits.reconciliation(department, "B9").status_code == 404


def test_a_returned_line_needs_a_reason(benefits: Benefits, scene: dict[str, Any]) -> None:
    answer = benefits.confirm(scene["bank"], (1, "returned"))
    assert answer.status_code == 422 and "reason" in str(answer.json["error"]["details"])


def test_each_operation_needs_its_role(benefits: Benefits, scene: dict[str, Any]) -> None:
    department, bank, holder = scene["department"], scene["bank"], scene["holders"][0]
    assert benefits.submit(bank, "B1", [line("L1", holder)]).json["error"]["code"] == "role_required"
    assert benefits.confirm(department, (1, "credited")).status_code == 403
    assert benefits.open_account(department, holder).status_code == 403
    report = {"card_number": holder.card_number, "balance_fen": 100, "as_of": "2026-11-01T00:00:00+08:00"}
    assert benefits.call(bank, MEDICAL, report, method="PUT").status_code == 403


def test_financial_accounts_are_idempotent_and_held_by_one_bank(benefits: Benefits, scene: dict[str, Any]) -> None:
    holder = scene["holders"][2]
    bank = scene["bank"]
    created = benefits.open_account(bank, holder, "6222020012345678")
    assert created.status_code == 200 and created.json == {
        "card_number": holder.card_number, "account_number_masked": "**** 5678", "created": True}
    assert benefits.open_account(bank, holder, "6222020012345678").json["created"] is False
    taken = benefits.open_account(benefits.bank("Rival Bank"), holder, "6228480000000001", consent=False)
    assert taken.status_code == 409 and taken.json["error"]["code"] == "account_held_by_another_bank"
    by_id = benefits.call(bank, ACCOUNTS, {"id_number": holder.id_number, "account_number": "6222020099999999"}, method="PUT")
    assert by_id.status_code == 200 and by_id.json["account_number_masked"] == "**** 9999"
    unknown = benefits.call(bank, ACCOUNTS, {"id_number": id_number(950), "account_number": "6222020099999999"}, method="PUT")
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "recipient_unknown"
    assert benefits.pending(bank) == []
    assert benefits.submit(scene["department"], "B1", [line("L1", holder)]).json["accepted"] == 1
    assert [item["account_number"] for item in benefits.pending(bank)] == ["6222020099999999"]


def test_batch_endpoint_refuses_malformed_requests(benefits: Benefits, scene: dict[str, Any]) -> None:
    department = scene["department"]
    assert benefits.call(department, BATCHES, {"batch_reference": "B1", "lines": []}).status_code == 422
    assert benefits.call(department, BATCHES, {"batch_reference": "bad ref", "lines": [line("L1")]}).status_code == 422


def cli(api: ApiClient, *args: str) -> Any:
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from app.cli import main

    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: api.app))


def test_cli_import_reports_bad_lines_by_line_number_and_report_reconciles(benefits: Benefits, scene: dict[str, Any],
                                                                           tmp_path: Any) -> None:
    paid = scene["holders"][0]
    path = tmp_path / "pension-2026-10.csv"
    path.write_text(
        "line_reference,id_number,card_number,benefit_type,amount_fen,period\n"
        f"P1,{paid.id_number},,pension,150000,2026-10\n"
        f"P2,,{paid.card_number},pension,12.50,2026-10\n"
        f"P3,,{paid.card_number},pension,2000\n"
        f"P4,,{paid.card_number},unemployment_insurance,180000,2026-10\n", encoding="utf-8")
    department = scene["department"]["partner_id"]
    result = cli(benefits.api, "disburse", "import", str(path), "--department", department)
    assert result.exit_code == 1
    assert "line 3: rejected: amount_not_integer\n" in result.output
    assert "line 4: rejected: wrong_column_count" in result.output
    assert "batch pension-2026-10: accepted 2, duplicates 0, rejected 2" in result.output
    again = cli(benefits.api, "disburse", "import", str(path), "--department", department)
    assert "accepted 0, duplicates 2, rejected 2" in again.output

    [first, _] = benefits.pending(scene["bank"])
    benefits.confirm(scene["bank"], (first["disbursement_id"], "credited"))
    report = cli(benefits.api, "disburse", "report", "--batch", "pension-2026-10")
    assert report.exit_code == 0, report.output
    lines = report.output.splitlines()
    assert lines[0] == "batch pension-2026-10"
    assert [line.split()[:2] for line in lines[1:5]] == [["credited", "1"], ["returned", "0"], ["pending", "1"], ["total", "2"]]
    assert "3300.00元" in lines[4] and "balanced" in lines[5]
    assert cli(benefits.api, "disburse", "report", "--department", department).exit_code == 0


def test_cli_import_needs_a_disbursing_department_and_the_right_header(benefits: Benefits, scene: dict[str, Any],
                                                                      tmp_path: Any) -> None:
    path = tmp_path / "b.csv"
    path.write_text("reference,amount\nx,1\n", encoding="utf-8")
    refused = cli(benefits.api, "disburse", "import", str(path), "--department", scene["bank"]["partner_id"])
    assert refused.exit_code == 2 and "disburse role" in refused.output
    wrong = cli(benefits.api, "disburse", "import", str(path), "--department", scene["department"]["partner_id"])
    assert wrong.exit_code == 1 and "header must be exactly" in wrong.output


def test_cli_import_says_how_to_pass_a_batch_reference_the_file_name_is_not(benefits: Benefits, scene: dict[str, Any],
                                                                             tmp_path: Any) -> None:
    paid = scene["holders"][0]
    path = tmp_path / "pension 2026-10.csv"
    path.write_text(f"line_reference,id_number,card_number,benefit_type,amount_fen,period\nP1,{paid.id_number},,pension,150000,2026-10\n",
                    encoding="utf-8")
    department = scene["department"]["partner_id"]
    refused = cli(benefits.api, "disburse", "import", str(path), "--department", department)
    assert refused.exit_code == 2 and "'pension 2026-10.csv' does not give a batch reference" in refused.output
    assert "--batch REFERENCE" in refused.output
    named = cli(benefits.api, "disburse", "import", str(path), "--department", department, "--batch", "pension-2026-10")
    assert named.exit_code == 0 and "batch pension-2026-10: accepted 1" in named.output


@pytest.mark.parametrize(("name", "batch"), [("pension-2026-10.csv.bak", None), (".csv", None), ("pension-2026-10.txt", None),
                                             ("PENSION-2026-11.CSV", "PENSION-2026-11"), ("pension.2026-12.csv", "pension.2026-12")])
def test_cli_import_takes_the_batch_reference_from_the_file_name_without_its_final_csv(
        benefits: Benefits, scene: dict[str, Any], tmp_path: Any, name: str, batch: str | None) -> None:
    path = tmp_path / name
    path.write_text(f"line_reference,id_number,card_number,benefit_type,amount_fen,period\nP1,{scene['holders'][0].id_number},,pension,1,2026-10\n",
                    encoding="utf-8")
    result = cli(benefits.api, "disburse", "import", str(path), "--department", scene["department"]["partner_id"])
    if batch is None:
        assert result.exit_code == 2 and f"{name!r} does not give a batch reference" in result.output
        assert "--batch REFERENCE" in result.output
    else:
        assert result.exit_code == 0 and f"batch {batch}: accepted 1" in result.output


@pytest.mark.parametrize("app", ["production"], indirect=True)  # row locks: PostgreSQL only
def test_an_open_import_transaction_blocks_neither_verifications_nor_the_bank(benefits: Benefits, scene: dict[str, Any]) -> None:
    """While an import chunk is uncommitted (its rows hold foreign-key locks on the citizen and the
    account), the citizen's code still verifies and the bank may still change the account."""
    import psycopg
    from sqlalchemy.engine import make_url

    api = benefits.api
    url = make_url(api.app.config["SQLALCHEMY_DATABASE_URI"])
    holder = scene["holders"][0]
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as chunk:
        citizen_id, account_id, bank_id = chunk.execute(
            "SELECT c.citizen_id, a.id, a.bank_partner_id FROM cards c JOIN financial_accounts a ON a.card_id = c.id "
            "WHERE c.card_number = %s", (holder.card_number,)).fetchone()  # type: ignore[misc]
        batch_id = chunk.execute("INSERT INTO disbursement_batches (department_id, batch_reference, created_at) "
                                 "VALUES (%s, 'OPEN', now()) RETURNING id", (bank_id,)).fetchone()[0]  # type: ignore[index]
        chunk.execute("INSERT INTO disbursements (batch_id, department_id, line_reference, citizen_id, financial_account_id, "
                      "bank_partner_id, benefit_type, amount_fen, period, status, posted_at) "
                      "VALUES (%s, %s, 'OPEN-1', %s, %s, %s, 'pension', 100, '2026-10', 'pending', now())",
                      (batch_id, bank_id, citizen_id, account_id, bank_id))
        answers: dict[str, Any] = {}

        def meanwhile() -> None:
            transit = api.partner(("transit",), name="Metro")
            answers["verify"] = api.verify(transit, api.code(holder.token))
            answers["account"] = benefits.open_account(scene["bank"], holder, "6222020000000042")

        worker = threading.Thread(target=meanwhile)
        worker.start()
        worker.join(timeout=20)
        blocked = worker.is_alive()
        chunk.rollback()
        worker.join()
    assert not blocked, "a verification or the bank waited for the open import transaction"
    assert answers["verify"].json["accepted"] is True and answers["account"].status_code == 200


@pytest.mark.parametrize("outcomes", [("returned", "credited"), ("credited", "returned"), ("credited", "credited")])
def test_a_request_naming_a_line_twice_is_refused_whole_with_the_positions(benefits: Benefits, scene: dict[str, Any],
                                                                           outcomes: tuple[str, str]) -> None:
    first, second = scene["holders"][:2]
    bank = scene["bank"]
    benefits.submit(scene["department"], "B1", [line("L1", first, amount=1000), line("L2", second, amount=2000)])
    ids = {item["amount_fen"]: item["disbursement_id"] for item in benefits.pending(bank)}
    entries = [(ids[1000], outcome, "account closed") if outcome == "returned" else (ids[1000], outcome) for outcome in outcomes]
    answer = benefits.confirm(bank, entries[0], (ids[2000], "credited"), entries[1])
    assert answer.status_code == 422 and answer.json["error"]["code"] == "validation_error"
    assert answer.json["error"]["details"]["fields"]["json"]["confirmations"] == [
        f"a line may be confirmed once per request: disbursement_id {ids[1000]} at positions 1, 3"]
    assert sorted(item["amount_fen"] for item in benefits.pending(bank)) == [1000, 2000]  # nothing applied
    settled = benefits.confirm(bank, entries[1])
    assert settled.json["results"] == [{"disbursement_id": ids[1000], "result": "applied", "status": outcomes[1]}]


@pytest.mark.parametrize("outcomes", [("returned", "credited"), ("credited", "returned"), ("credited", "credited")])
def test_the_service_answers_a_repeated_line_by_what_the_earlier_entry_did(benefits: Benefits, scene: dict[str, Any],
                                                                           outcomes: tuple[str, str]) -> None:
    from app.money.settlement import Confirmation, confirm
    from app.partners.partners import partner_view
    from app.runtime import runtime

    benefits.submit(scene["department"], "B1", [line("L1", scene["holders"][0])])
    [pending] = benefits.pending(scene["bank"])
    with benefits.api.app.app_context():
        bank_id = partner_view(runtime(), scene["bank"]["partner_id"]).id  # type: ignore[union-attr]
        items = [Confirmation(pending["disbursement_id"], outcome, "closed") for outcome in outcomes]
        results = confirm(runtime(), bank_id, items)
    later = "unchanged" if outcomes[0] == outcomes[1] else "conflict"
    assert [(item.result, item.status) for item in results] == [("applied", outcomes[0]), (later, outcomes[0])]


def test_a_cancelled_card_gets_no_financial_account_and_no_line(benefits: Benefits, scene: dict[str, Any], tmp_path: Any) -> None:
    with_account, _, without_account = scene["holders"]
    for holder in (with_account, without_account):
        cancelled = cli(benefits.api, "card", "cancel", holder.card_number, "--reason", "deceased")
        assert cancelled.exit_code == 0, cancelled.output
    refused = benefits.open_account(scene["bank"], without_account)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "card_cancelled"
    by_id = benefits.call(scene["bank"], ACCOUNTS, {"id_number": with_account.id_number, "account_number": "6222020099999999"},
                          method="PUT")
    assert by_id.status_code == 409 and by_id.json["error"]["code"] == "card_cancelled"

    answer = benefits.submit(scene["department"], "B1", [
        line("L1", with_account), line("L2", with_account, by_card=False), line("L3", without_account), line("L4", scene["holders"][1])])
    assert answer.json["accepted"] == 1
    assert [(item["position"], item["reason"]) for item in answer.json["rejected"]] == [
        (1, "card_cancelled"), (2, "card_cancelled"), (3, "card_cancelled")]
    path = tmp_path / "b2.csv"
    path.write_text("line_reference,id_number,card_number,benefit_type,amount_fen,period\n"
                    f"C1,,{with_account.card_number},pension,100,2026-10\nC2,{with_account.id_number},,pension,100,2026-10\n",
                    encoding="utf-8")
    imported = cli(benefits.api, "disburse", "import", str(path), "--department", scene["department"]["partner_id"])
    assert imported.exit_code == 1
    assert "line 2: rejected: card_cancelled\n" in imported.output and "line 3: rejected: card_cancelled\n" in imported.output
    assert [item["amount_fen"] for item in benefits.pending(scene["bank"])] == [150000]


def test_cli_import_names_a_rejected_line_by_number_and_reason_never_its_values(benefits: Benefits, scene: dict[str, Any],
                                                                                 tmp_path: Any) -> None:
    paid = scene["holders"][0]
    wrong_check_digit = paid.id_number[:-1] + ("2" if paid.id_number[-1] == "1" else "1")
    path = tmp_path / "shifted.csv"  # a name column slipped in: every value moves one column right
    path.write_text(
        "line_reference,id_number,card_number,benefit_type,amount_fen,period\n"
        f"{paid.id_number},{wrong_check_digit},,pension,150000,2026-10\n"
        f"陈小明 {paid.id_number},,{paid.card_number},pension,150000,2026-10\n", encoding="utf-8")
    result = cli(benefits.api, "disburse", "import", str(path), "--department", scene["department"]["partner_id"])
    assert result.exit_code == 1
    assert "line 2: rejected: id_number_invalid\n" in result.output
    assert "line 3: rejected: line_reference_invalid\n" in result.output
    assert paid.id_number[:-1] not in result.output and "陈小明" not in result.output


def test_a_submission_with_no_line_recorded_leaves_no_batch_to_report(benefits: Benefits, scene: dict[str, Any], tmp_path: Any) -> None:
    department, paid = scene["department"], scene["holders"][0]
    rejected = benefits.submit(department, "EMPTY", [line("L1", paid, amount=0), line("L2", scene["holders"][2])])
    assert rejected.status_code == 200 and rejected.json["accepted"] == 0 and len(rejected.json["rejected"]) == 2
    assert benefits.reconciliation(department, "EMPTY").json["error"]["code"] == "batch_unknown"
    report = cli(benefits.api, "disburse", "report", "--batch", "EMPTY")
    assert report.exit_code == 1 and "no batch EMPTY" in report.output
    path = tmp_path / "ALLBAD.csv"
    path.write_text("line_reference,id_number,card_number,benefit_type,amount_fen,period\nX1,,,pension,100,2026-10\n", encoding="utf-8")
    assert cli(benefits.api, "disburse", "import", str(path), "--department", department["partner_id"]).exit_code == 1
    assert "no batch ALLBAD" in cli(benefits.api, "disburse", "report", "--batch", "ALLBAD").output
    # Only lines already on record (in another batch): nothing new, so no batch is reported either.
    assert benefits.submit(department, "B1", [line("L3", paid)]).json["accepted"] == 1
    assert benefits.submit(department, "B2", [line("L3", paid)]).json["duplicates"] == 1
    assert benefits.reconciliation(department, "B2").status_code == 404
    assert benefits.reconciliation(department, "B1").json["total"]["count"] == 1
    with benefits.api.app.app_context():
        from app.money.models import DisbursementBatch
        from app.platform.db import db

        assert {batch.batch_reference for batch in db.session.query(DisbursementBatch)} <= {"B1", "B2"}
