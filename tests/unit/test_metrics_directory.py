"""``citizencard serve`` and prometheus-client's multiprocess directory (issue 19, item 1)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from app import server


def test_serve_makes_a_fresh_directory_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    added = server.metrics_environment()
    path = added["PROMETHEUS_MULTIPROC_DIR"]
    assert added == {"PROMETHEUS_MULTIPROC_DIR": path, server.OWN_METRICS_DIR: path} and os.listdir(path) == []
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # this process is left as it was
    for name, value in added.items():
        monkeypatch.setenv(name, value)  # as the gunicorn master has them
    server._remove_own_metrics_directory()
    assert not os.path.exists(path)


def test_a_given_directory_loses_an_earlier_runs_values_and_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv(server.OWN_METRICS_DIR, "recorded")
    monkeypatch.delenv(server.OWN_METRICS_DIR)
    assert server.metrics_environment() == {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    server._remove_own_metrics_directory()
    assert tmp_path.exists()
