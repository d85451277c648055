"""gunicorn is configurable (issue 19, item 4): GUNICORN_CMD_ARGS, CARD_GUNICORN_* and a config
file, over our defaults; every refused setting named before anything runs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app.cli import main
from app.config import ConfigError
from app.server import gunicorn_config


def test_without_settings_serve_runs_its_defaults() -> None:
    config = gunicorn_config(None, None, 3, environ={})
    assert (config.worker_class_str, config.workers, config.bind, config.timeout) == ("gevent", 3, ["127.0.0.1:8000"], 30)
    assert config.logger_class.__name__ == "SafeLogger" and config.forwarded_allow_ips == []


def test_gunicorn_cmd_args_are_honoured() -> None:
    config = gunicorn_config(None, None, 3, environ={"GUNICORN_CMD_ARGS": "--threads 4 --timeout 60 --bind 0.0.0.0:9000 -w 5"})
    assert (config.threads, config.timeout, config.bind, config.workers) == (4, 60, ["0.0.0.0:9000"], 5)


def test_card_gunicorn_variables_set_any_gunicorn_setting() -> None:
    env = {"CARD_GUNICORN_WORKERS": "8", "CARD_GUNICORN_WORKER_CLASS": "gthread", "CARD_GUNICORN_THREADS": "4",
           "CARD_GUNICORN_GRACEFUL_TIMEOUT": "45", "CARD_GUNICORN_STATSD_HOST": "stats.internal:8125",
           "CARD_GUNICORN_STATSD_PREFIX": "card", "CARD_GUNICORN_LOGLEVEL": "warning", "CARD_GUNICORN_ACCESSLOG": "/var/log/cc.log"}
    config = gunicorn_config(None, None, 3, environ=env)
    assert (config.workers, config.worker_class_str, config.threads, config.graceful_timeout) == (8, "gthread", 4, 45)
    assert (config.statsd_host, config.statsd_prefix, config.loglevel, config.accesslog) == (
        ("stats.internal", 8125), "card", "warning", "/var/log/cc.log")


def test_each_layer_overrides_the_one_before(tmp_path: Path) -> None:
    file = tmp_path / "gunicorn.conf.py"
    file.write_text("workers = 5\nkeepalive = 9\ntimeout = 50\nbind = '0.0.0.0:7000'\nnot_a_setting = 1\n")
    env = {"CARD_GUNICORN_TIMEOUT": "40", "CARD_GUNICORN_WORKERS": "6", "GUNICORN_CMD_ARGS": "--workers 7"}
    config = gunicorn_config(None, None, 3, str(file), environ=env)
    assert (config.keepalive, config.timeout, config.workers, config.bind) == (9, 40, 7, ["0.0.0.0:7000"])
    config = gunicorn_config("127.0.0.1:8100", 2, 3, str(file), environ=env)  # serve --bind/--workers: last
    assert (config.workers, config.bind) == (2, ["127.0.0.1:8100"])
    assert gunicorn_config(None, None, 3, environ={"GUNICORN_CMD_ARGS": f"--config {file}"}).keepalive == 9


def test_every_refused_gunicorn_setting_is_named_at_once(tmp_path: Path) -> None:
    env = {"CARD_GUNICORN_NO_SUCH_THING": "1", "CARD_GUNICORN_TIMEOUT": "soon", "CARD_GUNICORN_LOGGER_CLASS": "gunicorn.glogging.Logger",
           "GUNICORN_CMD_ARGS": "--no-such-option"}
    with pytest.raises(ConfigError) as refused:
        gunicorn_config(None, None, 3, str(tmp_path / "missing.py"), environ=env)
    text = str(refused.value)
    for expected in ("CARD_GUNICORN_NO_SUCH_THING: gunicorn has no setting 'no_such_thing'", "CARD_GUNICORN_TIMEOUT:",
                     "CARD_GUNICORN_LOGGER_CLASS: logger_class cannot be changed", "GUNICORN_CMD_ARGS: not understood",
                     "missing.py' does not exist"):
        assert expected in text, text
    assert len(refused.value.problems) == 5


def test_serve_refuses_a_bad_gunicorn_setting_before_migrating(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def upgrade(*_args: Any) -> None:
        raise AssertionError("serve migrated with a gunicorn setting it then refuses")

    monkeypatch.setattr("app.server.upgrade_schema", upgrade)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))  # restored after the test
    env = {"CARD_INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "", "REDIS_URL": "", "CARD_GUNICORN_TIMEOUT": "soon"}
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "Error: configuration: CARD_GUNICORN_TIMEOUT:" in result.output


def test_serve_help_lists_the_gunicorn_settings() -> None:
    text = CliRunner().invoke(main, ["serve", "--help"]).output
    for expected in ("--config FILE", "GUNICORN_CMD_ARGS", "CARD_GUNICORN_<SETTING>", "CARD_GUNICORN_WORKERS",
                     "CARD_GUNICORN_WORKER_CLASS", "CARD_GUNICORN_THREADS", "CARD_GUNICORN_TIMEOUT", "CARD_GUNICORN_BIND",
                     "CARD_GUNICORN_STATSD_HOST", "CARD_GUNICORN_ACCESSLOG", "CARD_GUNICORN_LOGLEVEL"):
        assert expected in text, expected


def test_in_json_log_mode_gunicorns_access_log_is_off_unless_asked_for() -> None:
    assert gunicorn_config(None, None, 1, environ={"CARD_LOG_FORMAT": "json"}).accesslog is None
    assert gunicorn_config(None, None, 1, environ={"CARD_ENV": "production"}).accesslog is None
    assert gunicorn_config(None, None, 1, environ={}).accesslog == "-"
    assert gunicorn_config(None, None, 1, environ={"CARD_LOG_FORMAT": "json", "CARD_GUNICORN_ACCESSLOG": "-"}).accesslog == "-"
