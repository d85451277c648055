"""`citizencard demo` (`make demo`, app/demo.py): the story runs end to end on the embedded default,
including the offline (DGC2) scan: a gate holding the served lists accepts the code with no server
call, and the same code online is accepted once."""
from __future__ import annotations

import pytest

from app.demo import run_demo


def test_the_demo_runs_end_to_end_and_shows_an_offline_scan(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo() == 0
    out = capsys.readouterr().out
    assert "Demo complete" in out
    assert "verifies it with no network" in out and '{"accepted": true, "reason": null, "step": 13}' in out
    assert "The same code online" in out and out.count('"reason": "code_used"') == 2
