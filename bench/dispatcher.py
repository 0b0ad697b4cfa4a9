"""Dispatcher benchmark on PostgreSQL (issue 6): rate, memory, query plans.

    .venv/bin/python bench/dispatcher.py [--reminders 1000000] [--due 100000]
        [--rate 50] [--latency 0.1] [--rate-seconds 20] [--ticks 8] [--tick-messages 2000]
        [--pg-url postgresql://postgres@127.0.0.1:5432/test]

A scratch database `hen_bench_<pid>` is created on the server of --pg-url
(or HEN_BENCH_PG_URL), migrated, filled with --reminders pending reminders
(one INSERT … SELECT generate_series; --due of them already due, the rest
spread over the next 30 days), and dropped at the end, whatever happens.

1. Plans: EXPLAIN (ANALYZE, BUFFERS) of the dispatcher's own claiming
   statements (reminders, then messages), each in a transaction rolled back.
2. Rate: a memory gateway that takes --latency seconds per call, at
   SEND_RATE_PER_SECOND=--rate, DISPATCH_CONCURRENCY=16, for --rate-seconds.
   Achieved rate = (calls - 1) / (last call - first call); also the most
   calls that started in any 1-second window. Goal: >= 95 % of the rate and
   never above it.
3. Memory: --ticks ticks of --tick-messages messages each (fast gateway that
   keeps nothing), RSS of this process after each tick. Goal: flat.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from sqlalchemy import and_, text, update  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402

from app.config import load_settings  # noqa: E402
from app.db import make_engine, session_factory  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import Message, MessageStatus, Reminder, ReminderStatus  # noqa: E402
from app.sending.claims import _due  # noqa: E402
from app.sending.dispatcher import Dispatcher  # noqa: E402
from app.sending.gateways.base import SendResult  # noqa: E402

DEFAULT_PG = os.environ.get("HEN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class TimedGateway:
    """Sleeps `latency` per call and keeps only the start time of each call."""

    name = "bench"

    def __init__(self, latency: float, keep_times: bool = True):
        self.latency = latency
        self.keep_times = keep_times
        self.starts: list[float] = []
        self.calls = 0
        self._lock = threading.Lock()

    def send(self, phone: str, text: str, message_id: int | None = None) -> SendResult:
        started = time.monotonic()
        with self._lock:
            self.calls += 1
            if self.keep_times:
                self.starts.append(started)
        if self.latency:
            time.sleep(self.latency)
        return SendResult(gateway_id=None)


def fill(url: str, total: int, due: int) -> float:
    t0 = time.perf_counter()
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO reminder (kind, phone, due_at, text_key, params, status, attempts, created_by, created_at)
            SELECT 'custom', '+8491' || lpad(g::text, 7, '0'),
                   CASE WHEN g <= %(due)s
                        THEN (now() AT TIME ZONE 'utc') - interval '1 hour' + g * interval '1 millisecond'
                        ELSE (now() AT TIME ZONE 'utc') + (g %% 43200) * interval '1 minute' END,
                   'reminder.custom_visit',
                   '{"clinic": "Phong kham Him Lam", "date": "24/12/2026"}'::json,
                   'pending', 0, 'bench', now() AT TIME ZONE 'utc'
            FROM generate_series(1, %(total)s) AS g
            """,
            {"due": due, "total": total},
        )
        conn.execute("ANALYZE reminder")
        conn.execute("ANALYZE message")
    return time.perf_counter() - t0


def explain(engine, stmt, label: str) -> None:
    compiled = stmt.compile(dialect=postgresql.dialect())
    params = {}
    for key, value in compiled.params.items():
        if isinstance(value, datetime):  # what the UTCDateTime column type would bind
            value = value.astimezone(UTC).replace(tzinfo=None)
        params[key] = getattr(value, "value", value)
    print(f"\n--- plan: {label}")
    with engine.connect() as conn:
        trans = conn.begin()
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + str(compiled), params).all()
        trans.rollback()
    for (line,) in rows:
        print("   ", line)


def plans(engine, d: Dispatcher) -> None:
    now = datetime.now(UTC)
    r, m = Reminder.__table__, Message.__table__
    claim_r = (
        update(r)
        .where(_due(r, and_(r.c.status == ReminderStatus.pending, r.c.due_at <= now), r.c.due_at, 100))
        .values(
            status=ReminderStatus.claimed,
            claimed_by="bench",
            claimed_until=now + timedelta(minutes=2),
            attempts=r.c.attempts + 1,
        )
        .returning(r.c.id)
    )
    explain(engine, claim_r, "claim 100 due reminders (pending, due_at <= now)")
    lease_r = (
        update(r)
        .where(_due(r, and_(r.c.status == ReminderStatus.claimed, r.c.claimed_until < now), r.c.id, 100))
        .values(status=ReminderStatus.claimed, claimed_by="bench")
        .returning(r.c.id)
    )
    explain(engine, lease_r, "reclaim reminders with an expired lease")
    claim_m = (
        update(m)
        .where(
            _due(
                m,
                and_(m.c.status == MessageStatus.queued, m.c.next_attempt_at <= now),
                m.c.next_attempt_at,
                100,
            )
        )
        .values(status=MessageStatus.sending, claimed_by="bench", attempts=m.c.attempts + 1)
        .returning(m.c.id)
    )
    explain(engine, claim_m, "claim 100 due messages (queued, next_attempt_at <= now)")


def bench_settings(url: str, rate: float):
    """Memory gateway, no quiet hours, 16 gateway calls in flight at `rate`/s."""
    return load_settings(
        _env_file=None,
        DATABASE_URL=url,
        SMS_GATEWAY="memory",
        APP_ENV="test",
        QUIET_HOURS="",
        SEND_RATE_PER_SECOND=rate,
        DISPATCH_CONCURRENCY=16,
    )


def rate_run(engine, url: str, rate: float, latency: float, seconds: float) -> None:
    settings = bench_settings(url, rate)
    gateway = TimedGateway(latency)
    d = Dispatcher(session_factory(engine), gateway, settings)
    runner = threading.Thread(target=d.tick)
    t0 = time.monotonic()
    runner.start()
    time.sleep(seconds)
    d.stop_background()
    runner.join()
    wall = time.monotonic() - t0
    starts = sorted(gateway.starts)
    n = len(starts)
    achieved = (n - 1) / (starts[-1] - starts[0]) if n > 1 else 0.0
    busiest = max(bisect.bisect_left(starts, s + 1.0) - i for i, s in enumerate(starts)) if starts else 0
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT status, count(*) FROM message GROUP BY status")).all())
    print(f"\n--- rate: gateway latency {latency * 1000:.0f} ms per call, limit {rate:g}/s, concurrency 16")
    print(f"    gateway calls: {n} in {wall:.1f} s of run")
    print(
        f"    achieved rate: {achieved:.2f}/s = {achieved / rate * 100:.1f} % of the limit "
        f"(first to last call, {starts[-1] - starts[0]:.2f} s)"
        if n > 1
        else "    no calls"
    )
    print(f"    most calls starting in any 1 s window: {busiest} (limit {rate:g})")
    if gaps:
        print(
            f"    smallest gap between call starts: {min(gaps) * 1000:.1f} ms (nominal {1000 / rate:.1f} ms)"
        )
    print(f"    messages by status after a graceful stop: {counts}")


def memory_run(engine, url: str, ticks: int, per_tick: int) -> None:
    settings = bench_settings(url, 5000)
    gateway = TimedGateway(0.0, keep_times=False)
    d = Dispatcher(session_factory(engine), gateway, settings)
    gc.collect()
    print(f"\n--- memory: {ticks} ticks of {per_tick} messages (reminders claimed, rendered, queued, sent)")
    before = rss_mb()
    print(f"    RSS before the first tick: {before:.1f} MB")
    figures = []
    for i in range(ticks):
        t0 = time.perf_counter()
        sent = d.tick(max_messages=per_tick)
        took = time.perf_counter() - t0
        gc.collect()
        figures.append(rss_mb())
        print(
            f"    tick {i + 1}: sent {sent} in {took:.1f} s ({sent / took:.0f}/s), RSS {figures[-1]:.1f} MB"
        )
    d.stop_background()
    print(
        f"    RSS after tick 1: {figures[0]:.1f} MB, after tick {ticks}: {figures[-1]:.1f} MB "
        f"(change {figures[-1] - figures[0]:+.1f} MB over {ticks - 1} ticks)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg-url", default=DEFAULT_PG)
    ap.add_argument("--reminders", type=int, default=1_000_000)
    ap.add_argument("--due", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--rate-seconds", type=float, default=20.0)
    ap.add_argument("--ticks", type=int, default=8, help="0: skip the memory run")
    ap.add_argument("--tick-messages", type=int, default=2000)
    args = ap.parse_args()

    name = f"hen_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
    base = admin.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = None
    try:
        upgrade(url)
        print(f"scratch database {name}; filling {args.reminders:,} pending reminders ({args.due:,} due now)")
        print(f"    filled in {fill(url, args.reminders, args.due):.1f} s")
        engine = make_engine(url)
        probe = Dispatcher(
            session_factory(engine), TimedGateway(0), load_settings(_env_file=None, DATABASE_URL=url)
        )
        plans(engine, probe)
        rate_run(engine, url, args.rate, args.latency, args.rate_seconds)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE message"))
            conn.commit()
        plans(engine, probe)  # again, with the outbox now holding rows
        if args.ticks > 0:
            memory_run(engine, url, args.ticks, args.tick_messages)
    finally:
        if engine is not None:
            engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"\nscratch database {name} dropped")


if __name__ == "__main__":
    main()
