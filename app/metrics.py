"""Prometheus metrics, read from the database, at most once per
METRICS_CACHE_SECONDS whatever the number of scrapes.

The database is the truth for every process (web, dispatchers), so the
figures are the same whichever process is scraped and survive restarts:
inbound messages by keyword, outbound by status, redemptions by channel,
the dispatcher's queue depth and lag.

Counting the message table takes a while on a large one (a second at a
million rows on SQLite), so `MetricsCache` reads the figures once and
keeps them for a short time: one scrape reads (on one pool connection),
parallel scrapes meanwhile get the previous figures, or wait for the first."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry
from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app import clock
from app.models import Direction, Message, MessageStatus, Redemption, Reminder, ReminderStatus

FIRST_READ_WAIT_SECONDS = 10.0


class MetricsUnavailable(RuntimeError):
    """No figures yet, and the first read did not finish in time."""


@dataclass(frozen=True)
class Figures:
    """What one read of the database found."""

    inbound: list[tuple[str | None, int]]  # (keyword, count)
    outbound: list[tuple[str, int]]  # (status, count)
    redemptions: list[tuple[str, int]]  # (channel, count)
    depth: dict[str, int]  # queue -> rows due and not handled
    lag_seconds: dict[str, float]  # queue -> age of the oldest of them


def read_figures(engine: Engine) -> Figures:
    """Every figure, in one session (one connection)."""
    now = clock.now()
    with Session(engine) as s:
        by_direction = s.exec(
            select(Message.direction, Message.keyword, Message.status, func.count()).group_by(
                Message.direction, Message.keyword, Message.status
            )
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
    inbound: dict[str | None, int] = {}
    outbound: dict[str, int] = {}
    for direction, keyword, status, n in by_direction:
        if direction == Direction.inbound:
            inbound[keyword] = inbound.get(keyword, 0) + n
        else:
            outbound[status] = outbound.get(status, 0) + n
    return Figures(
        inbound=sorted(inbound.items(), key=lambda kv: kv[0] or ""),
        outbound=sorted(outbound.items()),
        redemptions=sorted((str(c), n) for c, n in redemptions),
        depth={"messages": msg_depth, "reminders": rem_depth},
        lag_seconds={
            q: _age(now, oldest) for q, oldest in (("messages", msg_oldest), ("reminders", rem_oldest))
        },
    )


def _age(now: datetime, oldest: datetime | None) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


class MetricsCache:
    """The figures, read at most once per `ttl` seconds, one read at a time."""

    def __init__(self, engine: Engine, ttl: float):
        self.engine = engine
        self.ttl = ttl
        self._lock = threading.Lock()
        self._figures: Figures | None = None
        self._read_at = 0.0

    def fresh(self) -> Figures | None:
        """The figures if they are recent enough to answer with, else None."""
        figures = self._figures
        if figures is not None and time.monotonic() - self._read_at < self.ttl:
            return figures
        return None

    def figures(self) -> Figures:
        """Recent figures; reads the database when they are not (blocking:
        call it off the event loop). While one caller reads, the others get
        the previous figures, or wait for the first ones (MetricsUnavailable
        after FIRST_READ_WAIT_SECONDS). Database errors propagate."""
        if (figures := self.fresh()) is not None:
            return figures
        previous = self._figures
        if previous is not None:
            if not self._lock.acquire(blocking=False):
                return previous
        elif not self._lock.acquire(timeout=FIRST_READ_WAIT_SECONDS):
            raise MetricsUnavailable("metrics are being read, try again")
        try:
            if (figures := self.fresh()) is not None:  # read while this caller waited
                return figures
            figures = read_figures(self.engine)
            self._figures, self._read_at = figures, time.monotonic()
            return figures
        finally:
            self._lock.release()


class _FiguresCollector:
    def __init__(self, figures: Figures):
        self.figures = figures

    def collect(self):
        f = self.figures
        c = CounterMetricFamily("hen_inbound_messages", "Inbound SMS by matched keyword", labels=["keyword"])
        for keyword, n in f.inbound:
            c.add_metric([keyword or "none"], n)
        yield c
        # a message moves between statuses (queued -> sent -> delivered), so
        # this one is a gauge: how many outbound messages are in each now
        g = GaugeMetricFamily("hen_outbound_messages", "Outbound SMS by current status", labels=["status"])
        for status, n in f.outbound:
            g.add_metric([status], n)
        yield g
        c = CounterMetricFamily("hen_redemptions", "Code redemptions by channel", labels=["channel"])
        for channel, n in f.redemptions:
            c.add_metric([channel], n)
        yield c
        g = GaugeMetricFamily(
            "hen_dispatch_queue_depth", "Rows due now and not yet handled", labels=["queue"]
        )
        for queue, n in f.depth.items():
            g.add_metric([queue], n)
        yield g
        g = GaugeMetricFamily(
            "hen_dispatch_lag_seconds", "Age of the oldest row due and not yet handled", labels=["queue"]
        )
        for queue, seconds in f.lag_seconds.items():
            g.add_metric([queue], seconds)
        yield g


def render(figures: Figures) -> bytes:
    """The figures in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FiguresCollector(figures))
    return generate_latest(registry)
