"""Issue 20: the sandbox works from curl alone. ``citizencard serve`` with CARD_SANDBOX=1 (gunicorn,
several workers), ``citizencard sandbox seed``, then sdk/curl/sandbox-verify.sh (curl, openssl,
coreutils: no Python, no WeChat) gets a test partner and an e-card code and is accepted."""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_gunicorn import Server

pytestmark = pytest.mark.e2e
SCRIPT = Path(__file__).resolve().parents[2] / "sdk" / "curl" / "sandbox-verify.sh"


@pytest.fixture
def sandbox_server(tmp_path: Path) -> Iterator[Server]:
    env = {**os.environ, "CARD_SANDBOX": "1", "CARD_INSTANCE_PATH": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path}/sandbox.sqlite"}
    env.pop("REDIS_URL", None)
    server = Server(env, tmp_path / "gunicorn.log", workers=2)
    server.start()
    yield server
    server.stop()


def test_curl_alone_gets_an_accepted_verification(sandbox_server: Server) -> None:
    seeded = sandbox_server.cli("sandbox", "seed")
    assert seeded.returncode == 0, seeded.stderr
    for attempt in range(2):  # two verifications, two partners: each run is from zero
        run = subprocess.run(["bash", str(SCRIPT), sandbox_server.base], capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin"}, check=False)
        assert run.returncode == 0, (attempt, run.stdout, run.stderr)
        answer = json.loads(run.stdout)
        assert answer["accepted"] is True and answer["reason"] is None, answer
