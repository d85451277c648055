"""The concession-misuse signal (docs/data-hub.md "Misuse cases", app/hub/concessions.py): an
elder's card boarding transit at four distinct gates within 30 minutes is flagged once, with no
personal data; a standard-fare card, fewer gates, a slower pace or one gate scanned again are not;
an investigator opens a concession case from the flag; 32 concurrent sweeps make one flag. Both
backends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select

from app.hub.cases import open_case
from app.hub.concessions import Boarding, bursts, sweep_concession_misuse
from app.hub.models import MisuseCase
from app.partners.terminals import register_terminals
from app.platform.db import db
from app.scanning.models import LendingFlag
from app.service_desk.audit import StaffActor
from app.service_desk.models import Staff

from ..helpers import PERSON, ApiClient, new_staff

ELDER = {"name": "李建国", "id_number": "441900195008281658", "phone": "13800138488"}  # born 1950: elder
GATES = [("g1", 22.82, 113.67), ("g2", 22.95, 113.75), ("g3", 23.02, 113.75), ("g4", 23.05, 113.85), ("g5", 23.10, 113.90)]


def holder(api: ApiClient, person: dict[str, str], openid: str) -> str:
    api.import_sample_roster()
    token = api.login(openid)
    assert api.bind(token, person).status_code == 200
    return token


def metro(api: ApiClient) -> dict[str, str]:
    partner = api.partner(("transit",), name="Metro", terminals=())
    with api.app.app_context():
        register_terminals(api.rt, partner["partner_id"], [(gate, gate, "Metro", lat, lon) for gate, lat, lon in GATES])
    return partner


def board(api: ApiClient, partner: dict[str, str], token: str, gates: list[str], every_s: int) -> None:
    for gate in gates:
        assert api.verify(partner, api.code(token), terminal_id=gate).json["accepted"] is True
        api.clock.advance(every_s)


def sweep(api: ApiClient) -> int:
    api.clock.advance(10)
    with api.app.app_context():
        return sweep_concession_misuse(api.rt)


def flags(api: ApiClient) -> list[LendingFlag]:
    with api.app.app_context():
        return list(db.session.scalars(select(LendingFlag).where(LendingFlag.kind == "concession")))


def test_an_elder_card_at_four_gates_in_half_an_hour_is_flagged_once(api: ApiClient) -> None:
    partner = metro(api)
    elder = holder(api, ELDER, "elder")
    board(api, partner, elder, ["g1", "g2", "g2", "g3", "g4"], 240)  # g2 twice: a retry counts once
    assert sweep(api) == 1
    assert sweep(api) == 0  # the window is claimed once
    (flag,) = flags(api)
    assert flag.scans == 5 and flag.seconds == 4 * 240
    assert 20_000 < flag.distance_m < 40_000  # g1 to g4
    assert {column.name for column in LendingFlag.__table__.columns} == {
        "id",
        "card_id",
        "first_verification_id",
        "second_verification_id",
        "distance_m",
        "seconds",
        "created_at",
        "closed_at",
        "kind",
        "scans",
    }  # nothing about the holder
    board(api, partner, elder, ["g5"], 60)  # the same burst goes on: counted from the flag's last boarding
    assert sweep(api) == 0
    api.clock.advance(3600)
    board(api, partner, elder, ["g1", "g2", "g3", "g4"], 120)  # a new burst, later
    assert sweep(api) == 1 and len(flags(api)) == 2


def test_standard_fares_fewer_gates_and_a_slower_pace_are_not_flagged(api: ApiClient) -> None:
    partner = metro(api)
    standard = holder(api, PERSON, "adult")  # born 1985: standard fare
    board(api, partner, standard, ["g1", "g2", "g3", "g4", "g5"], 120)
    assert sweep(api) == 0
    elder = holder(api, ELDER, "elder")
    board(api, partner, elder, ["g1", "g2", "g3", "g1", "g2"], 120)  # three distinct gates
    assert sweep(api) == 0
    api.clock.advance(3600)
    board(api, partner, elder, ["g1", "g2", "g3", "g4"], 11 * 60)  # four gates in 33 minutes
    assert sweep(api) == 0
    assert flags(api) == []


def test_a_case_opened_from_a_concession_flag_is_a_concession_case(api: ApiClient) -> None:
    partner = metro(api)
    board(api, partner, holder(api, ELDER, "elder"), ["g1", "g2", "g3", "g4"], 60)
    assert sweep(api) == 1
    new_staff(api.app, "inv1", "investigator")
    with api.app.app_context():
        staff_id = db.session.scalar(select(Staff.id).where(Staff.username == "inv1"))
        case = open_case(api.rt, StaffActor(staff_id, "inv1", "investigator", None), flags(api)[0].id)
        assert case.kind == "concession" and case.flag_ids == str(flags(api)[0].id)


def test_thirty_two_concurrent_sweeps_make_one_flag(api: ApiClient) -> None:
    partner = metro(api)
    board(api, partner, holder(api, ELDER, "elder"), ["g1", "g2", "g3", "g4"], 60)
    api.clock.advance(10)

    def one(_: int) -> int:
        with api.app.app_context():
            return sweep_concession_misuse(api.rt)

    with ThreadPoolExecutor(32) as pool:
        made = list(pool.map(one, range(32)))
    assert sum(made) == 1
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LendingFlag)) == 1
        assert db.session.scalar(select(func.count()).select_from(MisuseCase)) == 0


def test_a_burst_needs_its_gates_within_the_window_and_one_boarding_after_the_last_sweep() -> None:
    from datetime import UTC, datetime

    start = datetime(2026, 12, 1, 8, tzinfo=UTC)
    runs = [Boarding(f"v{n}", start + timedelta(minutes=10 * n), (1, f"g{n}"), None) for n in range(6)]
    assert [[b.verification_id for b in run] for run in bursts(runs, start, 30, 4)] == [["v0", "v1", "v2", "v3"]]
    assert bursts(runs, start + timedelta(minutes=50), 30, 4) == []  # no boarding after the last sweep
    assert bursts(runs, start, 29, 4) == []  # four gates over 30 minutes
