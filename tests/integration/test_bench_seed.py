"""The benchmark's seeded database is one the app accepts: bench/seed.py writes citizens by COPY,
outside the services, so nothing else checks that its rows look like the app's own."""
from __future__ import annotations

import sys
from pathlib import Path

from app import create_app
from app.identity.people import citizen_by_id_number
from app.runtime import EXTENSION_KEY
from app.server import upgrade_schema
from app.startup_checks import run_startup_checks

from ..backends import fresh_postgres, redis_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from seed import seed_population, synthetic_id_number  # noqa: E402


def test_a_seeded_bench_database_passes_the_start_up_checks_and_finds_citizens_by_id_number(tmp_path, worker_id) -> None:  # type: ignore[no-untyped-def]
    url = fresh_postgres(worker_id, "bench")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1),
                      "REDIS_URL": redis_url(worker_id), "CARD_INSTANCE_PATH": str(tmp_path)})
    upgrade_schema(app)
    seed_population(app, url.replace("+psycopg", ""), citizens=20, accounts=2)
    report = run_startup_checks(app)  # raises StartupRefused for a row unlike the app's own
    assert report.indexes > 0 and sum(report.opened.values()) > 0
    with app.app_context():
        found = citizen_by_id_number(app.extensions[EXTENSION_KEY], synthetic_id_number(7))
    assert found is not None and found.id == 8


def test_synthetic_id_numbers_are_valid_and_distinct_far_beyond_21000_citizens() -> None:
    """The old number repeated every 21,000 citizens, so any larger bench seed hit the unique index."""
    from seed import MAX_CITIZENS, synthetic_id_number

    from app.identity import idnumber

    sample = [*range(0, 100_000), *range(MAX_CITIZENS - 1000, MAX_CITIZENS)]
    numbers = [synthetic_id_number(i) for i in sample]
    assert len(set(numbers)) == len(numbers)
    assert all(idnumber.validate(number) == number for number in numbers[::997])
    assert MAX_CITIZENS > 10_000_000
    assert {number[6:10] for number in numbers[:70]} >= {"1940", "2009"}  # small seeds span every age


def test_the_same_work_floor_accepts_a_fresh_code_once_and_records_it_on_the_products_schema(tmp_path, worker_id) -> None:  # type: ignore[no-untyped-def]
    """bench/same_work_app.py writes its own INSERT against a copy of ``verifications``: when the
    table gained the NOT NULL partition key ``code_step`` (issue 19) every floor request failed with
    a 500 and the benchmark printed thousands of errors. Its one accepted verification must work."""
    import argparse
    import json
    import secrets
    import time

    import psycopg
    from same_work_app import PATH, TABLE, create_same_work_app, create_table

    from qr import payload, totp
    from scenes.signing import authorization_header

    url = fresh_postgres(worker_id, "bench")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1),
                      "REDIS_URL": redis_url(worker_id), "CARD_INSTANCE_PATH": str(tmp_path)})
    upgrade_schema(app)
    raw_url = url.replace("+psycopg", "")
    population = seed_population(app, raw_url, citizens=3, accounts=1)
    create_table(raw_url)
    with psycopg.connect(raw_url) as conn:
        partner_pk = conn.execute("SELECT id FROM partners WHERE partner_id = %s", (population.partner_id,)).fetchone()[0]  # type: ignore[index]
    options = argparse.Namespace(database_url=raw_url, redis_url=redis_url(worker_id), instance_path=str(tmp_path),
                                 partner_id=population.partner_id, partner_secret=population.partner_secret, partner_pk=partner_pk)
    client = create_same_work_app(options).test_client()
    pseudonym, seed = population.devices[0]
    step = totp.time_step(time.time())
    code = payload.encode(payload.CodePayload(pseudonym, step, 0, totp.otp(seed, step, 0)))

    def verify() -> dict:  # type: ignore[type-arg]
        body = json.dumps({"code": code, "scene": "transit", "terminal_id": "gate-1"}).encode()
        auth = authorization_header(population.partner_id, population.partner_secret, "POST", PATH, body,
                                    int(time.time()), secrets.token_hex(12))
        answer = client.post(PATH, data=body, headers={"Authorization": auth, "Content-Type": "application/json"})
        assert answer.status_code == 200, answer.get_data(as_text=True)[-500:]
        return answer.get_json()  # type: ignore[no-any-return]

    assert verify() == {"accepted": True}
    assert verify() == {"accepted": False}  # the same code again: used
    with psycopg.connect(raw_url) as conn:
        rows = conn.execute(f"SELECT accepted, code_step FROM {TABLE} ORDER BY created_at").fetchall()
    assert rows == [(True, step), (False, step)]
