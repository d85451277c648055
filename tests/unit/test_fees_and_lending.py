"""The fee rules (M-24) with the worked examples of docs/card-lifecycle.md, PIN strength, and
the great-circle arithmetic of the card-lending signal (M-27)."""
from __future__ import annotations

import pytest

from app.card.fees import decide_fee, ecard_fee
from app.card.pins import pin_weakness
from app.scanning.lending import great_circle_m, implausible


@pytest.mark.parametrize(("earlier", "technology", "expected"), [
    ([], "gen3", ("first_card", 0, "bank")),  # example 1: the first card
    (["gen3"], "gen3", ("replacement", 2000, "citizen")),  # example 2: lost, replaced
    (["gen3", "gen3"], "gen3", ("replacement", 2000, "citizen")),  # example 3: a second replacement
    (["gen2"], "gen3", ("technology_upgrade", 0, "bank")),  # example 4: first gen3 card after gen2
    (["gen2", "gen3"], "gen3", ("replacement", 2000, "citizen")),  # example 5: the gen3 card replaced
    (["gen2", "gen2", "gen2"], "gen3", ("technology_upgrade", 0, "bank")),
])
def test_fee_rules_worked_examples(earlier: list[str], technology: str, expected: tuple[str, int, str]) -> None:
    decision = decide_fee(earlier, technology, 2000)
    assert (decision.rule, decision.fee_fen, decision.payer) == expected
    assert isinstance(decision.fee_fen, int)


def test_the_ecard_is_always_free() -> None:
    assert (ecard_fee().rule, ecard_fee().fee_fen) == ("ecard", 0)


@pytest.mark.parametrize(("pin", "weakness"), [
    ("000000", "one_digit"), ("999999", "one_digit"), ("123456", "run"), ("345678", "run"), ("876543", "run"),
    ("12345", "not_six_digits"), ("12345a", "not_six_digits"), ("１２３４５６", "not_six_digits"),
    ("480915", None), ("112233", None), ("123457", None),
])
def test_pin_weakness(pin: str, weakness: str | None) -> None:
    assert pin_weakness(pin) == weakness


def test_great_circle_distance_matches_known_values() -> None:
    # two points in Dongguan and Guangzhou, 0.6 degrees of longitude apart at 23 N: about 61.7 km
    assert great_circle_m(22.9500, 113.8700, 22.9880, 113.2690) == pytest.approx(61_600, rel=0.01)
    assert great_circle_m(0, 0, 0, 1) == pytest.approx(111_195, rel=0.001)  # one degree of the equator
    assert great_circle_m(22.95, 113.87, 22.95, 113.87) == 0


@pytest.mark.parametrize(("metres", "seconds", "flagged"), [
    (50_000, 600, True),  # 50 km in 10 minutes: 300 km/h
    (50_000, 1800, False),  # 50 km in 30 minutes: 100 km/h
    (5_000, 0, True),  # two places at once
    (0, 0, False),
])
def test_implausible_speed_at_200_kmh(metres: float, seconds: float, flagged: bool) -> None:
    assert implausible(metres, seconds, 200) is flagged
