"""Issue 20 items 2-4: the 401 clock error carries the server's time, a partner reads its own
verifications back (and no one else's), and the daily statement (对账单) reconciles with the
verifications' answers: same ids, same results, totals, a CSV whose signature verifies, days
cut at midnight +08:00. On both backends."""
from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import secrets
from datetime import timedelta
from typing import Any

import pytest

from app.platform.city_time import in_city_time
from scenes.signing import authorization_header

from ..helpers import VERIFY_PATH, ApiClient

INVALID_CODE = "DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790"


def signed_get(api: ApiClient, partner: dict[str, str], path: str) -> Any:
    header = authorization_header(partner["partner_id"], partner["secret"], "GET", path, b"",
                                  int(api.clock.time()), secrets.token_hex(12))
    return api.client.get(path, headers={"Authorization": header})


def test_the_clock_error_tells_the_server_time_at_plus_eight(api: ApiClient) -> None:
    partner = api.partner()
    body = json.dumps({"code": INVALID_CODE, "scene": "transit", "terminal_id": "gate-1"}).encode()
    response = api.signed_post(partner, body, timestamp=int(api.clock.time()) - 301)
    assert response.status_code == 401
    error = response.json["error"]
    assert error["code"] == "timestamp_out_of_window"
    assert error["details"]["server_timestamp"] == int(api.clock.time())
    assert error["details"]["server_time"] == in_city_time(api.clock.now()).replace(microsecond=0).isoformat()
    assert error["details"]["server_time"].endswith("+08:00") and error["details"]["tolerance_seconds"] == 300


def test_a_partner_reads_back_its_own_verification_only(api: ApiClient) -> None:
    token = api.bound_citizen()
    metro, museum = api.partner(("transit",)), api.partner(("transit", "culture"), name="Museum")
    answer = api.verify(metro, api.code(token), terminal_id="gate-3", direction="entry").json
    assert answer["accepted"]

    mine = signed_get(api, metro, f"{VERIFY_PATH}/{answer['verification_id']}")
    assert mine.status_code == 200
    record = dict(mine.json)
    assert sorted(record.pop("disclosed")) == sorted(answer["subject"])  # field names only, never values
    assert record == {
        "verification_id": answer["verification_id"], "verified_at": in_city_time(api.clock.now()).replace(microsecond=0).isoformat(),
        "terminal_id": "gate-3", "scene": "transit", "carrier": "ecard", "direction": "entry", "accepted": True, "reason": None,
        "entry_verification_id": None,
        "record_id": None, "scanned_at": None}
    assert record["verified_at"].endswith("+08:00")

    for partner, verification_id in ((museum, answer["verification_id"]), (metro, "vf_" + "0" * 24), (metro, "nope")):
        other = signed_get(api, partner, f"{VERIFY_PATH}/{verification_id}")
        assert (other.status_code, other.json["error"]["code"]) == (404, "verification_unknown")


def _verify_csv(text: str, secret: str) -> list[dict[str, str]]:
    """What a partner does with the file: check the last line's signature over the bytes before it."""
    body, _, last = text.rstrip("\n").rpartition("\n")
    prefix, _, signature = last.rpartition(",")
    assert prefix == "#signature,HMAC-SHA256"
    expected = base64.b64encode(hmac.new(secret.encode(), (body + "\n").encode(), hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(signature, expected)
    return list(csv.DictReader(io.StringIO(body + "\n")))


def test_the_daily_statement_reconciles_with_the_verifications(api: ApiClient) -> None:
    token = api.bound_citizen()
    metro, bus = api.partner(("transit",)), api.partner(("transit",), name="Bus")
    day = in_city_time(api.clock.now()).date()
    code = api.code(token)
    answers = []
    for sent, terminal in ((code, "gate-1"), (code, "gate-2"), (INVALID_CODE, "gate-2")):  # accepted, code_used, code_invalid
        answers.append(api.verify(metro, sent, terminal_id=terminal).json)
        api.clock.advance(1)  # rows are ordered by time (then id)
    api.verify(bus, INVALID_CODE, terminal_id="gate-1")  # another partner's: not on metro's statement
    api.clock.advance(24 * 3600)
    later = api.verify(metro, INVALID_CODE, terminal_id="gate-1").json  # the next day's

    statement = signed_get(api, metro, f"/api/partner/v1/statements/{day}")
    assert statement.status_code == 200, statement.json
    rows = statement.json["verifications"]
    assert [(r["verification_id"], r["accepted"], r["reason"], r["terminal_id"]) for r in rows] == [
        (a["verification_id"], a["accepted"], a["reason"], t) for a, t in zip(answers, ("gate-1", "gate-2", "gate-2"), strict=True)]
    assert all(row["verified_at"].endswith("+08:00") and row["verified_at"].startswith(str(day)) for row in rows)
    assert statement.json["totals"] == {"count": 3, "accepted": 1, "refused": 2, "offline_settled": 0,
                                        "by_scene": [{"scene": "transit", "accepted": 1, "refused": 2}]}
    assert statement.json["final"] is True

    csv_answer = signed_get(api, metro, f"/api/partner/v1/statements/{day}.csv")
    assert csv_answer.status_code == 200 and csv_answer.mimetype == "text/csv"
    csv_rows = _verify_csv(csv_answer.get_data(as_text=True), metro["secret"])
    assert [row["verification_id"] for row in csv_rows] == [row["verification_id"] for row in rows]
    assert [row["accepted"] for row in csv_rows] == ["true", "false", "false"]
    assert csv_answer.get_data(as_text=True).rstrip("\n").endswith(statement.json["signature"])
    with pytest.raises(AssertionError):
        _verify_csv(csv_answer.get_data(as_text=True).replace("gate-2", "gate-9", 1), metro["secret"])

    today = signed_get(api, metro, f"/api/partner/v1/statements/{day + timedelta(days=1)}").json
    assert [row["verification_id"] for row in today["verifications"]] == [later["verification_id"]]
    assert today["final"] is False


@pytest.mark.parametrize("day", ["tomorrow", "2019-12-31", "2026-02-30", "20260101", "2026-01-01x"])
def test_a_statement_day_must_be_a_past_or_present_day(api: ApiClient, day: str) -> None:
    if day == "tomorrow":
        day = str(in_city_time(api.clock.now()).date() + timedelta(days=1))
    response = signed_get(api, api.partner(), f"/api/partner/v1/statements/{day}")
    assert (response.status_code, response.json["error"]["code"]) == (422, "validation_error")
