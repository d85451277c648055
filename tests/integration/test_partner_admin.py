"""`citizencard partner ...`: scenes, secret rotation with a grace period, disabling, terminals, members."""
from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from app.cli import main

from ..helpers import PERSON, ApiClient
from .test_login import error_code

BODY = json.dumps({"code": "x", "scene": "transit", "terminal_id": "t1"}).encode()


def cli(api: ApiClient, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: api.app))


def test_grant_and_revoke_scenes(api: ApiClient) -> None:
    partner = api.partner(("transit",))
    assert cli(api, "partner", "grant", partner["partner_id"], "medical,culture").output.strip().endswith("culture,medical,transit")
    assert cli(api, "partner", "revoke", partner["partner_id"], "transit").output.strip().endswith("culture,medical")
    last = cli(api, "partner", "revoke", partner["partner_id"], "culture,medical")
    assert last.exit_code == 2 and "keeps at least one scene or role" in last.output
    assert cli(api, "partner", "grant", partner["partner_id"], "moon").exit_code == 2


def test_roles_are_granted_and_revoked_and_a_role_only_partner_verifies_nowhere(api: ApiClient) -> None:
    created = cli(api, "partner", "create", "--name", "Dongguan Rural Bank", "--roles", "bank", "--json")
    bank = json.loads(created.output)
    assert "\tbank\tDongguan Rural Bank" in cli(api, "partner", "list").output
    assert cli(api, "partner", "roles", bank["partner_id"], "--grant", "disburse").output.strip().endswith("bank,disburse")
    assert cli(api, "partner", "roles", bank["partner_id"], "--grant", "teller").exit_code == 2
    assert cli(api, "partner", "roles", bank["partner_id"], "--grant", "bank", "--revoke", "bank").exit_code == 2
    last = cli(api, "partner", "roles", bank["partner_id"], "--revoke", "bank,disburse")
    assert last.exit_code == 2 and "at least one scene or role" in last.output
    code = api.code(api.bound_citizen())
    answer = api.verify(bank, code, terminal_id="t1")
    assert answer.status_code == 200 and answer.json["reason"] == "scene_not_permitted"
    assert cli(api, "partner", "create", "--name", "Nobody").exit_code == 2


def test_require_role_refuses_a_partner_without_it(api: ApiClient) -> None:
    from app.partners.partners import require_partner, require_role
    from app.platform.errors import AppError

    bank = api.partner((), name="Bank", roles=("bank",))
    with api.app.app_context():
        view = require_partner(api.rt, bank["partner_id"])
        require_role(view, "bank")
        with pytest.raises(AppError) as refused:
            require_role(view, "disburse")
    assert (refused.value.code, refused.value.http_status) == ("role_required", 403)


def test_a_rotated_secret_keeps_the_old_one_valid_for_the_grace_period(api: ApiClient) -> None:
    partner = api.partner()
    rotated = cli(api, "partner", "rotate-secret", partner["partner_id"], "--grace", "3600", "--json")
    new = {**partner, "secret": json.loads(rotated.output)["secret"]}
    api.rt.partner_cache.clear()  # as after the 10 s a server keeps a partner
    assert api.signed_post(new, BODY).status_code == 200
    assert api.signed_post(partner, BODY).status_code == 200  # the old secret, within the grace period
    api.clock.advance(3601)
    api.rt.partner_cache.clear()
    assert error_code(api.signed_post(partner, BODY)) == "signature_invalid"
    assert api.signed_post(new, BODY, timestamp=int(api.clock.time())).status_code == 200


def test_disable_refuses_the_partner(api: ApiClient) -> None:
    partner = api.partner()
    assert cli(api, "partner", "disable", partner["partner_id"]).exit_code == 0
    api.rt.partner_cache.clear()
    assert error_code(api.signed_post(partner, BODY)) == "partner_disabled"
    assert "disabled" in cli(api, "partner", "list").output


def test_terminals_are_registered_one_by_one_or_from_a_file(api: ApiClient, tmp_path: Any) -> None:
    partner = api.partner(terminals=())
    added = cli(api, "partner", "terminal", "add", partner["partner_id"], "--terminal-id", "bus-88-front",
                "--name", "Front door", "--location", "Bus 88")
    assert added.exit_code == 0
    sheet = tmp_path / "t.csv"
    sheet.write_text("terminal_id,name,location\ngate-1,Gate 1,Hall\nbad id,Gate,Hall\n", encoding="utf-8")
    refused = cli(api, "partner", "terminal", "import", partner["partner_id"], str(sheet))
    assert refused.exit_code == 2 and "line 3: terminal_id" in refused.output
    assert cli(api, "partner", "terminal", "list", partner["partner_id"]).output == "bus-88-front\tFront door\tBus 88\n"


def test_members_from_a_csv_all_or_nothing(api: ApiClient, tmp_path: Any) -> None:
    token = api.bound_citizen()
    campus = api.partner(("campus",), "Campus")
    sheet = tmp_path / "m.csv"
    sheet.write_text(f"id_number,member_id\n{PERSON['id_number']},S9\n12345,S10\n", encoding="utf-8")
    result = cli(api, "partner", "members", campus["partner_id"], str(sheet))
    assert result.exit_code == 1 and "line 3: rejected: id_number_wrong_length" in result.output
    assert "roster unchanged" in result.output and "12345" not in result.output.replace("line 3", "")
    assert api.verify(campus, api.code(token), scene="campus").json["reason"] == "not_a_member"
    sheet.write_text(f"id_number,member_id\n{PERSON['id_number']},S9\n", encoding="utf-8")
    assert cli(api, "partner", "members", campus["partner_id"], str(sheet)).exit_code == 0
    assert api.verify(campus, api.code(token), scene="campus").json["subject"]["member_id"] == "S9"


def test_only_campus_partners_and_libraries_keep_rosters(api: ApiClient, tmp_path: Any) -> None:
    metro = api.partner(("transit",))
    sheet = tmp_path / "m.csv"
    sheet.write_text(f"id_number,member_id\n{PERSON['id_number']},S9\n", encoding="utf-8")
    result = cli(api, "partner", "members", metro["partner_id"], str(sheet))
    assert result.exit_code == 2 and "only campus partners and libraries" in result.output
    body = json.dumps({"members": [{"id_number": PERSON["id_number"], "member_id": "A"}]}).encode()
    response = api.signed_post(metro, body, path="/api/partner/v1/members", method="PUT")
    assert (response.status_code, error_code(response)) == (403, "members_not_permitted")


def test_a_terminal_file_with_a_repeated_id_is_refused(api: ApiClient, tmp_path: Any) -> None:
    partner = api.partner(terminals=())
    sheet = tmp_path / "t.csv"
    sheet.write_text("terminal_id,name,location\ng1,a,b\ng1,c,d\n", encoding="utf-8")
    result = cli(api, "partner", "terminal", "import", partner["partner_id"], str(sheet))
    assert result.exit_code == 2 and "line 3: duplicate terminal_id g1 (first at line 2)" in result.output


def test_enable_undoes_disable(api: ApiClient) -> None:
    partner = api.partner()
    cli(api, "partner", "disable", partner["partner_id"])
    assert cli(api, "partner", "enable", partner["partner_id"]).exit_code == 0
    api.rt.partner_cache.clear()
    assert api.signed_post(partner, BODY).status_code == 200


@pytest.mark.parametrize("args", [("partner", "disable", "p_nope"), ("partner", "rotate-secret", "p_nope"),
                                  ("partner", "terminal", "list", "p_nope"), ("partner", "terminal", "remove", "p_nope", "gate-1")])
def test_unknown_partners_are_usage_errors(api: ApiClient, args: tuple[str, ...]) -> None:
    result = cli(api, *args)
    assert result.exit_code == 2 and "no partner p_nope" in result.output


def test_a_removed_terminal_is_refused_within_10_s_keeps_its_history_and_can_return(api: ApiClient) -> None:
    from app.partners.terminals import CACHE_SECONDS

    token, partner = api.bound_citizen(), api.partner(terminals=("gate-1", "gate-2"))
    assert api.verify(partner, api.code(token)).json["accepted"] is True
    removed = cli(api, "partner", "terminal", "remove", partner["partner_id"], "gate-1")
    assert removed.exit_code == 0 and "terminal_unknown) within 10 s" in removed.output
    assert cli(api, "partner", "terminal", "list", partner["partner_id"]).output == "gate-2\tGate gate-2\tMetro hall\n"
    api.clock.advance(CACHE_SECONDS)  # the servers' kept copy expires
    assert api.verify(partner, api.code(token)).json["reason"] == "terminal_unknown"
    history = api.client.get("/api/mp/v1/card/verifications", headers=api.bearer(token)).json["items"]
    assert [(item["terminal_id"], item["terminal_location"]) for item in history] == [("gate-1", "Metro hall")]  # the refusal names no card
    again = cli(api, "partner", "terminal", "add", partner["partner_id"], "--terminal-id", "gate-1", "--name", "G", "--location", "Hall")
    assert again.exit_code == 0 and api.verify(partner, api.code(token)).json["accepted"] is True


@pytest.mark.parametrize("terminal_id", ["gate-9", "gate-1"])  # never registered; already removed
def test_removing_a_terminal_that_is_not_registered_is_a_usage_error(api: ApiClient, terminal_id: str) -> None:
    partner = api.partner(terminals=("gate-1",))
    cli(api, "partner", "terminal", "remove", partner["partner_id"], "gate-1")
    result = cli(api, "partner", "terminal", "remove", partner["partner_id"], terminal_id)
    assert result.exit_code == 2 and f"no registered terminal {terminal_id} of {partner['partner_id']}" in result.output


def test_comma_separated_lists_may_have_spaces_around_their_items(api: ApiClient) -> None:
    created = cli(api, "partner", "create", "--name", "Bus", "--scenes", "transit, culture", "--roles", " bank ,", "--json")
    assert created.exit_code == 0, created.output
    partner_id = json.loads(created.output)["partner_id"]
    assert cli(api, "partner", "grant", partner_id, "medical , campus").output.strip().endswith("campus,culture,medical,transit")
    assert cli(api, "partner", "revoke", partner_id, " campus, medical").output.strip().endswith("culture,transit")
    roles = cli(api, "partner", "roles", partner_id, "--grant", "disburse, medical_insurance", "--revoke", " bank")
    assert roles.output.strip().endswith("disburse,medical_insurance")


def test_member_file_rejections_name_file_lines_like_the_roster(api: ApiClient, tmp_path: Any) -> None:
    campus = api.partner(("campus",), "Campus")
    sheet = tmp_path / "m.csv"
    sheet.write_text(f"id_number,member_id\n\n{PERSON['id_number']},S1\n{PERSON['id_number']},S2\n11010519491231002X,S1\n",
                     encoding="utf-8")  # a blank line 2: csv skips it, the lines still count
    result = cli(api, "partner", "members", campus["partner_id"], str(sheet))
    assert result.exit_code == 1
    assert "line 4: rejected: duplicate_id_number (first at line 3)" in result.output
    assert "line 5: rejected: duplicate_member_id (first at line 3)" in result.output


@pytest.mark.parametrize("command", [("terminal", "import"), ("members",)])
def test_a_gbk_file_names_the_line_and_byte_that_is_not_utf8(api: ApiClient, tmp_path: Any, command: tuple[str, ...]) -> None:
    campus = api.partner(("campus",), "Campus", terminals=())
    sheet = tmp_path / "gbk.csv"
    header = "terminal_id,name,location" if command[0] == "terminal" else "id_number,member_id"
    sheet.write_bytes(f"{header}\ng1,东莞,南城\n".encode("gbk"))
    result = cli(api, "partner", *command, campus["partner_id"], str(sheet))
    assert result.exit_code == 2 and "line 2: not UTF-8 text (byte 4 of the line is 0xb6)" in result.output


def test_registering_a_terminal_again_keeps_its_coordinates_and_says_what_happened(api: ApiClient, tmp_path: Any) -> None:
    partner = api.partner(terminals=())["partner_id"]
    place = ("--latitude", "22.95", "--longitude", "113.87")
    added = cli(api, "partner", "terminal", "add", partner, "--terminal-id", "a-1", "--name", "A", "--location", "Hall", *place)
    assert added.output == f"{partner}: terminal a-1 registered\n"
    renamed = cli(api, "partner", "terminal", "add", partner, "--terminal-id", "a-1", "--name", "A2", "--location", "Hall")
    assert renamed.output == f"{partner}: terminal a-1 updated\n"
    assert cli(api, "partner", "terminal", "list", partner).output == "a-1\tA2\tHall\t22.95,113.87\n"  # the lending signal stays on
    sheet = tmp_path / "t.csv"
    sheet.write_text("terminal_id,name,location,latitude,longitude\na-1,A3,Hall,,\nb-1,B,Hall,,\n", encoding="utf-8")
    imported = cli(api, "partner", "terminal", "import", partner, str(sheet))
    assert imported.output == f"{partner}: 2 terminals: 1 registered, 1 updated, 0 restored\n"
    cli(api, "partner", "terminal", "remove", partner, "a-1")
    restored = cli(api, "partner", "terminal", "add", partner, "--terminal-id", "a-1", "--name", "A4", "--location", "Hall")
    assert restored.output == f"{partner}: terminal a-1 restored (was removed)\n"
    cli(api, "partner", "terminal", "remove", partner, "b-1")
    sheet.write_text("terminal_id,name,location\nb-1,B,Hall\n", encoding="utf-8")
    again = cli(api, "partner", "terminal", "import", partner, str(sheet))
    assert again.output == f"{partner}: 1 terminal: 0 registered, 0 updated, 1 restored\n"
    moved = cli(api, "partner", "terminal", "add", partner, "--terminal-id", "a-1", "--name", "A4", "--location", "Hall",
                "--latitude", "23", "--longitude", "114")
    assert moved.exit_code == 0
    assert cli(api, "partner", "terminal", "list", partner).output == "a-1\tA4\tHall\t23.0,114.0\nb-1\tB\tHall\n"


@pytest.mark.parametrize("command", ["grant", "revoke"])
@pytest.mark.parametrize("scenes", [" , ", ",", ""])
def test_granting_or_revoking_no_scene_is_a_usage_error(api: ApiClient, command: str, scenes: str) -> None:
    partner = api.partner(("transit", "culture"))
    result = cli(api, "partner", command, partner["partner_id"], scenes)
    assert result.exit_code == 2 and "give at least one item" in result.output


@pytest.mark.parametrize(("header", "row", "refusal"), [
    ("terminal_id,name,location", "gate-H01,Gate, H01,Humen",  # an unquoted comma in a cell
     "line 3: wrong_column_count (4 cells, the header has 3: terminal_id,name,location; quote a cell that holds a comma)"),
    ("terminal_id,name,location", "gate-H01,Gate H01",
     "line 3: wrong_column_count (2 cells, the header has 3: terminal_id,name,location)"),
    ("terminal_id,name,location,latitude,longitude", "gate-H01,Gate H01,Humen,22.8",
     "line 3: wrong_column_count (4 cells, the header has 5: terminal_id,name,location,latitude,longitude)"),
])
def test_a_terminal_row_with_the_wrong_number_of_cells_registers_nothing(api: ApiClient, tmp_path: Any, header: str, row: str,
                                                                         refusal: str) -> None:
    partner = api.partner(terminals=())["partner_id"]
    sheet = tmp_path / "t.csv"
    good = "gate-1,Gate 1,Hall" + (",," if header.endswith("longitude") else "")
    sheet.write_text(f"{header}\n{good}\n{row}\n", encoding="utf-8")
    result = cli(api, "partner", "terminal", "import", partner, str(sheet))
    assert result.exit_code == 2 and refusal in result.output
    assert cli(api, "partner", "terminal", "list", partner).output == ""


def test_a_member_row_with_the_wrong_number_of_cells_is_refused_in_the_same_words(api: ApiClient, tmp_path: Any) -> None:
    campus = api.partner(("campus",), "Campus")["partner_id"]
    sheet = tmp_path / "m.csv"
    sheet.write_text(f"id_number,member_id\n{PERSON['id_number']},S1,Year 2\n", encoding="utf-8")
    result = cli(api, "partner", "members", campus, str(sheet))
    assert result.exit_code == 2
    assert "line 2: wrong_column_count (3 cells, the header has 2: id_number,member_id; quote a cell that holds a comma)" in result.output


@pytest.mark.parametrize("option", ["--grant", "--revoke"])
@pytest.mark.parametrize("roles", [" , ", ",", ""])
def test_granting_or_revoking_no_role_is_a_usage_error(api: ApiClient, option: str, roles: str) -> None:
    bank = api.partner((), name="Bank", roles=("bank",))["partner_id"]
    result = cli(api, "partner", "roles", bank, option, roles)
    assert result.exit_code == 2 and "give at least one item" in result.output
    shown = cli(api, "partner", "roles", bank)  # neither option: shows the roles
    assert (shown.exit_code, shown.output) == (0, f"{bank}: bank\n")
