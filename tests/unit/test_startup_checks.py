"""The data-key probe's pieces (app/startup_checks.py): what a refusal may say, and which columns it samples.
Through ``serve`` and ``check`` on real databases: tests/integration/test_startup_checks.py."""
from __future__ import annotations

import base64

import pytest

from app.crypto import Keyring
from app.models import Base
from app.services.keys import ENCRYPTED_COLUMNS
from app.startup_checks import StartupRefused, StartupReport, _open

RING = Keyring.from_setting("k1:" + base64.b64encode(b"1" * 32).decode())


def refusal(value: str) -> str:
    with pytest.raises(StartupRefused) as refused:
        _open(RING, value, "citizen.name", "citizens.name_enc")
    return str(refused.value)


def test_a_value_that_opens_gives_its_key_id() -> None:
    assert _open(RING, RING.encrypt("陈小明", "citizen.name"), "citizen.name", "citizens.name_enc") == "k1"


def test_a_refusal_names_the_column_never_the_value() -> None:
    plaintext = refusal("陈小明")  # stored unencrypted by mistake: no key id
    assert "citizens.name_enc" in plaintext and "陈小明" not in plaintext
    odd_id = refusal("陈小明$" + base64.b64encode(b"x" * 40).decode())  # the text before "$" is no key id
    assert "not shown" in odd_id and "陈小明" not in odd_id
    assert "no key 'k9'" in refusal("k9$" + base64.b64encode(b"x" * 40).decode())


def test_a_damaged_value_or_a_wrong_purpose_under_a_listed_key_does_not_open() -> None:
    assert "the key 'k1' in CARD_DATA_KEYS does not open citizens.name_enc" in refusal("k1$abc")  # not base64
    assert "does not open" in refusal(RING.encrypt("陈小明", "citizen.phone"))


def test_every_encrypted_column_is_sampled_at_start_up_and_moved_by_reencrypt() -> None:
    sampled = {(model.__tablename__, column) for model, column, _purpose in ENCRYPTED_COLUMNS}
    encrypted = {(table.name, column.name) for table in Base.metadata.sorted_tables for column in table.columns
                 if column.name.endswith("_enc")}
    assert sampled == encrypted


def test_the_summary_counts_values_by_key() -> None:
    assert StartupReport("abc123", {"k2": 5, "k1": 2}).summary() == "schema at abc123 (head); 7 sampled values open (keys k2: 5, k1: 2)"
    assert StartupReport("abc123", {}).summary() == "schema at abc123 (head); no encrypted values stored yet"
