"""Roster import: validation by line, idempotence, updates, and the CLI."""
from __future__ import annotations

import json
import logging
from importlib import resources

import pytest
from click.testing import CliRunner

from app.cli import main
from app.identity.models import Citizen
from app.platform.db import db

from ..helpers import ApiClient, roster_text

SAMPLES = resources.files("app").joinpath("samples")


def test_the_sample_roster_imports_cleanly(api: ApiClient) -> None:
    report = api.import_sample_roster()
    assert (report.inserted, report.updated, report.unchanged, report.rejected) == (12, 0, 0, [])


def test_reimporting_the_same_file_changes_nothing(api: ApiClient) -> None:
    api.import_sample_roster()
    with api.app.app_context():
        before = [(c.id, c.name_enc, c.phone_enc, c.id_number_enc, c.updated_at) for c in db.session.query(Citizen).order_by(Citizen.id)]
    report = api.import_sample_roster()
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 12)
    with api.app.app_context():
        after = [(c.id, c.name_enc, c.phone_enc, c.id_number_enc, c.updated_at) for c in db.session.query(Citizen).order_by(Citizen.id)]
    assert after == before


def test_changed_rows_are_updated(api: ApiClient) -> None:
    api.import_roster(roster_text([("陈小明", "441900198506151235", "13800138000", "0")]))
    report = api.import_roster(roster_text([("陈小明", "441900198506151235", "13900000000", "1")]))
    assert (report.inserted, report.updated) == (0, 1)


def test_each_bad_row_is_reported_by_line_and_reason(api: ApiClient) -> None:
    report = api.import_roster(SAMPLES.joinpath("roster-with-errors.csv").read_text(encoding="utf-8"))
    assert report.inserted == 2
    assert report.rejected == [
        (4, "id_number_bad_check_digit"),
        (5, "id_number_bad_birth_date"),
        (6, "id_number_bad_region"),
        (7, "id_number_wrong_length"),
        (8, "duplicate_in_file (first at line 2)"),
        (9, "bad_name"),
        (10, "bad_insured (must be 0 or 1)"),
    ]


@pytest.mark.parametrize(("row", "reason"), [
    ("陈小明,441900198506151235,1380013800,1", "bad_phone"),
    ("陈小明,441900198506151235,13800138000", "wrong_column_count"),
    ("陈小明,441900198506151235,13800138000,1,extra", "wrong_column_count"),
    ("陈小明,441900198506151235,13800138000,1,1,1", "wrong_column_count"),
])
def test_row_shape_errors(api: ApiClient, row: str, reason: str) -> None:
    header = "name,id_number,phone,insured" + (",disability" if row.count(",") == 5 else "")
    report = api.import_roster(header + "\n" + row + "\n")
    assert report.rejected == [(2, reason)]


def test_the_optional_disability_column(api: ApiClient) -> None:
    report = api.import_roster("name,id_number,phone,insured,disability\n"
                               "陈小明,441900198506151235,13800138000,1,1\n李建国,441900195008281658,13800138488,1,yes\n")
    assert (report.inserted, report.rejected) == (1, [(3, "bad_disability (must be 0 or 1)")])


def _run_cli(api: ApiClient, args: list[str]):  # type: ignore[no-untyped-def]
    from flask.cli import ScriptInfo

    runner = CliRunner()
    return runner.invoke(main, args, obj=ScriptInfo(create_app=lambda: api.app))


def test_cli_import_reports_rejections_and_exits_1(api: ApiClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = str(SAMPLES.joinpath("roster-with-errors.csv"))
    result = _run_cli(api, ["roster", "import", path])
    assert result.exit_code == 1
    assert "line 4: rejected: id_number_bad_check_digit" in result.output
    assert "inserted 2, updated 0, unchanged 0, rejected 7" in result.output
    assert "441900" not in result.output and "441900" not in caplog.text  # no ID numbers in output or logs


def test_cli_import_of_the_sample_exits_0(api: ApiClient) -> None:
    result = _run_cli(api, ["roster", "import", str(SAMPLES.joinpath("roster.csv"))])
    assert result.exit_code == 0 and "inserted 12" in result.output


def test_cli_refuses_a_wrong_header(api: ApiClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,id,phone\nx,y,z\n", encoding="utf-8")
    result = _run_cli(api, ["roster", "import", str(bad)])
    assert result.exit_code == 1 and "header must be exactly name,id_number,phone,insured" in result.output


def test_cli_refuses_a_file_that_is_not_utf8(api: ApiClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "gbk.csv"
    bad.write_bytes("name,id_number,phone,insured\n陈小明,441900198506151235,13800138000,1\n".encode("gbk"))
    result = _run_cli(api, ["roster", "import", str(bad)])
    assert result.exit_code == 1 and "line 2: not UTF-8 text (byte 1 of the line is 0xb3)" in result.output


def test_cli_partner_create_prints_json_once_and_list_hides_the_secret(api: ApiClient) -> None:
    result = _run_cli(api, ["partner", "create", "--name", "Dongguan Bus", "--scenes", "transit,culture", "--json"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert set(created) == {"partner_id", "secret"}
    listing = _run_cli(api, ["partner", "list"]).output
    assert created["partner_id"] in listing and "culture,transit" in listing and created["secret"] not in listing


def test_cli_partner_create_refuses_unknown_scenes(api: ApiClient) -> None:
    result = _run_cli(api, ["partner", "create", "--name", "X", "--scenes", "transit,moon"])
    assert result.exit_code == 2 and "unknown scenes: moon" in result.output


@pytest.mark.parametrize("name", ["", "x" * 101, "Metro\nLine 2"])
def test_cli_partner_create_refuses_bad_names(api: ApiClient, name: str) -> None:
    result = _run_cli(api, ["partner", "create", "--name", name, "--scenes", "transit"])
    assert result.exit_code == 2 and "1-100 printable characters" in result.output
