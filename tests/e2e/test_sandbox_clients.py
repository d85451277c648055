"""Issue 20: an integrator's first hour, against a real sandbox (``citizencard serve`` with
CARD_SANDBOX=1, gunicorn with two workers, ``citizencard sandbox seed``), in two languages that
are not Python:

- curl alone: sdk/curl/sandbox-verify.sh (curl, openssl, coreutils; no WeChat) is accepted;
- Node: sdk/node's signing passes the worked example of docs/partner-api.md, its types are those
  openapi-typescript generates from docs/openapi.json today and type-check the SDK (tsc), and
  its example verifies (accepted, then code_used), reads the verification back and reconciles
  the day's statement (JSON and the signed CSV);
- Java and Go: sdk/java and sdk/go's sandbox examples, with their standard libraries alone, get an
  accepted verification (their toolchains: scripts/ensure-ops-tools; tests/unit/test_sdk_samples.py).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .. import backends
from .test_gunicorn import Server

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "sdk" / "curl" / "sandbox-verify.sh"
NODE_SDK = ROOT / "sdk" / "node"


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path = tmp_path_factory.mktemp("sandbox")
    env = {**os.environ, "CARD_SANDBOX": "1", "CARD_INSTANCE_PATH": str(tmp_path),
           "DATABASE_URL": backends.migrated_sqlite(tmp_path, "sandbox.sqlite")}
    env.pop("REDIS_URL", None)
    server = Server(env, tmp_path / "gunicorn.log", workers=2)
    server.start()
    seeded = server.cli("sandbox", "seed")
    assert seeded.returncode == 0, seeded.stderr
    yield server
    server.stop()


def test_curl_alone_gets_an_accepted_verification(sandbox_server: Server) -> None:
    for attempt in range(2):  # two partners, two codes: each run is from zero
        run = subprocess.run(["bash", str(SCRIPT), sandbox_server.base], capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin"}, check=False)
        assert run.returncode == 0, (attempt, run.stdout, run.stderr)
        answer = json.loads(run.stdout)
        assert answer["accepted"] is True and answer["reason"] is None, answer


def _accepted(run: subprocess.CompletedProcess[str]) -> None:
    assert run.returncode == 0, run.stdout + run.stderr
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["accepted"] is True and answer["reason"] is None, answer


def test_java_with_the_jdk_alone_gets_an_accepted_verification(sandbox_server: Server) -> None:
    java = shutil.which("java")
    assert java, "a JDK is needed (scripts/ensure-ops-tools installs it)"
    _accepted(subprocess.run([java, "CitizenCardPartner.java", "sandbox", sandbox_server.base], cwd=ROOT / "sdk" / "java",
                             capture_output=True, text=True, timeout=120, check=False))


def test_go_with_the_standard_library_alone_gets_an_accepted_verification(sandbox_server: Server, tmp_path: Path) -> None:
    go = shutil.which("go")
    assert go, "Go is needed (scripts/ensure-ops-tools installs golang-go)"
    env = {**os.environ, "GOCACHE": str(tmp_path / "cache"), "GOPATH": str(tmp_path / "go"), "GOFLAGS": "-mod=mod",
           "GOTOOLCHAIN": "local"}
    _accepted(subprocess.run([go, "run", "./cmd/sandbox-verify", sandbox_server.base], cwd=ROOT / "sdk" / "go", env=env,
                             capture_output=True, text=True, timeout=300, check=False))


def _node(*args: str) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "Node 20+ is needed (CI has it)"
    return subprocess.run([node, *args], cwd=NODE_SDK, capture_output=True, text=True, timeout=120, check=False)


def test_the_node_sdk_passes_the_worked_example() -> None:
    run = _node("--test", "test/")
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_node_sdk_types_are_generated_from_the_document_and_check() -> None:
    """openapi-typescript --check: src/openapi.d.ts is what docs/openapi.json gives now; tsc: the
    SDK and its example use those types correctly (e.g. a Verification's subject may be null)."""
    bin_dir = NODE_SDK / "node_modules" / ".bin"
    assert (bin_dir / "tsc").exists(), "run `npm ci` in sdk/node (make test does)"
    generate = _node(str(bin_dir / "openapi-typescript"), "../../docs/openapi.json", "--default-non-nullable", "false",
                     "-o", "src/openapi.d.ts", "--check")
    assert generate.returncode == 0, "sdk/node/src/openapi.d.ts is stale: run `npm run types` in sdk/node\n" + generate.stderr
    check = _node(str(bin_dir / "tsc"), "-p", "jsconfig.json")
    assert check.returncode == 0, check.stdout + check.stderr


def test_redocly_lint_finds_no_error_in_the_document() -> None:
    """Redocly's ``recommended`` rules (@redocly/openapi-core, the engine of @redocly/cli)."""
    run = _node("scripts/lint-openapi.mjs", "../../docs/openapi.json")
    assert run.returncode == 0 and run.stdout.strip().endswith(" warnings") and "\n0 errors" in "\n" + run.stdout, run.stdout


def test_the_node_example_verifies_reads_back_and_reconciles(sandbox_server: Server) -> None:
    run = _node("examples/sandbox-verify.js", sandbox_server.base)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)
    assert result["accepted"] is True and result["refused"] == "code_used"
    assert result["subject"]["concession"] == "standard" and result["verified_at"].endswith("+08:00")
    assert len(result["statement"]) == 2 and result["csv_rows"] == 2
    assert result["totals"]["accepted"] == 1 and result["totals"]["refused"] == 1
