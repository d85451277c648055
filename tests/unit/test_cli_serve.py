"""`citizencard serve --bind`: an address gunicorn cannot listen on is a usage error before anything runs."""
from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from app.cli import main
from app.cli.serve import BindAddress


@pytest.mark.parametrize(("bind", "refusal"), [
    ("127.0.0.1:99999", "port 99999 is not within 1-65535"),
    ("127.0.0.1:0", "port 0 is not within 1-65535"),
    ("[::1]:70000", "port 70000 is not within 1-65535"),
    ("127.0.0.1:http", "'http' is not a valid port number."),
    ("fd://x", "'x' is not a valid file descriptor."),
    ("unix:", "unix: needs a socket path"),
])
def test_a_bad_bind_is_a_usage_error_before_the_checks_or_the_migration(monkeypatch: Any, bind: str, refusal: str) -> None:
    def run_gunicorn(*args: Any) -> None:
        raise AssertionError("serve ran the start-up checks and the migration for an address it cannot listen on")

    monkeypatch.setattr("app.server.run_gunicorn", run_gunicorn)
    result = CliRunner().invoke(main, ["serve", "--bind", bind])
    assert result.exit_code == 2 and "Invalid value for '--bind'" in result.output and refusal in result.output


@pytest.mark.parametrize("bind", ["127.0.0.1:8000", "0.0.0.0:65535", "localhost", "[::1]:8000", "unix:/run/cc.sock", "fd://3"])
def test_addresses_gunicorn_accepts_pass_unchanged(bind: str) -> None:
    assert BindAddress().convert(bind, None, None) == bind


def test_serve_help_says_it_runs_the_start_up_checks_even_without_migrating() -> None:
    text = " ".join(CliRunner().invoke(main, ["serve", "--help"]).output.split())
    assert 'runs the start-up checks, the same as "citizencard check"' in text
    assert "--no-migrate skips the upgrade, not the start-up checks" in text
