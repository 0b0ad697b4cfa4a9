"""Prometheus metrics (`app.metrics`, `GET /metrics`): messages and the
dispatch queue, read from the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.models import Direction, Message, MessageKind, MessageStatus, Reminder, ReminderKind


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
