"""The backup and restore drill (issue 19, item 8): scripts/backup-drill backs up a small
PostgreSQL database holding a bound citizen, verifications and a sealed audit chain, restores it
into a new database, and runs `citizencard check` and `audit verify --checkpoint` on the copy.
With a data key that is not the one the backup was written with (a lost escrow), it fails."""
from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from app import create_app
from app.platform.clock import FrozenClock
from app.runtime import runtime
from app.service_desk.audit import make_checkpoint, seal_pending

from .. import backends
from ..conftest import APP_SECRET, APPID
from ..helpers import ApiClient, dispose

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def source(worker_id: str, wechat: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A migrated database with a bound citizen, 3 accepted verifications sealed into the audit
    chain, and a checkpoint file of that chain; returns its URL and the checkpoint's path. Made
    once for the module: the drills only read it."""
    url = backends.fresh_postgres(worker_id, "drill_source")
    redis_url, clock = backends.redis_url(worker_id), FrozenClock((int(time.time()) // 30) * 30 + 5)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url,
                      "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET,
                      "CARD_WECHAT_API_BASE": wechat.base_url}, clock=clock)
    with app.app_context():
        upgrade()
    api = ApiClient(app, wechat, clock)
    token, metro = api.bound_citizen(), api.partner()
    for terminal in ("gate-1", "gate-2", "gate-3"):
        assert api.verify(metro, api.code(token), terminal_id=terminal).json["accepted"] is True
        clock.advance(30)
    clock.advance(120)
    checkpoint = tmp_path_factory.mktemp("drill") / "checkpoint.json"
    with app.app_context():
        assert seal_pending(runtime()) == 3
        checkpoint.write_text(make_checkpoint(runtime()), encoding="utf-8")
    dispose(app)
    return url, checkpoint


def _drill(url: str, redis_url: str, copy: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CARD_")}
    environ.update(DATABASE_URL=url, REDIS_URL=redis_url, BACKUP_DRILL_DATABASE=copy,
                   CITIZENCARD=str(Path(sys.executable).parent / "citizencard"), **env)
    return subprocess.run([str(ROOT / "scripts/backup-drill"), *args], env=environ, capture_output=True, text=True,
                          timeout=300)


def _exists(url: str, name: str) -> bool:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def test_the_drill_restores_a_copy_that_opens_and_verifies(source: tuple[str, Path], redis_url: str,
                                                           worker_id: str, tmp_path: Path) -> None:
    url, checkpoint = source
    copy = f"cc_{backends.NAMESPACE}drill_copy_{backends.worker_number(worker_id)}"
    dump = tmp_path / "backup.dump"
    done = _drill(url, redis_url, copy, "--dump", str(dump), "--checkpoint", str(checkpoint))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 checked blind index" in done.stdout or "checked blind indexes match" in done.stdout
    assert "ok: 3 records" in done.stdout and "checkpoint seq 3: matches" in done.stdout
    assert "drill passed" in done.stdout
    assert dump.stat().st_size > 0  # the backup is kept where asked
    assert not _exists(url, copy)  # the copy is dropped


def test_the_drill_fails_without_the_escrowed_data_key(source: tuple[str, Path], redis_url: str, worker_id: str) -> None:
    url, _ = source
    copy = f"cc_{backends.NAMESPACE}drill_copy_{backends.worker_number(worker_id)}"
    other_key = "k9:" + base64.b64encode(os.urandom(32)).decode()
    done = _drill(url, redis_url, copy, CARD_DATA_KEYS=other_key)
    assert done.returncode != 0
    assert "no key" in done.stderr and "drill passed" not in done.stdout
    assert not _exists(url, copy)
