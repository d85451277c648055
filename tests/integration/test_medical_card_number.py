"""The medical subject carries the physical card's number once the card is in the holder's hands
(issue 22 item 7, M-23.3): null while applied for or produced, the number once issued and
activated, null again once reported lost."""
from __future__ import annotations

from typing import Any

from ..helpers import ApiClient
from .test_lifecycle import Story


def _medical_subject(story: Story, hospital: dict[str, str]) -> dict[str, Any]:
    answer = story.api.verify(hospital, story.api.code(story.token), scene="medical")
    assert answer.status_code == 200 and answer.json["accepted"], answer.json
    return answer.json["subject"]


def test_the_medical_subject_names_the_physical_card_in_the_holders_hands(api: ApiClient) -> None:
    story = Story(api)
    hospital = api.partner(("medical",), name="Hospital")
    assert _medical_subject(story, hospital)["social_security_card_number"] is None  # e-card only
    application_id = story.apply()
    assert _medical_subject(story, hospital)["social_security_card_number"] is None  # applied for, not in hand
    assert story.report(application_id, "produced", serial_number="SN00000077").status_code == 200
    assert story.report(application_id, "issued").status_code == 200
    assert _medical_subject(story, hospital)["social_security_card_number"] == story.card_number()
    lost = story.mp("POST", "/card/physical/loss-report")
    assert lost.status_code == 200, lost.json
    assert _medical_subject(story, hospital)["social_security_card_number"] is None
