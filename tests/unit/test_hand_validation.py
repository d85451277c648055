"""The hot routes read and write by hand (issue 25). POST /verifications (scenes.verification_args): on many generated
bodies the hand check accepts exactly the bodies VerificationRequestSchema accepts, with the same
result, and the answer written by hand is VerificationSchema's dump."""
from __future__ import annotations

import random
from typing import Any

import marshmallow as ma
import pytest

from app.scanning.verification import VerificationAnswer
from scenes.registry import SCENE_NAMES
from scenes.verification_args import hand_checked
from scenes.views import MAX_CODE_LENGTH, VERIFICATION_REQUEST, VERIFICATION_RULES, VerificationSchema

CONTROL = ["\x00", "\n", "\t", "\x1f", "\x7f", "\x85", "\x9f"]


def _strings(rng: random.Random) -> list[Any]:
    """Values near every rule's edge: lengths, patterns, control characters, other JSON types."""
    plain = "".join(rng.choice("ABCdef0189_.:-/ é中") for _ in range(rng.randint(0, 70)))
    return ["", "a", "gate-1", "t1", "x" * 32, "x" * 33, "g" * 64, "g" * 65, "gate 1", "gate-1\n", "gate/1",
            "entry", "exit", "Entry", "exit ", "0123456789012345", "012345678901234", "01234567890123456",
            "012345678901234x", "0123456789012345\n", "DGC1:" + "A" * 40, "c" * MAX_CODE_LENGTH,
            "c" * (MAX_CODE_LENGTH + 1), plain, plain + rng.choice(CONTROL), rng.choice(SCENE_NAMES),
            rng.choice(SCENE_NAMES) + rng.choice(CONTROL), None, 0, 1, 1.5, True, False, [], ["gate-1"], {}, {"a": 1}]


FIELDS = ["code", "card_number", "scene", "terminal_id", "direction"]


def _body(rng: random.Random) -> Any:
    if rng.random() < 0.03:
        return rng.choice([None, [], "text", 3, [{"code": "x"}]])
    body = {"scene": "transit", "terminal_id": "gate-1", rng.choice(["code", "card_number"]): rng.choice(
        ["DGC1:" + "A" * 40, "0123456789012345"])}
    for _ in range(rng.randint(0, 4)):  # change, drop or add fields
        name = rng.choice(FIELDS + ["unknown", "Code", ""])
        if rng.random() < 0.25:
            body.pop(name, None)
        else:
            body[name] = rng.choice(_strings(rng))
    return body


def _schema_load(body: Any) -> tuple[bool, Any]:
    try:
        return True, VERIFICATION_REQUEST.load(body)
    except ma.ValidationError as error:
        return False, error.messages


def test_the_hand_check_accepts_exactly_what_the_schema_accepts_with_the_same_result() -> None:
    rng = random.Random(25)
    outcomes = {True: 0, False: 0}
    for _ in range(30_000):
        body = _body(rng)
        valid, loaded = _schema_load(body)
        outcomes[valid] += 1
        assert hand_checked(body, VERIFICATION_RULES) == (loaded if valid else None), body
    assert min(outcomes.values()) > 3000  # both kinds well represented


@pytest.mark.parametrize("body", [
    {"code": "DGC1:x", "scene": "transit", "terminal_id": "gate-1"},
    {"code": "DGC1:x", "scene": "transit", "terminal_id": "gate-1", "direction": None},
    {"code": "DGC1:x", "scene": "transit", "terminal_id": "gate-1", "direction": "exit"},
    {"card_number": "0123456789012345", "scene": "library", "terminal_id": "a.b:c_d-e"},
    {"code": "c" * MAX_CODE_LENGTH, "scene": "x" * 32, "terminal_id": "g" * 64},
])
def test_valid_bodies_at_the_edges_take_the_hand_path(body: dict[str, Any]) -> None:
    assert hand_checked(body, VERIFICATION_RULES) == VERIFICATION_REQUEST.load(body)


@pytest.mark.parametrize("answer", [
    VerificationAnswer("vf_1", True, None, "transit", {"settlement_token": "t", "concession": "adult"}),
    VerificationAnswer("vf_2", False, "code_used", "campus", None),
    VerificationAnswer("vf_3", True, None, "medical", {"name": "测试"}, duplicate=True),
])
def test_the_answer_written_by_hand_is_the_schemas_dump(answer: VerificationAnswer) -> None:
    assert vars(answer) == VerificationSchema().dump(answer)


# --- GET /card/code: ?format read by hand, the answer written by hand (miniprogram_api/card.py) -----

QUERIES = ["", "format=json", "format=png", "format=svg", "format=PNG", "format=", "format=png&format=svg",
           "format=gif", "other=1", "format=png&other=1", "Format=png", "format=svg%00", "format=%20png"]


@pytest.mark.parametrize("query", QUERIES)
def test_the_code_format_read_by_hand_is_the_schemas(query: str) -> None:
    from flask import Flask
    from werkzeug.exceptions import HTTPException

    from app.platform.http_json import CardBlueprint
    from miniprogram_api.card import CODE_QUERY, code_format

    def outcome(read: Any) -> Any:
        with Flask(__name__).test_request_context(f"/api/mp/v1/card/code?{query}"):
            try:
                return read()
            except HTTPException as error:
                return error.code, error.data["messages"]  # type: ignore[attr-defined]

    by_schema = outcome(lambda: CardBlueprint.ARGUMENTS_PARSER.parse(CODE_QUERY, location="query")["format"])
    assert outcome(code_format) == by_schema


def test_the_code_answer_written_by_hand_is_the_schemas_dump() -> None:
    from datetime import UTC, datetime

    from app.scanning.card_code import IssuedCode
    from miniprogram_api.card import CodeSchema, code_answer

    issued = IssuedCode("DGC1:ABC", datetime(2026, 12, 5, 21, 30, 30, tzinfo=UTC), 17)
    assert code_answer(issued) == CodeSchema().dump(issued)


# --- POST /offline/records: the body read by hand, the results written by hand (scenes/offline_records.py) ----

RECORD = {"record_id": "r1", "terminal_id": "gate-1", "scene": "transit", "scanned_at": 1779324605, "code": "DGC2:X"}
RECORDS_BODIES = [
    {"records": [RECORD]}, {"records": [RECORD] * 1000}, {"records": [RECORD] * 1001}, {"records": []},
    {"records": [None, 3, "x", [], {}]}, {"records": [RECORD], "extra": 1}, {"records": RECORD}, {"records": None},
    {"records": "x"}, {"Records": [RECORD]}, {}, [RECORD], "records", 7, None,
]


@pytest.mark.parametrize("body", RECORDS_BODIES, ids=range(len(RECORDS_BODIES)))
def test_the_records_body_read_by_hand_is_the_schemas(body: Any) -> None:
    import json

    from flask import Flask
    from werkzeug.exceptions import HTTPException

    from app.platform.http_json import CardBlueprint
    from scenes.offline_records import RECORDS_REQUEST, records_args

    def outcome(read: Any) -> Any:
        with Flask(__name__).test_request_context("/api/partner/v1/offline/records", method="POST",
                                                  data=json.dumps(body), content_type="application/json"):
            try:
                return read()
            except HTTPException as error:
                return error.code, error.data["messages"]  # type: ignore[attr-defined]

    by_schema = outcome(lambda: CardBlueprint.ARGUMENTS_PARSER.parse(RECORDS_REQUEST, location="json"))
    assert outcome(records_args) == by_schema


def test_the_records_results_written_by_hand_are_the_schemas_dump() -> None:
    from app.scanning.offline_records import Item
    from scenes.offline_records import RecordsSchema

    settled = Item(0, "r1", status="settled", verification_id="vf_1",
                   subject={"settlement_token": "t", "concession": "standard", "entry_verification_id": None})
    refused = Item(1, None, status="invalid")
    results = {"results": [settled.answer(), refused.answer()]}
    assert results == RecordsSchema().dump(results)
