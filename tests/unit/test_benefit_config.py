"""CARD_BENEFIT_TYPES and the notice settings (docs/operations.md)."""
from __future__ import annotations

import pytest

from app.config import ConfigError, load_config
from app.money.notifications import format_yuan


def test_benefit_types_default_and_override() -> None:
    assert "pension" in load_config({})["CARD_BENEFIT_TYPES"]
    assert load_config({"CARD_BENEFIT_TYPES": " pension, heating_subsidy ,pension"})["CARD_BENEFIT_TYPES"] == (
        "pension", "heating_subsidy")


@pytest.mark.parametrize("raw", [",", "Pension", "talent subsidy", "x" * 33, "养老金"])
def test_benefit_types_must_be_short_lower_case_identifiers(raw: str) -> None:
    with pytest.raises(ConfigError, match="CARD_BENEFIT_TYPES"):
        load_config({"CARD_BENEFIT_TYPES": raw})


def test_notice_attempts_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="CARD_NOTIFY_MAX_ATTEMPTS"):
        load_config({"CARD_NOTIFY_MAX_ATTEMPTS": "0"})


@pytest.mark.parametrize(("fen", "text"), [(0, "0.00元"), (5, "0.05元"), (150005, "1500.05元"), (10**11, "1000000000.00元")])
def test_amounts_are_formatted_from_integer_fen(fen: int, text: str) -> None:
    assert format_yuan(fen) == text
