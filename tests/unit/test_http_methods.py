"""``Allow`` is the same in every server process: sorted, in OPTIONS answers and in 405 answers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import app

# A route's methods as each answer lists them. Werkzeug gathers them in a set, whose order follows
# the process's string hash seed: under seeds 0-2 it came out in three different orders.
PROBE = """
from app.platform.http_errors import register_error_handlers
from app.platform.http_methods import CardFlask
probe = CardFlask("probe")
probe.add_url_rule("/r", "r", lambda: "", methods=["GET", "POST", "PUT", "DELETE"])
register_error_handlers(probe)
client = probe.test_client()
print(client.options("/r").headers["Allow"])
print(client.patch("/r").headers["Allow"])
"""


@pytest.mark.parametrize("seed", ["0", "1", "2"])
def test_allow_is_sorted_whatever_the_hash_seed(seed: str) -> None:
    root = str(Path(app.__file__).parent.parent)
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": root}
    answer = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=root, capture_output=True, text=True, check=True)
    assert answer.stdout.splitlines() == ["DELETE, GET, HEAD, OPTIONS, POST, PUT"] * 2
