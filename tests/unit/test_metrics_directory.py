"""``citizencard serve`` and prometheus-client's multiprocess directory (issue 19, item 1)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from app import server


def test_serve_makes_a_fresh_directory_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PROMETHEUS_MULTIPROC_DIR", server.OWN_METRICS_DIR):
        monkeypatch.setenv(name, "recorded")  # so that the test's end removes what metrics_directory sets
        monkeypatch.delenv(name)
    path = server.metrics_directory()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == path and os.listdir(path) == []
    server._remove_own_metrics_directory()
    assert not os.path.exists(path)


def test_a_given_directory_loses_an_earlier_runs_values_and_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv(server.OWN_METRICS_DIR, "recorded")
    monkeypatch.delenv(server.OWN_METRICS_DIR)
    assert server.metrics_directory() == str(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    server._remove_own_metrics_directory()
    assert tmp_path.exists()
