"""What a partner can rebuild from scene answers (issue 15 item 1; M-19, M-23; docs/partner-api.md).

The attacker below knows nothing about the holder. It reads every accepted answer a partner could
collect (every scene it holds, repeated reads, entry and exit) and combines the fields: a full ID
number or phone as such, a masked one as the characters it shows, a date as the ID number's birth
date, ``M``/``F`` as the parity of the sequence code, a name written out in full. It has rebuilt a
secret when exactly one value is left. The disclosure table of docs/partner-api.md says, per scene,
what a partner may rebuild (column "Rebuilds"); nothing else may come out, alone or together.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from app.identity import idnumber
from scenes.policies.medical import Medical
from scenes.registry import POLICIES

from ..helpers import PERSON, ApiClient

ID_LENGTH, PHONE_LENGTH = 18, 11
CJK_NAME = re.compile(r"[\u4e00-\u9fff]{2,}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _strings(subjects: list[dict[str, Any]]) -> list[str]:
    return [value for subject in subjects for value in subject.values() if isinstance(value, str)]


def _positions(values: list[str], length: int, alphabet: str) -> list[set[str]]:
    """Per position, the characters still possible after every full or masked value of ``length``."""
    possible = [set(alphabet) for _ in range(length)]
    for value in values:
        if len(value) != length or not all(c in alphabet + "*" for c in value):
            continue
        for position, char in enumerate(value):
            if char != "*":
                possible[position] &= {char}
    return possible


def id_number_candidates(subjects: list[dict[str, Any]]) -> float:
    """How many ID numbers are consistent with everything disclosed (the check digit follows)."""
    values = _strings(subjects)
    possible = _positions([v.upper() for v in values], ID_LENGTH, "0123456789X")
    for value in values:
        if ISO_DATE.fullmatch(value):
            for position, char in enumerate(value.replace("-", ""), start=6):
                possible[position] &= {char}
        if value in ("M", "F"):
            possible[16] &= {d for d in "0123456789" if (int(d) % 2 == 1) == (value == "M")}
    for position in range(ID_LENGTH - 1):
        possible[position] -= {"X"}
    if any(not chars for chars in possible[:17]):
        return 0
    first17 = math.prod(len(chars) for chars in possible[:17])
    if first17 == 1 and len(possible[17]) > 1:  # the check digit follows from the rest
        return 1
    return first17 if len(possible[17]) > 1 else first17 / 11


def phone_candidates(subjects: list[dict[str, Any]]) -> float:
    possible = _positions(_strings(subjects), PHONE_LENGTH, "0123456789")
    possible[0] &= {"1"}
    return math.prod(len(chars) for chars in possible)


def rebuilt(subjects: list[dict[str, Any]]) -> set[str]:
    """Which of ``id_number``, ``phone`` and ``name`` the attacker pins down to one value."""
    found = set()
    if id_number_candidates(subjects) <= 1:
        found.add("id_number")
    if phone_candidates(subjects) <= 1:
        found.add("phone")
    if any(CJK_NAME.fullmatch(value) for value in _strings(subjects)):
        found.add("name")
    return found


def documented_rebuilds() -> dict[str, set[str]]:
    """The "Rebuilds" column of the disclosure table in docs/partner-api.md."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "partner-api.md").read_text()
    table = doc.split("<!-- disclosure table -->", 2)[1]
    rows = [line.strip().strip("|").split("|") for line in table.splitlines() if line.strip().startswith("| `")]
    return {row[0].strip("` "): {f.strip("` ") for f in row[2].split(",")} - {"nothing"} for row in rows}


def _partner_for(api: ApiClient, scenes: tuple[str, ...], kind: str = "organisation") -> dict[str, str]:
    partner = api.partner(scenes, f"Partner {'-'.join(scenes)[:40]}", kind=kind)
    if "campus" in scenes or kind == "library":
        body = json.dumps({"members": [{"id_number": PERSON["id_number"], "member_id": "M-1"}]}).encode()
        assert api.signed_post(partner, body, path="/api/partner/v1/members", method="PUT").status_code == 200
    return partner


def _collect(api: ApiClient, token: str, partner: dict[str, str], scene: str, reads: int = 3) -> list[dict[str, Any]]:
    subjects = []
    for n in range(reads):
        extra = {"direction": ("entry", "exit")[n % 2]} if scene == "transit" else {}
        answer = api.verify(partner, api.code(token), terminal_id=f"gate-{n}", scene=scene, **extra).json
        assert answer["accepted"] is True, answer
        subjects.append(answer["subject"])
    return subjects


KINDS = {"government": "government", "culture": "library"}


@pytest.mark.parametrize("scene", sorted(POLICIES))
def test_no_scene_lets_a_partner_rebuild_more_than_its_table_allows(api: ApiClient, scene: str) -> None:
    token = api.bound_citizen()
    subjects = _collect(api, token, _partner_for(api, (scene,), KINDS.get(scene, "organisation")), scene)
    allowed = documented_rebuilds()[scene]
    assert rebuilt(subjects) <= allowed
    if scene != "government":
        assert id_number_candidates(subjects) >= 100  # not merely "more than one": a guess stays a guess


def candidates_from(subject: dict[str, Any]) -> list[str]:
    """Every ID number a medical subject leaves possible: its region, birth date and sex."""
    region, born = subject["id_number_masked"][:6], subject["date_of_birth"].replace("-", "")
    parity = 1 if subject["sex"] == "M" else 0
    first17s = [f"{region}{born}{n:03d}" for n in range(1000) if n % 2 == parity]
    return [first17 + idnumber.check_digit(first17) for first17 in first17s]


def roster_attack(api: ApiClient, token: str, partner: dict[str, str], medical_subject: dict[str, Any]) -> dict[str, Any]:
    """Upload every candidate as a "member" whose member id is the candidate itself, then read the
    holder in the campus scene: the member id in the answer would be the holder's ID number."""
    members = [{"id_number": number, "member_id": number} for number in candidates_from(medical_subject)]
    api.signed_post(partner, json.dumps({"members": members}).encode(), path="/api/partner/v1/members", method="PUT")
    answer = api.verify(partner, api.code(token), terminal_id="gate-9", scene="campus").json
    return answer["subject"] or {}


def test_a_partner_holding_every_scene_but_government_cannot_rebuild_the_id_number_or_phone(api: ApiClient) -> None:
    token = api.bound_citizen()
    scenes = tuple(name for name in POLICIES if name != "government")
    partner = api.partner(scenes, "Everything but government")
    subjects = []
    for scene in scenes:
        answer = api.verify(partner, api.code(token), terminal_id="gate-1", scene=scene).json
        if answer["accepted"]:
            subjects += [answer["subject"], *_collect(api, token, partner, scene)]
        else:  # campus: a partner told birth dates keeps no roster (the attack below)
            assert (scene, answer["reason"]) == ("campus", "scene_not_permitted")
    medical = next(subject for subject in subjects if "date_of_birth" in subject)
    subjects.append(roster_attack(api, token, partner, medical))
    assert rebuilt(subjects).isdisjoint({"id_number", "phone"})
    assert id_number_candidates(subjects) >= 100
    text = json.dumps(subjects, ensure_ascii=False)
    assert PERSON["id_number"][14:] not in text and PERSON["phone"][3:] not in text


def test_the_attacker_does_rebuild_what_it_is_given(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack itself works: a medical subject with the old mask (first 6 and last 4 shown)
    next to the date of birth gives the full ID number away; so does a government answer."""
    token = api.bound_citizen()

    def over_disclosing(self: Medical, context: Any) -> dict[str, Any]:
        number = context.holder.id_number
        return {"name": context.holder.name, "sex": idnumber.sex(number),
                "date_of_birth": idnumber.birth_date(number).isoformat(),
                "id_number_masked": number[:6] + "*" * 8 + number[14:], "insured": True,
                "social_security_card_number": None, "medical_insurance_evoucher": None}

    monkeypatch.setattr(Medical, "subject", over_disclosing)
    subjects = _collect(api, token, _partner_for(api, ("medical",)), "medical", reads=1)
    assert rebuilt(subjects) == {"id_number", "name"}
    government = _collect(api, token, _partner_for(api, ("government",), "government"), "government", reads=1)
    assert rebuilt(government) == {"id_number", "name"}
    assert rebuilt([{"contact": "138****8000"}, {"contact": "1380013****"}]) == {"phone"}
    assert PERSON["id_number"] in candidates_from(subjects[0])


def test_the_roster_attack_does_rebuild_the_id_number_where_medical_and_a_roster_meet(
        api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the rule that keeps rosters from partners told birth dates, the attack works."""
    import scenes.policies.campus
    import scenes.views

    for module in (scenes.policies.campus, scenes.views):
        monkeypatch.setattr(module, "sees_birth_dates", lambda _partner: False)
    token = api.bound_citizen()
    partner = api.partner(("medical", "campus"), "Hospital with a campus")
    medical = _collect(api, token, partner, "medical", reads=1)[0]
    assert len(candidates_from(medical)) == 500
    assert roster_attack(api, token, partner, medical)["member_id"] == PERSON["id_number"]
    assert rebuilt([{"masked_name": "陈*"}]) == set()
