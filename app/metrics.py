"""Prometheus metrics, read from the database at scrape time.

The database is the truth for every process (web, dispatchers), so the
figures are the same whichever process is scraped and survive restarts:
inbound messages by keyword, outbound by status, redemptions by channel,
the dispatcher's queue depth and lag."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry
from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app import clock
from app.models import Direction, Message, MessageStatus, Redemption, Reminder, ReminderStatus


class DatabaseCollector:
    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self):
        now = clock.now()
        with Session(self.engine) as s:
            inbound = s.exec(
                select(Message.keyword, func.count())
                .where(Message.direction == Direction.inbound)
                .group_by(Message.keyword)
            ).all()
            outbound = s.exec(
                select(Message.status, func.count())
                .where(Message.direction == Direction.outbound)
                .group_by(Message.status)
            ).all()
            redemptions = s.exec(select(Redemption.channel, func.count()).group_by(Redemption.channel)).all()
            due_messages = (Message.status == MessageStatus.queued) & or_(
                Message.next_attempt_at.is_(None), Message.next_attempt_at <= now
            )
            msg_depth, msg_oldest = s.exec(
                select(func.count(), func.min(Message.next_attempt_at)).where(
                    Message.direction == Direction.outbound, due_messages
                )
            ).one()
            rem_depth, rem_oldest = s.exec(
                select(func.count(), func.min(Reminder.due_at)).where(
                    Reminder.status == ReminderStatus.pending, Reminder.due_at <= now
                )
            ).one()

        c = CounterMetricFamily("hen_inbound_messages", "Inbound SMS by matched keyword", labels=["keyword"])
        for keyword, n in inbound:
            c.add_metric([keyword or "none"], n)
        yield c
        # a message moves between statuses (queued -> sent -> delivered), so
        # this one is a gauge: how many outbound messages are in each now
        g = GaugeMetricFamily("hen_outbound_messages", "Outbound SMS by current status", labels=["status"])
        for status, n in outbound:
            g.add_metric([status], n)
        yield g
        c = CounterMetricFamily("hen_redemptions", "Code redemptions by channel", labels=["channel"])
        for channel, n in redemptions:
            c.add_metric([channel], n)
        yield c
        g = GaugeMetricFamily(
            "hen_dispatch_queue_depth", "Rows due now and not yet handled", labels=["queue"]
        )
        g.add_metric(["messages"], msg_depth)
        g.add_metric(["reminders"], rem_depth)
        yield g
        g = GaugeMetricFamily(
            "hen_dispatch_lag_seconds", "Age of the oldest row due and not yet handled", labels=["queue"]
        )
        for queue, oldest in (("messages", msg_oldest), ("reminders", rem_oldest)):
            g.add_metric([queue], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
        yield g


def build_registry(engine: Engine) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine))
    return registry
