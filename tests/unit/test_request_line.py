"""The request's JSON line is preformatted (app.platform.logs.request_line, issue 25): it must be the
line the JSON formatter would have written for the same record, key for key and in the same order."""
from __future__ import annotations

import json
import logging

from app.platform.logs import PREFORMATTED, CardJsonFormatter, request_line


def test_a_preformatted_request_line_is_what_the_json_formatter_writes() -> None:
    fields = {"message": "request", "event": "request", "request_id": "req-1", "method": "POST",
              "route": "/api/partner/v1/verifications", "status": 200, "duration_ms": 1.25, "partner_id": "pt_x"}
    extra = {key: value for key, value in fields.items() if key != "message"}
    record = logging.LogRecord("app.request", logging.INFO, __file__, 1, "request", None, None)
    record.__dict__.update(extra)
    record.created = 1_764_979_200.1234  # 2025-12-06 00:00:00.123 UTC: 08:00 in Shanghai
    formatter = CardJsonFormatter("%(message)s", json_ensure_ascii=True)
    expected = formatter.format(record)
    line = request_line(fields, now=record.created)
    assert list(json.loads(line).items()) == list(json.loads(expected).items())
    assert json.loads(line)["time_shanghai"] == "2025-12-06T08:00:00.123+08:00"
    preformatted = logging.LogRecord("app.request", logging.INFO, __file__, 1, line, None, None)
    preformatted.__dict__.update(PREFORMATTED)
    assert formatter.format(preformatted) == line
