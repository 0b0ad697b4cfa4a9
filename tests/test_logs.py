"""Structured logs (`app.logs`): JSON lines with phone numbers masked."""

from __future__ import annotations

import json
import logging

from app.logs import JsonFormatter


def _format(msg: str, *args, **extra) -> dict:
    record = logging.LogRecord("hen.test", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter().format(record))


def test_log_lines_are_json_with_phone_numbers_masked():
    line = _format("reply to %s failed", "+84912345678", phone="+84912345678", note="call 0912 345 678")
    assert line["level"] == "info" and line["logger"] == "hen.test"
    assert "+84912345678" not in json.dumps(line)
    assert line["msg"] == "reply to +8491****678 failed"
    assert line["phone"] == "+8491****678"
    assert "345 678" not in line["note"]


def test_log_masking_leaves_short_numbers_alone():
    line = _format("dispatched %d messages in %d ms", 12, 340)
    assert line["msg"] == "dispatched 12 messages in 340 ms"
