"""Verification records partitioned by the code's time step on PostgreSQL (issue 19 item 10;
app/scanning/partitions.py): the migration from the plain table on a copy with data, partition
pruning of the hot statements (EXPLAIN), the one-time key through ``INSERT ... SELECT FROM unnest``
with ``ON CONFLICT``, the default partition, and the ensure / retention jobs."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.cli import main
from app.platform.db import db
from app.scanning import card_code, partitions, verification
from app.scanning.partitions import Month, step_of

from .. import backends

BEFORE = "c8e2f4a6b1d3"  # the revision before the partitioning
NOW = datetime.now(UTC).replace(microsecond=0)
SERIAL = "0123456789abcdef"
NBF = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # the certificate spans a month's end
PARTITION = re.compile(r"\bverifications_(p\d{6}|default)\b")


@pytest.fixture
def pg_app(worker_id: str):  # type: ignore[no-untyped-def]
    app = create_app({"SQLALCHEMY_DATABASE_URI": backends.fresh_postgres(worker_id, "partitions"), "REDIS_URL": None})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _old_rows() -> list[dict[str, Any]]:
    dgc1_factor = step_of(NOW) * 100 + 3
    base = {"partner_id": 1, "terminal_id": "gate-1", "scene": "transit", "card_id": None, "reason": None,
            "disclosed": None, "direction": None, "linked_verification_id": None, "carrier": "ecard", "code_hash": None}
    return [
        {**base, "id": "vf_dgc1", "accepted": True, "use_key": f"ABCDEFGHIJKLMNOP:{dgc1_factor}", "created_at": NOW},
        # DGC2 settled two days after its certificate began, in the next month: the row keeps nbf's month
        {**base, "id": "vf_dgc2", "accepted": True, "use_key": f"dgc2:{SERIAL}:7", "created_at": NBF + timedelta(days=2)},
        {**base, "id": "vf_refused", "accepted": False, "reason": "code_used", "use_key": None,
         "created_at": datetime(2025, 3, 15, 8, 0, tzinfo=UTC)},
    ]


def _insert_old(conn: Any) -> None:
    conn.execute(text("INSERT INTO partners (id, partner_id, name, secret_enc, scenes, created_at) "
                      "VALUES (1, 'p_test', 'Metro', 'x', 'transit', now())"))
    conn.execute(text("SET session_replication_role = replica"))  # the certificate needs no card or device (FKs off)
    conn.execute(text("INSERT INTO offline_certificates (serial, card_id, device_id, kid, alg, device_public_key, scenes, "
                      "fare_class, not_before, expires_at, created_at) VALUES (:s, 1, 1, 1, 'ed25519', 'k', 1, 0, :nbf, "
                      ":exp, :nbf)"), {"s": SERIAL, "nbf": NBF, "exp": NBF + timedelta(hours=24)})
    for row in _old_rows():
        conn.execute(text(f"INSERT INTO verifications ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)
    conn.execute(text("SET session_replication_role = DEFAULT"))


def test_the_migration_moves_the_rows_into_their_code_step_partitions_and_back(pg_app) -> None:  # type: ignore[no-untyped-def]
    with pg_app.app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            _insert_old(conn)
        upgrade()
        with db.engine.connect() as conn:
            assert partitions.is_partitioned(conn)
            placed = dict(conn.execute(text("SELECT id, tableoid::regclass::text FROM verifications")).all())
            steps = dict(conn.execute(text("SELECT id, code_step FROM verifications")).all())
        assert steps == {"vf_dgc1": step_of(NOW), "vf_dgc2": step_of(NBF),
                         "vf_refused": step_of(datetime(2025, 3, 15, 8, 0, tzinfo=UTC))}
        assert placed == {"vf_dgc1": Month.of_step(step_of(NOW)).partition, "vf_dgc2": "verifications_p202610",
                          "vf_refused": "verifications_p202503"}
        # the one-time key holds: the same use key (hence the same step) cannot be written twice
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(text("INSERT INTO verifications (id, partner_id, terminal_id, scene, accepted, created_at, "
                              "use_key, carrier, code_step) SELECT 'vf_again', partner_id, terminal_id, scene, true, "
                              "created_at, use_key, carrier, code_step FROM verifications WHERE id = 'vf_dgc2'"))
        downgrade(revision=BEFORE)
        with db.engine.connect() as conn:
            assert not partitions.is_partitioned(conn)
            assert sorted(conn.execute(text("SELECT id FROM verifications")).scalars()) == ["vf_dgc1", "vf_dgc2", "vf_refused"]
            keys = conn.execute(text("SELECT conname FROM pg_constraint WHERE conrelid = 'verifications'::regclass "
                                     "AND contype IN ('p', 'u')")).scalars()
            assert sorted(keys) == ["pk_verifications", "uq_verifications_use_key"]
            leftovers = conn.execute(text("SELECT count(*) FROM pg_class WHERE relname LIKE 'verifications\\_%'")).scalar()
            assert leftovers == 0


def _explain(conn: Any, statement: Any, params: dict[str, Any]) -> set[str]:
    """The partitions PostgreSQL's plan of ``statement`` (SQLAlchemy Core, or app.platform.raw_sql.Statement) touches."""
    compiled = getattr(statement, "stmt", statement).compile(dialect=conn.dialect)
    plan = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.construct_params(params)).scalars()
    return set(PARTITION.findall("\n".join(plan)))


@pytest.fixture
def partitioned(pg_app):  # type: ignore[no-untyped-def]
    """At the head, with partitions for 12 months back and 2 ahead, and records in them."""
    with pg_app.app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            _insert_old(conn)
        upgrade()
        with db.engine.begin() as conn:
            for back in range(1, 13):
                conn.execute(text(partitions.create_partition_sql(Month.of_step(step_of(NOW)).plus(-back))))
        yield pg_app


def test_the_hot_statements_touch_one_partition(partitioned) -> None:  # type: ignore[no-untyped-def]
    step = step_of(NOW)
    with partitioned.app_context(), db.engine.connect() as conn:
        assert len(partitions.monthly_partitions(conn)) >= 14
        this_month = {Month.of_step(step).partition.removeprefix("verifications_")}
        # the duplicate read's look-up by id (POST /verifications)
        assert _explain(conn, verification._RECORDED, {"id": "vf_dgc1", "step": step}) == this_month
        # the durable ledger's highest use in this step (GET /card/code: every refresh)
        assert _explain(conn, card_code._ACTIVE_DEVICE, {"digest": "x", "step": step, "since": NOW,
                                                          "low": "0", "high": "9"}) == this_month
        # the offline upload's conflict look-up (clone or replay) and the history (below)
        from sqlalchemy import select

        from app.scanning.models import Verification
        holder = select(Verification.id, Verification.code_hash).where(
            Verification.use_key == f"dgc2:{SERIAL}:7", Verification.code_step == step_of(NBF))
        assert _explain(conn, holder, {}) == {"p202610"}
        # the history's statement for one month (app.scanning.history._walk), and its tail before the oldest month
        low, high = Month.of_step(step).steps
        page = (select(Verification.id).where(Verification.card_id == 1, Verification.code_step >= low,
                                              Verification.code_step < high)
                .order_by(Verification.created_at.desc(), Verification.id.desc()).limit(21))
        assert _explain(conn, page, {}) == this_month
        oldest = partitions.monthly_partitions(conn)[0]
        tail = select(Verification.id).where(Verification.card_id == 1, Verification.code_step < oldest.first_step)
        assert _explain(conn, tail, {}) == {"default"}


def test_an_unnest_insert_on_conflict_uses_the_partition_key_index(partitioned) -> None:  # type: ignore[no-untyped-def]
    """The raw psycopg form (one array per column) with ON CONFLICT (use_key, code_step): the second
    row of a use key is not written; a step with no monthly partition lands in the default one."""
    far = step_of(datetime(2031, 1, 1, tzinfo=UTC))
    statement = text(
        "INSERT INTO verifications (id, partner_id, terminal_id, scene, accepted, created_at, use_key, carrier, code_step) "
        "SELECT * FROM unnest(CAST(:id AS varchar[]), CAST(:partner AS int[]), CAST(:terminal AS varchar[]), "
        "CAST(:scene AS varchar[]), CAST(:accepted AS boolean[]), CAST(:at AS timestamptz[]), CAST(:key AS varchar[]), "
        "CAST(:carrier AS varchar[]), CAST(:step AS bigint[])) ON CONFLICT (use_key, code_step) DO NOTHING RETURNING id")
    params = {"id": ["vf_a", "vf_b", "vf_far"], "partner": [1, 1, 1], "terminal": ["t"] * 3, "scene": ["transit"] * 3,
              "accepted": [True] * 3, "at": [NOW] * 3, "key": ["P:1", "P:1", "P:2"], "carrier": ["ecard"] * 3,
              "step": [step_of(NOW), step_of(NOW), far]}
    with partitioned.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            assert sorted(conn.execute(statement, params).scalars()) == ["vf_a", "vf_far"]
            assert conn.execute(text("SELECT tableoid::regclass::text FROM verifications WHERE id = 'vf_far'")).scalar() \
                == partitions.DEFAULT_PARTITION
        checked = partitioned.test_cli_runner().invoke(main, ["partitions", "check"])
        assert checked.exit_code == 1 and "default partition holds 1 row" in checked.output


def test_ensure_creates_the_months_ahead_and_retention_run_drops_only_sealed_months_past_the_period(partitioned) -> None:  # type: ignore[no-untyped-def]
    runner = partitioned.test_cli_runner()
    this = Month.of_step(step_of(NOW))
    with partitioned.app_context():
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {this.plus(2).partition}"))
        assert runner.invoke(main, ["partitions", "check", "--ahead", "2"]).exit_code == 1
        ensured = runner.invoke(main, ["partitions", "ensure", "--ahead", "3"])
        assert ensured.exit_code == 0, ensured.output
        assert this.plus(2).partition in ensured.output and this.plus(3).partition in ensured.output
        assert runner.invoke(main, ["partitions", "check", "--ahead", "3"]).exit_code == 0
        kept = runner.invoke(main, ["retention", "run"])  # the default 36 months: every partition is younger
        assert kept.exit_code == 0 and "verification_partitions\t0" in kept.output, kept.output
        partitioned.config["CARD_VERIFICATION_RETENTION_MONTHS"] = 6
        # records never sealed into the audit chain are not dropped
        refused = runner.invoke(main, ["retention", "run"])
        assert refused.exit_code == 1 and "audit seal" in refused.output
        expired = [month for month in _months() if month < this.plus(-6)]
        assert this.plus(-12) in expired
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM verifications WHERE created_at < :t"), {"t": NOW - timedelta(days=200)})
        dropped = runner.invoke(main, ["retention", "run"])
        assert dropped.exit_code == 0, dropped.output
        assert _months()[0] == this.plus(-6) and f"verification_partitions\t{len(expired)}" in dropped.output


def _months() -> list[Month]:
    with db.engine.connect() as conn:
        return partitions.monthly_partitions(conn)


def test_on_sqlite_the_migration_adds_the_step_to_a_plain_table_and_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SQLite keeps a plain table: the same code_step values and keys, no partitions."""
    from sqlalchemy import MetaData, Table, insert

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.sqlite", "REDIS_URL": None})
    with app.app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            tables = MetaData()
            certificates = Table("offline_certificates", tables, autoload_with=conn)
            conn.execute(insert(certificates).values(serial=SERIAL, card_id=1, device_id=1, kid=1, alg="ed25519",
                                                     device_public_key="k", scenes=1, fare_class=0, not_before=NBF,
                                                     expires_at=NBF + timedelta(hours=24), created_at=NBF))
            conn.execute(insert(Table("verifications", tables, autoload_with=conn)), _old_rows())
        upgrade()
        with db.engine.connect() as conn:
            assert not partitions.is_partitioned(conn)
            steps = dict(conn.execute(text("SELECT id, code_step FROM verifications")).all())
        assert steps == {"vf_dgc1": step_of(NOW), "vf_dgc2": step_of(NBF),
                         "vf_refused": step_of(datetime(2025, 3, 15, 8, 0, tzinfo=UTC))}
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(text("INSERT INTO verifications (id, partner_id, terminal_id, scene, accepted, created_at, "
                              "use_key, carrier, code_step) SELECT 'vf_again', partner_id, terminal_id, scene, 1, "
                              "created_at, use_key, carrier, code_step FROM verifications WHERE id = 'vf_dgc2'"))
        downgrade(revision=BEFORE)
        with db.engine.connect() as conn:
            assert sorted(conn.execute(text("SELECT id FROM verifications")).scalars()) == ["vf_dgc1", "vf_dgc2", "vf_refused"]
        db.engine.dispose()


def test_the_history_pages_across_months_and_the_default_partition(api) -> None:  # type: ignore[no-untyped-def]
    """A year ago (no partition: the default one), a month ago (its own partition), now: newest first,
    one per page, on both backends."""
    citizen, partner = api.bound_citizen(), api.partner(scenes=("transit",))
    start = api.clock.at
    with api.app.app_context(), db.engine.begin() as conn:
        if partitions.is_partitioned(conn):
            partitions.ensure(conn, datetime.fromtimestamp(start - 35 * 86400, UTC), 0)
    for days, terminal in ((400, "gate-1"), (35, "gate-2"), (0, "gate-3")):
        api.clock.at = start - days * 86400
        assert api.verify(partner, api.code(citizen), terminal_id=terminal).json["accepted"] is True
    seen, cursor = [], ""
    while True:
        page = api.client.get(f"/api/mp/v1/card/verifications?limit=1{cursor}", headers=api.bearer(citizen)).json
        seen += [item["terminal_id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == ["gate-3", "gate-2", "gate-1"]
    if api.app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        with api.app.app_context(), db.engine.connect() as conn:
            placed = conn.execute(text("SELECT terminal_id, tableoid::regclass::text FROM verifications")).all()
        assert dict(placed)["gate-1"] == partitions.DEFAULT_PARTITION


def test_metrics_show_the_rows_of_the_default_partition(api) -> None:  # type: ignore[no-untyped-def]
    """A record whose month has no partition lands in the default one: the gauge (PostgreSQL) says so."""
    def gauge() -> str | None:
        body = api.client.get("/metrics").get_data(as_text=True)
        found = re.search(r"^card_verifications_default_partition_rows (\S+)$", body, re.M)
        return found.group(1) if found else None

    postgres = api.app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    assert gauge() == ("0.0" if postgres else None)
    citizen, partner = api.bound_citizen(), api.partner(scenes=("transit",))
    api.clock.at -= 400 * 86400
    assert api.verify(partner, api.code(citizen)).json["accepted"] is True
    assert gauge() == ("1.0" if postgres else None)
