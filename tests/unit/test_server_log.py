"""gunicorn's log lines: no query strings (they may carry personal data), printable ASCII only."""
from __future__ import annotations

from app.server import _redacted


def test_a_quoted_request_line_loses_its_query_string() -> None:
    line = ("Invalid request from ip=127.0.0.1: Invalid HTTP request line: "
            "'GET /api/mp/v1/binding?id_number=441900198506151235&phone=13800138000 HTTP/1.1'")
    redacted = _redacted(line)
    assert "441900198506151235" not in redacted and "13800138000" not in redacted
    assert redacted.endswith("'GET /api/mp/v1/binding?<query> HTTP/1.1'")


def test_control_characters_are_escaped_so_no_line_can_be_forged() -> None:
    assert _redacted("bad path /a\n[INFO] forged") == "bad path /a\\n[INFO] forged"


def test_our_info_lines_reach_stderr_so_the_development_sms_can_be_read(tmp_path, capfd) -> None:  # type: ignore[no-untyped-def]
    from app import create_app
    from app.integrations.sms import ConsoleSmsSender, verification_code

    create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/log.sqlite"})
    ConsoleSmsSender().send("13800138000", verification_code("123456"))
    err = capfd.readouterr().err
    assert "SMS verification_code to 138****8000: 【东莞市民卡】验证码 123456" in err and "13800138000" not in err
