"""Operations: structured logs with masked phones, Prometheus metrics."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from app.logs import JsonFormatter
from app.models import Direction, Message, MessageKind, MessageStatus, Reminder, ReminderKind


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


def _message(direction, status, keyword=None, **kw) -> Message:
    return Message(
        direction=direction,
        kind=MessageKind.inbound if direction == Direction.inbound else MessageKind.reply,
        phone="+84912345678",
        text="x",
        status=status,
        keyword=keyword,
        **kw,
    )


def _metric(text: str, name: str, labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{labels}}} not in metrics:\n{text}")


def test_metrics_count_messages_and_queue_from_the_database(client, session, frozen_clock):
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    frozen_clock(now)
    session.add(_message(Direction.inbound, MessageStatus.received, keyword="HELP", external_id="a"))
    session.add(_message(Direction.inbound, MessageStatus.received, keyword="HELP", external_id="b"))
    session.add(_message(Direction.outbound, MessageStatus.delivered))
    session.add(
        _message(Direction.outbound, MessageStatus.queued, next_attempt_at=now - timedelta(seconds=90))
    )
    session.add(
        Reminder(
            kind=ReminderKind.custom, phone="+84912345678", due_at=now - timedelta(minutes=10), text_key="k"
        )
    )
    session.commit()

    r = client.get("/metrics")
    assert r.status_code == 200
    body = r.text
    assert _metric(body, "hen_inbound_messages_total", 'keyword="HELP"') == 2
    assert _metric(body, "hen_outbound_messages", 'status="delivered"') == 1
    # statuses change (queued -> sent -> delivered): a gauge, not a counter
    assert "# TYPE hen_outbound_messages gauge" in body
    assert _metric(body, "hen_dispatch_queue_depth", 'queue="messages"') == 1
    assert _metric(body, "hen_dispatch_queue_depth", 'queue="reminders"') == 1
    assert _metric(body, "hen_dispatch_lag_seconds", 'queue="messages"') == 90
    assert _metric(body, "hen_dispatch_lag_seconds", 'queue="reminders"') == 600
