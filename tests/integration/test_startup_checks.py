"""Start-up checks (app/startup_checks.py) through ``citizencard serve`` and ``citizencard check``,
on SQLite and PostgreSQL: a schema that is not at the migrations' head, stored values that
CARD_DATA_KEYS cannot open, blind indexes CARD_BLIND_INDEX_KEY does not remake, or a store that does
not answer, stop ``serve`` with one line and exit 1. gunicorn is never started: ``os.execv`` is
recorded instead of made."""
from __future__ import annotations

import base64
import io
import os
import re
import socket
import sys
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask_migrate import downgrade, upgrade
from sqlalchemy import make_url, select, text, update

import app as app_package
from app import startup_checks
from app.cli import main
from app.identity import people
from app.identity.models import Citizen
from app.identity.roster import import_roster
from app.partners.models import Partner
from app.partners.partners import create_partner
from app.platform.crypto import Keyring
from app.platform.db import db
from app.runtime import runtime
from app.service_desk.staff import create_staff
from scenes.registry import SCENE_NAMES

from .. import backends
from ..helpers import PERSON, STAFF_PASSWORD, dispose

KEY_A = "ka:" + base64.b64encode(b"A" * 32).decode()
KEY_A_WRONG = "ka:" + base64.b64encode(b"W" * 32).decode()  # the right id, the wrong key
KEY_B = "kb:" + base64.b64encode(b"B" * 32).decode()
INDEX_KEY_A = base64.b64encode(b"a" * 32).decode()
INDEX_KEY_B = base64.b64encode(b"b" * 32).decode()
UPGRADE_HINT = "run `citizencard db upgrade` (or serve without --no-migrate)"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Any, worker_id: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database, and the environment ``citizencard`` reads pointing at it (data key A)."""
    url = f"sqlite:///{tmp_path}/startup.sqlite" if request.param == "sqlite" else backends.fresh_postgres(worker_id, "startup")
    for name in ("REDIS_URL", "CARD_ENV", "CARD_BLIND_INDEX_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CARD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CARD_DATA_KEYS", KEY_A)
    return url


@pytest.fixture(autouse=True)
def built_apps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every app the commands build (they call ``app.create_app``), disposed after the test."""
    real, built = app_package.create_app, []

    def recording(*args: Any, **kwargs: Any) -> Any:
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(app_package, "create_app", recording)
    yield built
    for each in built:
        dispose(each)


@pytest.fixture
def execs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argument lists ``serve`` would have exec'd gunicorn with."""
    calls: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda _path, argv: calls.append(list(argv)))
    return calls


def command(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def migrated(url: str, revision: str | None = None) -> Any:
    """An app on ``url`` (data key A) with the schema upgraded to the head, then down to ``revision``."""
    application = app_package.create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None, "CARD_DATA_KEYS": KEY_A})
    with application.app_context():
        upgrade()
        if revision is not None:
            downgrade(revision=revision)
    return application


def store_under_key_a(url: str) -> str:
    """Migrate, then store the sample roster, a partner and a staff account under key A; returns the partner's secret."""
    application = migrated(url)
    roster = resources.files("app").joinpath("samples/roster.csv").read_text(encoding="utf-8")
    with application.app_context():
        assert not import_roster(runtime(), io.StringIO(roster)).rejected
        create_staff(runtime(), "chen.agent", "agent", STAFF_PASSWORD)
        return create_partner(runtime(), "Metro", ["transit"], SCENE_NAMES).secret


def rewrite(url: str, model: Any, column: str, position: int, value: str | None) -> int:
    """Set ``column`` of the ``position``-th row by primary key (negative: from the newest) to ``value``,
    as a damaged or differently-keyed row; returns the row's id."""
    application = migrated(url)
    with application.app_context():
        row_id = list(db.session.scalars(select(model.id).order_by(model.id)))[position]
        db.session.execute(update(model).where(model.id == row_id).values({column: value}))
        db.session.commit()
    return row_id


def under_key_b(plaintext: str, purpose: str) -> str:
    return Keyring.from_setting(KEY_B).encrypt(plaintext, purpose)


def one_line(result: Result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def assert_private_data_not_in(output: str, secret: str) -> None:
    for private in (KEY_A.split(":")[1], KEY_A_WRONG.split(":")[1], KEY_B.split(":")[1], INDEX_KEY_A, INDEX_KEY_B, secret,
                    PERSON["name"], PERSON["id_number"]):
        assert private not in output


def revision_of(url: str) -> str:
    """The database's Alembic revision, read directly."""
    application = app_package.create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None})
    with application.app_context():
        return db.session.scalar(text("SELECT version_num FROM alembic_version"))


def unused_port() -> int:
    """A loopback port nothing listens on (bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_refuses_values_under_a_key_the_keyring_lacks(database: str, execs: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    secret = store_under_key_a(database)
    monkeypatch.setenv("CARD_DATA_KEYS", KEY_B)
    refused = command("serve", "--no-migrate")
    assert refused.exit_code == 1 and execs == []
    assert one_line(refused) == ("Error: refusing to start: CARD_DATA_KEYS has no key 'ka', under which citizens.id_number_enc "
                                 "values are stored: list it after the current key (remove a key only after "
                                 "`citizencard keys reencrypt`)")
    assert_private_data_not_in(refused.output, secret)
    monkeypatch.delenv("CARD_DATA_KEYS")  # missing altogether: the development key, which opens nothing here
    checked = command("check")
    assert checked.exit_code == 1 and one_line(checked) == (
        "Error: CARD_DATA_KEYS is not set, so the development key is in use, and citizens.id_number_enc values are stored "
        "under key 'ka': set CARD_DATA_KEYS to the keys they were encrypted with")


def test_serve_refuses_a_wrong_key_under_the_right_id(database: str, execs: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    secret = store_under_key_a(database)
    monkeypatch.setenv("CARD_DATA_KEYS", KEY_A_WRONG)
    refused = command("serve")  # the keys are checked before migrating
    assert refused.exit_code == 1 and execs == []
    assert ("Error: refusing to start: the key 'ka' in CARD_DATA_KEYS does not open citizens.id_number_enc values stored "
            "under that id: it is not the key they were encrypted with") in refused.output
    assert_private_data_not_in(refused.output, secret)


def test_values_under_an_older_key_still_listed_pass_and_after_reencryption_it_may_go(
        database: str, execs: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    store_under_key_a(database)
    monkeypatch.setenv("CARD_DATA_KEYS", f"{KEY_B},{KEY_A}")  # rotated: kb encrypts, ka still decrypts
    served = command("serve", "--no-migrate", "--bind", "127.0.0.1:8123", "--workers", "2")
    assert served.exit_code == 0, served.output
    assert [argv[:2] + argv[3:5] + argv[6:] for argv in execs] == [[sys.executable, "-c", "127.0.0.1:8123", "2", ""]]
    # every value of the small tables: 12 citizens' 3 columns; 1 partner secret; 1 staff TOTP seed
    assert re.fullmatch(r"start-up checks passed: database \S+ at schema [0-9a-f]+ \(head\); store embedded \(table kv_entries "
                        r"in the app's database\) answers; 38 checked values open \(keys ka: 38\); 12 checked blind indexes match",
                        one_line(served))
    assert command("keys", "reencrypt").exit_code == 0
    monkeypatch.setenv("CARD_DATA_KEYS", KEY_B)
    checked = command("check")
    assert checked.exit_code == 0 and one_line(checked).endswith("; 38 checked values open (keys kb: 38); 12 checked blind indexes match")


def test_an_empty_database_is_refused_without_migrating_and_passes_once_migrated(database: str, execs: list[list[str]]) -> None:
    refused = command("serve", "--no-migrate")
    assert refused.exit_code == 1 and execs == []
    assert one_line(refused).startswith("Error: refusing to start: the database has no schema revision (empty, or not made by "
                                        "migrations); the code needs revision ")
    assert one_line(refused).endswith(UPGRADE_HINT)
    served = command("serve")
    assert served.exit_code == 0 and len(execs) == 1
    assert served.output.strip().splitlines()[-1].endswith("(head); store embedded (table kv_entries in the app's database) "
                                                           "answers; no encrypted values stored yet")


def test_a_schema_one_revision_behind_the_head_is_refused(database: str, execs: list[list[str]]) -> None:
    dispose(migrated(database, revision="-1"))
    refused = command("serve", "--no-migrate")
    assert refused.exit_code == 1 and execs == []
    line = one_line(refused)
    assert line.startswith("Error: refusing to start: the database schema is at revision ") and line.endswith(UPGRADE_HINT)
    assert "behind the code's; the code needs revision " in line
    assert command("check").exit_code == 1
    assert command("serve").exit_code == 0 and len(execs) == 1  # migrating first brings it to the head


def test_a_revision_this_code_does_not_know_is_refused(database: str, execs: list[list[str]]) -> None:
    application = migrated(database)
    with application.app_context(), db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedf00d'"))  # as after a newer release
    refused = command("serve", "--no-migrate")
    assert refused.exit_code == 1 and execs == []
    assert one_line(refused).startswith("Error: refusing to start: the database is at revision f00dfeedf00d, which this "
                                        "code's migrations do not know (migrated by a newer release?)")
    migrating = command("serve")  # the same line before migrating, not alembic's "Can't locate revision"
    assert migrating.exit_code == 1 and execs == []
    assert one_line(migrating) == one_line(refused)


def test_blind_indexes_made_under_another_key_are_refused(database: str, execs: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARD_BLIND_INDEX_KEY", INDEX_KEY_A)
    secret = store_under_key_a(database)
    monkeypatch.setenv("CARD_BLIND_INDEX_KEY", INDEX_KEY_B)
    refused = command("serve", "--no-migrate")
    assert refused.exit_code == 1 and execs == []
    assert one_line(refused) == ("Error: refusing to start: CARD_BLIND_INDEX_KEY is not the key the stored citizens.id_number_index "
                                 "blind indexes were made with (a checked index does not match its decrypted value): set the key "
                                 "they were made with, or roster imports would add every resident again")
    assert_private_data_not_in(refused.output, secret)
    monkeypatch.delenv("CARD_BLIND_INDEX_KEY")  # unset: the development key
    checked = command("check")
    assert checked.exit_code == 1 and one_line(checked).startswith(
        "Error: CARD_BLIND_INDEX_KEY is not set, so the development key is in use, and it is not the key the stored "
        "citizens.id_number_index blind indexes were made with")
    monkeypatch.setenv("CARD_BLIND_INDEX_KEY", INDEX_KEY_A)
    checked = command("check")
    assert checked.exit_code == 0 and one_line(checked).endswith("; 12 checked blind indexes match")


def test_an_empty_database_passes_the_blind_index_check(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dispose(migrated(database))
    monkeypatch.setenv("CARD_BLIND_INDEX_KEY", INDEX_KEY_B)
    checked = command("check")
    assert checked.exit_code == 0 and one_line(checked).endswith("(head); store embedded (table kv_entries in the app's database) "
                                                                 "answers; no encrypted values stored yet")


def test_serve_checks_the_keys_before_it_migrates(database: str, execs: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    store_under_key_a(database)
    dispose(migrated(database, revision="-1"))
    behind = revision_of(database)
    monkeypatch.setenv("CARD_DATA_KEYS", KEY_A_WRONG)
    refused = command("serve")
    assert refused.exit_code == 1 and execs == []
    assert "the key 'ka' in CARD_DATA_KEYS does not open citizens.id_number_enc values" in refused.output.splitlines()[-1]
    assert revision_of(database) == behind  # refused before migrating: still one revision behind


def test_before_migrating_columns_not_created_yet_are_skipped(database: str, execs: list[list[str]]) -> None:
    store_under_key_a(database)
    dispose(migrated(database, revision="7d0c2b9a41e5"))  # before the staff and financial_accounts tables
    served = command("serve")
    assert served.exit_code == 0 and len(execs) == 1, served.output
    assert served.output.strip().splitlines()[-1].endswith("(head); store embedded (table kv_entries in the app's database) "
                                                           "answers; 37 checked values open (keys ka: 37); 12 checked blind indexes match")


def test_a_redis_that_does_not_answer_is_refused(database: str, execs: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    port = unused_port()
    monkeypatch.setenv("REDIS_URL", f"redis://:hunter2redis@127.0.0.1:{port}/0")
    refused = command("serve")
    assert refused.exit_code == 1 and execs == []
    assert one_line(refused) == (f"Error: refusing to start: the store, redis at 127.0.0.1:{port} (REDIS_URL), does not answer "
                                 "(redis: ConnectionError): every verification would fail")
    assert "hunter2redis" not in refused.output
    assert command("check").exit_code == 1


def test_check_names_the_database_without_its_password_and_the_store(
        database: str, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    url = make_url(database)
    if url.get_backend_name() == "postgresql":  # trust authentication: the password is accepted and ignored
        url = url.set(password="hunter2db")  # noqa: S106 (a test value)
    dispose(migrated(url.render_as_string(hide_password=False)))
    monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("REDIS_URL", redis_url)
    checked = command("check")
    redis_at = make_url(redis_url.replace("redis://", "postgresql://"))  # only its host and port are read
    assert checked.exit_code == 0 and one_line(checked).startswith(
        f"ok: database {url.render_as_string(hide_password=True)} at schema ")
    assert f"; store redis at {redis_at.host}:{redis_at.port} (REDIS_URL) answers; " in one_line(checked)
    assert "hunter2db" not in checked.output


def test_every_value_of_a_small_table_is_checked(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A partner in the middle of the table whose secret was rewritten under a key the server lacks."""
    store_under_key_a(database)
    application = migrated(database)
    with application.app_context():
        secrets = [create_partner(runtime(), f"Partner {n}", ["transit"], SCENE_NAMES).secret for n in range(8)]
    rewrite(database, Partner, "secret_enc", 4, under_key_b("a-partner-secret", people.PARTNER_SECRET))
    checked = command("check")
    assert checked.exit_code == 1 and one_line(checked) == (
        "Error: CARD_DATA_KEYS has no key 'kb', under which partners.secret_enc values are stored: list it after the current "
        "key (remove a key only after `citizencard keys reencrypt`)")
    for secret in secrets:
        assert_private_data_not_in(checked.output, secret)


def test_a_large_table_is_sampled_at_both_ends_nulls_skipped_within_a_bounded_window(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store_under_key_a(database)
    application = migrated(database)
    with application.app_context():
        for n in range(11):  # 12 partners, no previous secret (NULL)
            create_partner(runtime(), f"Partner {n}", ["transit"], SCENE_NAMES)
    monkeypatch.setattr(startup_checks, "FULL_CHECK_ROWS", 4)  # "large": only the newest and the oldest 4 rows are read
    rewrite(database, Partner, "previous_secret_enc", 5, under_key_b("old", people.PARTNER_SECRET))  # the 6th of 12: in neither
    assert command("check").exit_code == 0  # a spot check: never a read of the whole table
    rewrite(database, Partner, "previous_secret_enc", -4, under_key_b("old", people.PARTNER_SECRET))  # the newest after 3 NULLs
    checked = command("check")
    assert checked.exit_code == 1 and one_line(checked).startswith(
        "Error: CARD_DATA_KEYS has no key 'kb', under which partners.previous_secret_enc values are stored")


def test_a_damaged_value_is_named_by_its_column_never_its_text(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store_under_key_a(database)
    rewrite(database, Citizen, "phone_enc", 5, "13800138000$abc")  # a phone number stored unencrypted, with a "$"
    checked = command("check")
    assert checked.exit_code == 1 and one_line(checked) == (
        "Error: CARD_DATA_KEYS has no key (an id of unexpected characters, not shown), under which citizens.phone_enc values "
        "are stored: list it after the current key (remove a key only after `citizencard keys reencrypt`)")
    assert command("keys", "reencrypt").output == checked.output  # the same check first
    monkeypatch.setattr(startup_checks, "FULL_CHECK_ROWS", 4)  # the 6th of 12 citizens is not in the check's sample...
    monkeypatch.setenv("CARD_DATA_KEYS", f"{KEY_B},{KEY_A}")
    moved = command("keys", "reencrypt")  # ...so re-encryption meets it
    assert moved.exit_code == 1 and re.fullmatch(
        r"Error: KeyringError: citizens\.phone_enc, row id \d+ does not open: no data key with id \(an id of unexpected "
        r"characters, not shown\)", one_line(moved))
    assert "13800138000" not in checked.output + moved.output


def test_reencrypt_refuses_a_wrong_current_key(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the right id but the wrong key, every row is already "under the current key": 0 moved would read as done."""
    secret = store_under_key_a(database)
    monkeypatch.setenv("CARD_DATA_KEYS", KEY_A_WRONG)
    refused = command("keys", "reencrypt")
    assert refused.exit_code == 1 and one_line(refused) == (
        "Error: the key 'ka' in CARD_DATA_KEYS does not open citizens.id_number_enc values stored under that id: it is not "
        "the key they were encrypted with")
    assert_private_data_not_in(refused.output, secret)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)  # libpq reads a password from the query string
def test_a_password_in_the_database_urls_query_string_is_not_shown(
        database: str, execs: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    url = make_url(database)
    dispose(migrated(database))
    monkeypatch.setenv("DATABASE_URL", url.set(query={"password": "Sekret2"}).render_as_string(hide_password=False))
    checked = command("check")
    served = command("serve", "--no-migrate")
    assert checked.exit_code == 0 and one_line(checked).startswith(f"ok: database {url.render_as_string(hide_password=True)} at schema ")
    assert served.exit_code == 0 and f"database {url.render_as_string(hide_password=True)} at schema " in one_line(served)
    assert "Sekret2" not in checked.output + served.output
