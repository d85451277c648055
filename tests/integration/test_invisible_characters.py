"""Invisible format characters (Unicode category Cf: U+202E right-to-left override, U+200B zero
width space ...) and control characters in client text are a 422 ``validation_error`` in the
schema, before any service runs (app.platform.text.Text): a name with one is refused without
using up a binding attempt, and a complaint with one never reaches the console reversed."""
from __future__ import annotations

import pytest

from ..helpers import PERSON, ApiClient

MP = "/api/mp/v1"
INVISIBLE = ["\u202e", "\u200b", "\u2066", "\ufeff", "\u00ad", "\x07"]


@pytest.mark.parametrize("character", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_an_invisible_character_in_the_name_is_refused_before_any_attempt_counts(api: ApiClient, character: str) -> None:
    api.import_sample_roster()
    token = api.login()
    name = PERSON["name"][:1] + character + PERSON["name"][1:]
    for _ in range(7):  # more than the 5 binding attempts an account has an hour
        refused = api.bind(token, {**PERSON, "name": name})
        assert (refused.status_code, refused.json["error"]["code"]) == (422, "validation_error"), refused.json
        assert "name" in refused.json["error"]["details"]["fields"]["json"]
    assert api.bind(token).status_code == 200  # no attempt was used up


def test_a_complaint_with_a_direction_override_is_refused_but_lines_and_tabs_are_kept(api: ApiClient) -> None:
    bearer = api.bearer(api.bound_citizen())
    for text in ("refund \u202e01 nauy", "zero\u200bwidth"):
        refused = api.client.post(f"{MP}/complaints", json={"category": "card", "description": text}, headers=bearer)
        assert (refused.status_code, refused.json["error"]["code"]) == (422, "validation_error"), refused.json
    filed = api.client.post(f"{MP}/complaints", json={"category": "card", "description": "line one\n\tline two"}, headers=bearer)
    assert filed.status_code == 201, filed.json
