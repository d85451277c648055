"""Redis and PostgreSQL outages (docs/operations.md, "Failure behaviour").

Every test runs the app as deployed (PostgreSQL + Redis, default pool, no pre-ping) on the private
servers of tests/faults/servers.py, kills or restarts them, and checks that:

- an outage answers 503 with our envelope and ``Retry-After`` (never a 500 or a traceback);
- a code is never accepted when its use cannot be recorded, and an accepted answer is recorded
  exactly once (compared row by row with the private database);
- the same app object recovers by itself when the server is back: no restart, no new app.
"""
from __future__ import annotations

import csv
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from importlib import resources
from typing import Any

import psycopg
import pytest

import scenes.policies.transit as transit_policy
from app.platform.db import db
from app.scanning import verification

from ..helpers import ApiClient
from .conftest import Servers

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

CODE_PATH = "/api/mp/v1/card/code"


def assert_unavailable(response: Any) -> None:
    """503, ``Retry-After``, and nothing but our JSON envelope in the body."""
    text = response.get_data(as_text=True)
    assert response.status_code == 503, text
    assert response.headers.get("Retry-After") == "1"
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] in ("service_unavailable", "verification_unavailable"), body
    assert "Traceback" not in text and "psycopg" not in text and "redis" not in text.lower()


def answer(response: Any) -> tuple[bool, str | None, bool]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["accepted"], response.json["reason"], response.json["duplicate"]


def records(servers: Servers) -> list[tuple[str, str, bool, str | None, str | None]]:
    """(id, terminal, accepted, reason, use_key) of every verification, by terminal (the frozen clock
    gives them all one ``created_at``), read beside the app."""
    with psycopg.connect(servers.postgres.conninfo) as conn:
        return list(conn.execute("SELECT id, terminal_id, accepted, reason, use_key FROM verifications"
                                 " ORDER BY terminal_id, accepted DESC, reason"))


def pool_connections(app: Any) -> int:
    with app.app_context():
        return int(db.engine.pool.checkedin())


def on_call(obj: Any, name: str, after: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``after`` once, right after the next call of ``obj.name`` returned."""
    real = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        monkeypatch.setattr(obj, name, real)
        after()
        return result

    monkeypatch.setattr(obj, name, wrapper)


# --- Redis ------------------------------------------------------------------------------------


def test_redis_down_fails_closed_and_the_app_recovers_when_it_returns(servers: Servers, fault_api: ApiClient) -> None:
    api = fault_api
    token = api.bound_citizen()
    partner = api.partner()  # its terminals gate-0 ... gate-59 are registered
    before = api.code(token)
    assert answer(api.verify(partner, before, "gate-0")) == (True, None, False)
    code = api.code(token)

    servers.redis.kill()
    for _ in range(2):  # the first call finds the pooled connection dead, the next cannot connect
        assert_unavailable(api.verify(partner, code, "gate-1"))
    assert_unavailable(api.client.get(CODE_PATH, headers=api.bearer(token)))
    assert [row[1] for row in records(servers)] == ["gate-0"]  # nothing accepted, nothing recorded

    servers.redis.start()  # same port, empty: every replay mark and kept answer is gone
    assert answer(api.verify(partner, code, "gate-1")) == (True, None, False)
    assert answer(api.verify(partner, code, "gate-1")) == (True, None, True)  # the scanner's re-read
    assert answer(api.verify(partner, code, "gate-2")) == (False, "code_used", False)
    # Redis forgot that ``before`` was used; the durable ledger in PostgreSQL did not.
    assert answer(api.verify(partner, before, "gate-3")) == (False, "code_used", False)

    accepted = [row for row in records(servers) if row[2]]
    assert [row[1] for row in accepted] == ["gate-0", "gate-1"]
    assert len({row[4] for row in accepted}) == 2


def test_redis_dying_before_the_one_time_use_leaves_the_code_usable(
        servers: Servers, fault_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis dies after the card was looked up, before the atomic use (which also claims the
    request's nonce): 503, and the code was not used."""
    api = fault_api
    token = api.bound_citizen()
    partner = api.partner()
    code = api.code(token)

    on_call(verification, "_device_and_card", servers.redis.kill, monkeypatch)
    assert_unavailable(api.verify(partner, code, "gate-1"))
    assert records(servers) == []

    servers.redis.start()
    assert answer(api.verify(partner, code, "gate-1")) == (True, None, False)
    assert answer(api.verify(partner, code, "gate-2")) == (False, "code_used", False)
    assert [(row[1], row[2]) for row in records(servers)] == [("gate-1", True), ("gate-2", False)]


def test_a_code_from_the_next_step_verifies_after_redis_lost_its_data(servers: Servers, fault_api: ApiClient) -> None:
    api = fault_api
    token = api.bound_citizen()
    partner = api.partner()
    assert answer(api.verify(partner, api.code(token), "gate-0"))[0] is True
    servers.redis.kill()
    servers.redis.start()
    api.clock.advance(30)
    assert answer(api.verify(partner, api.code(token), "gate-0")) == (True, None, False)


def test_a_code_issued_in_the_same_step_after_redis_lost_its_data_is_fresh(servers: Servers, fault_api: ApiClient) -> None:
    """The sequence counter restarts after the highest sequence the durable ledger holds (here 02)."""
    api = fault_api
    token = api.bound_citizen()
    partner = api.partner()
    for gate in ("gate-0", "gate-1", "gate-2"):
        assert answer(api.verify(partner, api.code(token), gate))[0] is True
    servers.redis.kill()
    servers.redis.start()
    assert answer(api.verify(partner, api.code(token), "gate-0")) == (True, None, False)


# --- PostgreSQL -------------------------------------------------------------------------------


def test_postgres_down_answers_503_and_the_app_recovers_when_it_returns(servers: Servers, fault_api: ApiClient) -> None:
    api = fault_api
    token = api.bound_citizen()
    partner = api.partner()
    assert answer(api.verify(partner, api.code(token), "gate-0"))[0] is True
    code = api.code(token)

    servers.postgres.stop("immediate")
    assert_unavailable(api.verify(partner, code, "gate-1"))
    assert_unavailable(api.verify(partner, code, "gate-1"))
    assert_unavailable(api.client.get(CODE_PATH, headers=api.bearer(token)))
    assert_unavailable(api.client.post("/api/mp/v1/auth/wechat", json={"code": api.wechat.issue_code()}))

    servers.postgres.start()
    # The failures while it was down already threw the stale connection away: no 503 now.
    assert answer(api.verify(partner, code, "gate-1")) == (True, None, False)
    assert answer(api.verify(partner, code, "gate-2")) == (False, "code_used", False)
    assert [(row[1], row[2]) for row in records(servers)] == [("gate-0", True), ("gate-1", True), ("gate-2", False)]


@pytest.mark.parametrize("mode", ["immediate", "fast"])
def test_a_postgres_restart_between_requests_costs_at_most_one_503_per_pooled_connection(
        servers: Servers, fault_api: ApiClient, fault_app: Any, mode: str) -> None:
    api = fault_api
    token = api.bound_citizen()
    partner = api.partner()
    assert answer(api.verify(partner, api.code(token), "gate-0"))[0] is True
    code = api.code(token)
    pooled = pool_connections(fault_app)

    servers.postgres.restart(mode)  # no request while it was down: the pool still holds dead connections
    statuses = []
    for _ in range(pooled + 1):
        response = api.verify(partner, code, "gate-1")
        statuses.append(response.status_code)
        if response.status_code == 503:
            assert_unavailable(response)
        else:
            break
    assert statuses[-1] == 200 and statuses.count(503) <= pooled, (statuses, pooled)
    assert answer(api.verify(partner, code, "gate-1")) == (True, None, True)
    assert [(row[1], row[2]) for row in records(servers)] == [("gate-0", True), ("gate-1", True)]


def test_postgres_dying_between_the_one_time_use_and_the_record_lets_nobody_through(
        servers: Servers, fault_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The atomic use succeeded in Redis, the INSERT of the record cannot run: 503, and the code is
    spent (Redis holds its mark), so a retry is refused as ``code_used``, never accepted unrecorded."""
    api = fault_api
    token = api.bound_citizen()
    partner = api.partner()
    code = api.code(token)

    on_call(api.rt.store, "use_once", lambda: servers.postgres.stop("immediate"), monkeypatch)
    assert_unavailable(api.verify(partner, code, "gate-1"))
    servers.postgres.start()

    assert answer(api.verify(partner, code, "gate-1")) == (False, "code_used", False)  # the documented retry
    assert answer(api.verify(partner, code, "gate-2")) == (False, "code_used", False)
    assert [(row[1], row[2], row[3]) for row in records(servers)] == [("gate-1", False, "code_used"),
                                                                       ("gate-2", False, "code_used")]
    assert answer(api.verify(partner, api.code(token), "gate-1")) == (True, None, False)  # a new code works


@pytest.mark.parametrize("mode", ["immediate", "fast"])
def test_postgres_dying_after_the_answer_was_made_does_not_break_the_request(
        servers: Servers, fault_api: ApiClient, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """GET card/code reads the account and device, then counts the code in Redis; PostgreSQL dies
    in between. The answer needs no commit, so it stands; ending the request (the connection back
    to the pool, the session closed) must not turn it into an exception escaping the WSGI app (a 500)."""
    api = fault_api
    token = api.bound_citizen()

    on_call(api.rt.store, "incr", lambda: servers.postgres.stop(mode), monkeypatch)
    response = api.client.get(CODE_PATH, headers=api.bearer(token))
    assert response.status_code == 200 and response.json["code"].startswith("DGC1:")
    assert_unavailable(api.client.get(CODE_PATH, headers=api.bearer(token)))
    servers.postgres.start()
    assert api.client.get(CODE_PATH, headers=api.bearer(token)).status_code == 200


def test_postgres_dying_during_a_scene_lookup_is_503_not_a_refusal_on_a_dead_transaction(
        servers: Servers, fault_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A metro exit looks up the holder's entry (a scene policy reading the database); PostgreSQL
    dies just before. The verification answers 503 and the code stays unused; the retry links."""
    api = fault_api
    token = api.bound_citizen()
    partner = api.partner()
    entry = api.verify(partner, api.code(token), "gate-0", direction="entry")
    assert answer(entry) == (True, None, False)
    code = api.code(token)

    real = transit_policy.open_entry

    def dying(context: Any) -> Any:
        monkeypatch.setattr(transit_policy, "open_entry", real)
        servers.postgres.stop("immediate")
        return real(context)

    monkeypatch.setattr(transit_policy, "open_entry", dying)
    assert_unavailable(api.verify(partner, code, "gate-1", direction="exit"))
    servers.postgres.start()
    exit_ = api.verify(partner, code, "gate-1", direction="exit")
    assert answer(exit_) == (True, None, False)
    assert exit_.json["subject"]["entry_verification_id"] == entry.json["verification_id"]
    assert [(row[1], row[2]) for row in records(servers)] == [("gate-0", True), ("gate-1", True)]


# --- Restarts under load ---------------------------------------------------------------------


def _roster_people() -> list[dict[str, str]]:
    text = resources.files("app").joinpath("samples/roster.csv").read_text(encoding="utf-8")
    return [{"name": row["name"], "id_number": row["id_number"], "phone": row["phone"]} for row in csv.DictReader(text.splitlines())]


class Gate(threading.Thread):
    """A citizen at a gate, over and over: fetch a code, verify it; on 503 retry the same code from
    the same terminal, as docs/partner-api.md tells partners to. Holds still while ``go`` is clear;
    after ``stop`` it ends at its next success."""

    MAX_CODES = 60  # a device may have 100 codes per 30 s step, and the test clock is frozen

    def __init__(self, n: int, app: Any, api: ApiClient, token: str, partner: dict[str, str], go: threading.Event,
                 stop: threading.Event, log: list[tuple[float, float, str, str, Any]]) -> None:
        super().__init__(daemon=True)
        self.terminal = f"gate-{n}"
        self.api = ApiClient(app, api.wechat, api.clock)
        self.token, self.partner, self.go, self.stop, self.log = token, partner, go, stop, log
        self.paused = threading.Event()
        self.last_status = 0
        self.failure: BaseException | None = None

    def request(self, kind: str, call: Callable[[], Any]) -> Any:
        started = time.monotonic()
        response = call()
        self.log.append((started, time.monotonic(), self.terminal, kind, response))
        self.last_status = response.status_code
        if response.status_code == 503:
            assert_unavailable(response)
            time.sleep(0.02)
        else:
            assert response.status_code == 200, response.get_data(as_text=True)
        return response

    def run(self) -> None:
        deadline, issued = time.monotonic() + 60, 0
        try:
            while issued < self.MAX_CODES and time.monotonic() < deadline:
                if self.stop.is_set() and self.last_status == 200:
                    return
                if not self.go.is_set():
                    self.paused.set()
                    self.go.wait()
                    self.paused.clear()
                response = self.request("code", lambda: self.api.client.get(CODE_PATH, headers=self.api.bearer(self.token)))
                if response.status_code != 200:
                    continue
                code, issued = response.json["code"], issued + 1
                while self.request("verify", lambda code=code: self.api.verify(self.partner, code, self.terminal)).status_code == 503:
                    if time.monotonic() > deadline:
                        return
                time.sleep(0.02)
        except BaseException as exc:  # reported by the test
            self.failure = exc


@pytest.mark.parametrize("server", ["postgres", "redis"])
def test_a_restart_under_load_fails_cleanly_and_loses_or_doubles_nothing(
        servers: Servers, fault_api: ApiClient, fault_app: Any, server: str) -> None:
    """Six gates at once. (1) A restart while they stand still, then all resume together: the pools
    hold dead connections. (2) The server stopped while they run, started again 0.4 s later.
    PostgreSQL gets a fast shutdown (what an operator's restart does), Redis a SIGKILL."""
    stop_server = (lambda: servers.postgres.stop("fast")) if server == "postgres" else servers.redis.kill
    start_server = servers.postgres.start if server == "postgres" else servers.redis.start
    api = fault_api
    api.import_sample_roster()
    partner = api.partner()
    tokens = []
    for n, person in enumerate(_roster_people()[:6]):
        tokens.append(api.login(f"load-{n}"))
        assert api.bind(tokens[-1], person).status_code == 200
    go, stop, log = threading.Event(), threading.Event(), []  # type: ignore[var-annotated]
    go.set()
    gates = [Gate(n, fault_app, api, token, partner, go, stop, log) for n, token in enumerate(tokens)]
    for gate in gates:
        gate.start()

    time.sleep(0.3)
    go.clear()
    assert all(gate.paused.wait(10) for gate in gates)
    pooled = pool_connections(fault_app)
    stop_server()
    start_server()
    resumed = time.monotonic()
    go.set()
    time.sleep(0.5)
    stopped = time.monotonic()
    stop_server()
    time.sleep(0.4)
    start_server()
    back = time.monotonic()
    time.sleep(0.6)
    stop.set()
    for gate in gates:
        gate.join(timeout=60)
    for gate in gates:
        assert gate.failure is None, "".join(traceback.format_exception(gate.failure))

    def unavailable(start: float, end: float = float("inf")) -> int:
        """503 answers to requests sent after ``start`` and answered before ``end``."""
        return sum(1 for sent, done, _, _, response in log if start <= sent and done < end and response.status_code == 503)

    summary = {"requests": Counter((kind, response.status_code) for _, _, _, kind, response in log), "pooled": pooled,
               "503 after the quiet restart": unavailable(resumed, stopped), "503 after the restart under load": unavailable(back),
               "refusals": Counter(response.json["reason"] for _, _, _, kind, response in log
                                   if kind == "verify" and response.status_code == 200 and response.json["reason"])}
    print(summary)
    assert summary["requests"][("verify", 200)] > 0 and unavailable(stopped, back) > 0, summary
    # PostgreSQL: at most one per pooled connection (no pre-ping); redis-py reconnects by itself.
    assert unavailable(resumed, stopped) <= (pooled if server == "postgres" else 0), summary
    assert unavailable(back) <= len(gates), summary
    assert all(gate.last_status == 200 for gate in gates), summary  # every gate ends on a success

    verified = [response.json for _, _, _, kind, response in log if kind == "verify" and response.status_code == 200]
    answered_ids = {body["verification_id"] for body in verified}
    rows = {row[0]: row for row in records(servers)}
    assert answered_ids == set(rows), "every answer recorded exactly once, no record without an answer"
    first_acceptances = [body["verification_id"] for body in verified if body["accepted"] and not body["duplicate"]]
    assert len(first_acceptances) == len(set(first_acceptances)) == sum(row[2] for row in rows.values())
    assert all(rows[body["verification_id"]][2] for body in verified if body["accepted"])
