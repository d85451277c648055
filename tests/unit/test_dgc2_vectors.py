"""The published vectors (docs/offline-codes/vectors.json): reproducible, and every one decided as
expected by the Python verifier and by ``dgc2-verify``."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dgc2 import b64, cli
from dgc2.denylist import read_deny_list
from dgc2.gate import Gate
from dgc2.trust import read_root_key, read_trust_list

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "docs" / "offline-codes" / "vectors.json"
DOCUMENT = json.loads(VECTORS.read_text())
REQUIRED = {"valid_ed25519", "valid_sm2", "generated_60s_ago", "generated_61s_ago", "generated_20s_ahead", "generated_21s_ahead",
            "certificate_expired_21s_ago", "reserved_scene_bit_3", "reserved_flag_bit_1", "reserved_fare_class_4", "nbf_after_exp",
            "wrong_algorithm_for_kid", "unknown_kid", "truncated_by_one_byte", "deny_listed", "deny_list_stale",
            "deny_list_exactly_15_minutes_old", "replay_same_gate", "scene_not_permitted", "bit_flip_sm2_isig", "bit_flip_sm2_dsig"}
FIELDS = ["ver_alg", "kid", "serial", "nbf", "exp", "scenes", "fare_class", "flags", "dpk", "isig", "t", "ctr", "dsig"]


def _generator():
    spec = importlib.util.spec_from_file_location("make_dgc2_vectors", ROOT / "scripts" / "make_dgc2_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_file_is_what_the_script_generates() -> None:
    assert VECTORS.read_text() == _generator().render_file(), "run scripts/make_dgc2_vectors.py"


def test_the_file_has_the_issue_s_shape_and_every_case() -> None:
    assert {"root", "issuing", "device"} <= set(DOCUMENT["keys"])
    assert all("private_key" in key for key in [DOCUMENT["keys"]["root"], *DOCUMENT["keys"]["issuing"], *DOCUMENT["keys"]["device"]])
    names = {vector["name"] for vector in DOCUMENT["vectors"]}
    assert REQUIRED | {f"bit_flip_{field}" for field in FIELDS} <= names
    for vector in DOCUMENT["vectors"]:
        assert {"name", "code", "context", "expected"} <= set(vector)
        assert {"trust_list", "deny_list", "now", "scene"} <= set(vector["context"])
        assert set(vector["expected"]) == {"accepted", "reason", "step"}
        assert vector["layers"]["text"] == vector["code"]
    assert {v["expected"]["step"] for v in DOCUMENT["vectors"]} == set(range(1, 14))


def _decide(vector: dict) -> dict:
    context = vector["context"]
    trust = read_trust_list(context["trust_list"], read_root_key(DOCUMENT["keys"]["root"]))
    gate = Gate("vector-gate", context["scene"], trust, read_deny_list(b64.decode(context["deny_list"]), trust.deny_list_key))
    for earlier in context.get("earlier", []):
        assert gate.scan(earlier["code"], earlier["now"]).accepted
    return gate.scan(vector["code"], context["now"]).to_json()


@pytest.mark.parametrize("vector", DOCUMENT["vectors"], ids=lambda v: v["name"])
def test_the_python_verifier_decides_every_vector_as_published(vector: dict) -> None:
    assert _decide(vector) == vector["expected"]


def _files(tmp_path: Path, vector: dict) -> list[str]:
    context = vector["context"]
    (tmp_path / "root.json").write_text(json.dumps(DOCUMENT["keys"]["root"]))
    (tmp_path / "trust.json").write_text(json.dumps(context["trust_list"]))
    (tmp_path / "deny.bin").write_bytes(b64.decode(context["deny_list"]))
    return ["--root-key", str(tmp_path / "root.json"), "--trust-list", str(tmp_path / "trust.json"),
            "--deny-list", str(tmp_path / "deny.bin"), "--scene", context["scene"], "--state", str(tmp_path / "state.json")]


@pytest.mark.parametrize("vector", DOCUMENT["vectors"], ids=lambda v: v["name"])
def test_dgc2_verify_prints_every_vector_s_decision(vector: dict, tmp_path: Path, capsys) -> None:
    args = _files(tmp_path, vector)
    for earlier in vector["context"].get("earlier", []):
        assert cli.main([*args, "--now", str(earlier["now"]), earlier["code"]]) == 0
    capsys.readouterr()
    status = cli.main([*args, "--now", str(vector["context"]["now"]), vector["code"]])
    assert json.loads(capsys.readouterr().out) == vector["expected"]
    assert status == (0 if vector["expected"]["accepted"] else 1)


def test_the_dgc2_verify_command_runs_as_a_program(tmp_path: Path) -> None:
    vector = next(v for v in DOCUMENT["vectors"] if v["name"] == "valid_sm2")
    args = _files(tmp_path, vector)
    command = [sys.executable, "-m", "dgc2.cli", *args, "--now", str(vector["context"]["now"]), vector["code"]]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "terminal")}
    first = subprocess.run(command, capture_output=True, text=True, env=env)
    second = subprocess.run(command, capture_output=True, text=True, env=env)
    assert (first.returncode, json.loads(first.stdout)) == (0, {"accepted": True, "reason": None, "step": 13})
    assert (second.returncode, json.loads(second.stdout)) == (1, {"accepted": False, "reason": "code_used", "step": 12})
    state = json.loads((tmp_path / "state.json").read_text())
    assert [record["code"] for record in state["records"]] == [vector["code"]]


def test_dgc2_verify_says_why_it_cannot_decide(tmp_path: Path, capsys) -> None:
    vector = DOCUMENT["vectors"][0]
    args = _files(tmp_path, vector)
    (tmp_path / "deny.bin").write_bytes(b"DGCD" + b"\x00" * 80)
    assert cli.main([*args, vector["code"]]) == 2
    assert "deny list signature" in capsys.readouterr().err
    (tmp_path / "root.json").write_text(json.dumps({**DOCUMENT["keys"]["root"], "root_kid": 2}))
    assert cli.main([*args, vector["code"]]) == 2
    assert "another root key" in capsys.readouterr().err


def test_dgc2_verify_refuses_a_direction_the_platform_would_refuse(tmp_path: Path, capsys) -> None:
    """A record with ``direction: "sideways"`` is ``invalid`` at upload: the gate tool says so at once."""
    vector = DOCUMENT["vectors"][0]
    args = _files(tmp_path, vector)
    with pytest.raises(SystemExit) as refused:
        cli.main([*args, "--direction", "sideways", vector["code"]])
    assert refused.value.code == 2 and "invalid choice: 'sideways'" in capsys.readouterr().err
