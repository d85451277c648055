"""The charge stream of the fault run (bench/faults.py; issue 22): while Redis and PostgreSQL are
killed and restarted, client threads charge 1.00 yuan on every verification the verifying clients
got accepted, each with its own idempotency key, re-sent (same key, fresh signature) after a 503
or no answer until a final answer, as a till would. At the end, from the answers and the database:
no verification charged twice, no charge answered 200 that is not stored, no stored charge no
till was told of, every charge with one ledger entry, day totals equal to the charges, and
``citizencard payments replay`` clean.
"""
from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

from scenes.signing import authorization_header

CHARGE_PATH = "/api/partner/v1/charges"
FINAL_WAIT = 90  # seconds after the load stops for the last charges' final answers


@dataclass
class Final:
    status: int
    charge_id: int | None
    replayed: bool
    code: str | None


@dataclass
class Charging:
    """Charge threads fed with accepted verification ids (:meth:`offer`)."""

    base: str
    partner_id: str
    secret: str
    todo: queue.Queue[str] = field(default_factory=queue.Queue)
    finals: dict[str, Final] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    unfinished: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def offer(self, verification_id: str) -> None:
        self.todo.put(verification_id)

    def send(self, session: requests.Session, verification_id: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        body = json.dumps({"verification_id": verification_id, "amount_fen": 100, "description": "fault run",
                           "idempotency_key": f"fault-{verification_id[3:]}"}).encode()
        auth = authorization_header(self.partner_id, self.secret, "POST", CHARGE_PATH, body, int(time.time()), secrets.token_hex(12))
        try:
            response = session.post(self.base + CHARGE_PATH, data=body, timeout=10,
                                    headers={"Authorization": auth, "Content-Type": "application/json"})
        except requests.RequestException:
            return 0, {}
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        return response.status_code, (response.json() if is_json else {})

    def charge(self, session: requests.Session, verification_id: str, give_up_at: float) -> None:
        """Send until a final answer (anything but 503 or none), or record it unfinished."""
        while True:
            status, data = self.send(session, verification_id)
            with self.lock:
                self.statuses[status] += 1
            if status not in (0, 503):
                error = data.get("error") or {}
                with self.lock:
                    self.finals[verification_id] = Final(status, data.get("charge_id"), bool(data.get("replayed")), error.get("code"))
                return
            if time.monotonic() > give_up_at:
                with self.lock:
                    self.unfinished.append(verification_id)
                return
            time.sleep(0.2)

    def client(self) -> None:
        session = requests.Session()
        deadline: float | None = None
        while True:
            if self.stop.is_set() and deadline is None:
                deadline = time.monotonic() + FINAL_WAIT
            try:
                verification_id = self.todo.get(timeout=0.5)
            except queue.Empty:
                if self.stop.is_set():
                    return
                continue
            self.charge(session, verification_id, deadline or float("inf"))


def stored(conninfo: str) -> dict[str, int]:
    """Counts from the database that must all be 0."""
    with psycopg.connect(conninfo) as conn:
        def one(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])  # type: ignore[index]

        return {
            "verifications charged twice (database)": one("SELECT count(*) - count(DISTINCT verification_id) FROM charges"),
            "charges without exactly one 'charge' ledger entry": one(
                "SELECT count(*) FROM charges c WHERE (SELECT count(*) FROM ledger_entries l "
                "WHERE l.charge_id = c.id AND l.kind = 'charge') <> 1"),
            "card days whose total differs from their charges": one(
                "SELECT count(*) FROM charge_day_totals t FULL JOIN (SELECT card_id, "
                "(created_at AT TIME ZONE 'Asia/Shanghai')::date AS day, sum(amount_fen) AS fen FROM charges "
                "WHERE status <> 'voided' GROUP BY 1, 2) c ON c.card_id = t.card_id AND c.day = t.day "
                "WHERE coalesce(t.total_fen, 0) <> coalesce(c.fen, 0)"),
        }


def charge_checks(charging: Charging, conninfo: str, env: dict[str, str], root: Path) -> dict[str, int]:
    """The charge stream's checks (each must be 0)."""
    with psycopg.connect(conninfo) as conn:
        in_db = dict(conn.execute("SELECT verification_id, id FROM charges").fetchall())
    told = {vid: final.charge_id for vid, final in charging.finals.items() if final.status == 200}
    replay = subprocess.run([sys.executable, "-m", "app", "payments", "replay"], env={**os.environ, **env}, cwd=root,
                            capture_output=True, text=True)
    return {
        "charges answered 200 but not stored (lost)": sum(1 for vid, cid in told.items() if in_db.get(vid) != cid),
        "stored charges no till was told of": sum(1 for vid in in_db if vid not in told),
        "final charge answers other than 200": sum(1 for final in charging.finals.values() if final.status != 200),
        "charges without a final answer after the run": len(charging.unfinished),
        **stored(conninfo),
        "ledger replay (citizencard payments replay) failed": int(replay.returncode != 0),
    }


def charge_summary(charging: Charging) -> str:
    replays = sum(1 for final in charging.finals.values() if final.replayed)
    codes = Counter(final.code for final in charging.finals.values() if final.status != 200)
    return (f"charges: {len(charging.finals)} verifications charged to a final answer, "
            f"{sum(charging.statuses.values())} requests {dict(sorted(charging.statuses.items()))}, "
            f"{replays} answered as a replay of the first (a retry after a lost answer), refusals {dict(codes)}")
