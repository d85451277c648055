"""The start-up checks' pieces (app/startup_checks.py): what a refusal may say, and which columns they sample.
Through ``serve`` and ``check`` on real databases: tests/integration/test_startup_checks.py."""
from __future__ import annotations

import base64

import pytest
from sqlalchemy import make_url

from app.keys import BLIND_INDEXED_COLUMNS, ENCRYPTED_COLUMNS
from app.platform.crypto import Keyring
from app.platform.models import Base
from app.platform.store import RedisStore
from app.startup_checks import StartupRefused, StartupReport, _open, shown_database_url

RING = Keyring.from_setting("k1:" + base64.b64encode(b"1" * 32).decode())


def refusal(value: str, development: bool = False) -> str:
    with pytest.raises(StartupRefused) as refused:
        _open(RING, value, "citizen.name", "citizens.name_enc", development)
    return str(refused.value)


def test_a_value_that_opens_gives_its_key_id() -> None:
    assert _open(RING, RING.encrypt("陈小明", "citizen.name"), "citizen.name", "citizens.name_enc") == "k1"


def test_a_refusal_names_the_column_never_the_value() -> None:
    plaintext = refusal("陈小明")  # stored unencrypted by mistake: no key id
    assert "citizens.name_enc" in plaintext and "陈小明" not in plaintext
    odd_id = refusal("陈小明$" + base64.b64encode(b"x" * 40).decode())  # the text before "$" is no key id
    assert "not shown" in odd_id and "陈小明" not in odd_id
    assert "no key 'k9'" in refusal("k9$" + base64.b64encode(b"x" * 40).decode())
    phone = refusal("13800138000$abc")  # a phone number stored unencrypted, with a "$" in it: digits are no key id
    assert phone == ("CARD_DATA_KEYS has no key (an id of unexpected characters, not shown), under which citizens.name_enc "
                     "values are stored: list it after the current key (remove a key only after `citizencard keys reencrypt`)")


def test_a_damaged_value_or_a_wrong_purpose_under_a_listed_key_does_not_open() -> None:
    assert "the key 'k1' in CARD_DATA_KEYS does not open citizens.name_enc" in refusal("k1$abc")  # not base64
    assert "does not open" in refusal(RING.encrypt("陈小明", "citizen.phone"))


def test_every_encrypted_column_is_sampled_at_start_up_and_moved_by_reencrypt() -> None:
    sampled = {(model.__tablename__, column) for model, column, _purpose in ENCRYPTED_COLUMNS}
    encrypted = {(table.name, column.name) for table in Base.metadata.sorted_tables for column in table.columns
                 if column.name.endswith("_enc")}
    assert sampled == encrypted


def test_with_the_development_key_a_refusal_says_that_card_data_keys_is_not_set() -> None:
    unset = "CARD_DATA_KEYS is not set, so the development key is in use, and "
    assert refusal("k9$" + base64.b64encode(b"x" * 40).decode(), development=True) == (
        unset + "citizens.name_enc values are stored under key 'k9': set CARD_DATA_KEYS to the keys they were encrypted with")
    assert refusal(RING.encrypt("陈小明", "citizen.phone"), development=True) == (
        unset + "it does not open citizens.name_enc values: set CARD_DATA_KEYS to the keys they were encrypted with")


def test_every_blind_index_beside_its_encrypted_value_is_checked_at_start_up() -> None:
    checked = {(model.__tablename__, index) for model, index, _value, _purpose, _index_of in BLIND_INDEXED_COLUMNS}
    index_only = {("memberships", "id_number_index")}  # no encrypted value beside it: nothing to recompute from
    indexes = {(table.name, column.name) for table in Base.metadata.sorted_tables for column in table.columns
               if column.name.endswith("_index")}
    assert checked == indexes - index_only
    assert all(value.endswith("_enc") for _model, _index, value, _purpose, _index_of in BLIND_INDEXED_COLUMNS)


def test_the_summary_names_the_database_and_the_store_and_counts_values_by_key() -> None:
    report = StartupReport("postgresql+psycopg://cc:***@db/cc", "redis at db:6379 (REDIS_URL)", "abc123", {"k2": 5, "k1": 2}, 3)
    assert report.summary() == ("database postgresql+psycopg://cc:***@db/cc at schema abc123 (head); store redis at db:6379 (REDIS_URL) "
                                "answers; 7 checked values open (keys k2: 5, k1: 2); 3 checked blind indexes match")
    empty = StartupReport("sqlite:///cc.sqlite", "embedded", "abc123", {}, 0)
    assert empty.summary() == "database sqlite:///cc.sqlite at schema abc123 (head); store embedded answers; no encrypted values stored yet"


def test_a_redis_store_is_described_by_host_and_port_never_its_password() -> None:
    store = RedisStore.from_url("redis://user:hunter2@cache.internal:6380/2")
    assert store.describe() == "redis at cache.internal:6380 (REDIS_URL)"
    assert RedisStore.from_url("unix://:hunter2@/run/redis.sock").describe() == "redis at /run/redis.sock (REDIS_URL)"


def test_the_database_is_shown_without_its_password_or_its_query_string() -> None:
    assert shown_database_url(make_url("postgresql://u@h/db?password=Sekret2")) == "postgresql://u@h/db"
    assert shown_database_url(make_url("postgresql+psycopg://cc:Sekret1@db:5433/cc?sslmode=require&password=Sekret2")) == (
        "postgresql+psycopg://cc:***@db:5433/cc")
    assert shown_database_url(make_url("sqlite:////var/lib/cc/cc.sqlite")) == "sqlite:////var/lib/cc/cc.sqlite"
