"""Test-only helpers for the dispatcher: a gateway that records each send
as one line in a file (processes share no memory), and the body of a
dispatcher process (`hen dispatcher --once` on a given database)."""

from __future__ import annotations

import bisect
import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from app.config import load_settings
from app.models import Reminder, ReminderKind, ReminderStatus
from app.sending.gateways.base import SendResult


class FileGateway:
    """Appends `pid<TAB>phone<TAB>text` per send (O_APPEND: one write per
    line, safe across processes). `die_after=N`: the call after the N-th
    send kills the process on the spot, like `kill -9` in mid-batch.
    `accepted_then_die=N`: the N-th send is taken (written), then the
    process dies before the dispatcher can store the result."""

    name = "file"

    def __init__(
        self,
        path: str,
        die_after: int | None = None,
        latency: float = 0.0,
        accepted_then_die: int | None = None,
    ):
        self.path = path
        self.die_after = die_after
        self.accepted_then_die = accepted_then_die
        self.latency = latency
        self.calls = 0
        self._lock = threading.Lock()

    def send(self, phone: str, text: str, message_id: int | None = None) -> SendResult:
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self.calls += 1
            if self.die_after is not None and self.calls > self.die_after:
                os._exit(137)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{os.getpid()}\t{phone}\t{text}\n".encode())
            finally:
                os.close(fd)
            if self.accepted_then_die is not None and self.calls >= self.accepted_then_die:
                os._exit(137)
        return SendResult(gateway_id=f"file-{uuid.uuid4().hex[:12]}")


def read_sends(path: str) -> list[tuple[str, str, str]]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [tuple(line.rstrip("\n").split("\t", 2)) for line in fh if line.strip()]


def phone_for(i: int) -> str:
    return f"+8491{i:07d}"


def insert_due_reminders(engine, count: int, due_at: datetime | None = None) -> None:
    """`count` custom reminders, due now, one phone each, in one INSERT."""
    due_at = due_at or datetime.now(UTC) - timedelta(minutes=1)
    rows = [
        dict(
            kind=ReminderKind.custom,
            phone=phone_for(i),
            due_at=due_at,
            text_key="reminder.custom_visit",
            params={"clinic": "Phong kham Him Lam", "date": "24/12/2026"},
            status=ReminderStatus.pending,
            attempts=0,
            created_by="test",
            created_at=due_at,
        )
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Reminder.__table__), rows)


def dispatcher_settings(url: str, **overrides):
    values = dict(
        _env_file=None,
        DATABASE_URL=url,
        SMS_GATEWAY="memory",
        APP_ENV="test",
        QUIET_HOURS="",
        SEND_RATE_PER_SECOND=10_000,
        DISPATCH_CONCURRENCY=4,
        DISPATCH_BATCH_SIZE=100,
        RETRY_BASE_SECONDS=0,
    )
    values.update(overrides)
    return load_settings(**values)


def dispatcher_process(
    url: str,
    path: str,
    ready=None,
    go=None,
    die_after: int | None = None,
    concurrency: int = 4,
    accepted_then_die: int | None = None,
) -> None:
    """Body of one dispatcher process: build everything, wait for `go`, run once."""
    from app.db import make_engine, session_factory
    from app.sending.dispatcher import Dispatcher

    settings = dispatcher_settings(url, DISPATCH_CONCURRENCY=concurrency)
    engine = make_engine(url)
    dispatcher = Dispatcher(
        session_factory(engine),
        FileGateway(path, die_after=die_after, accepted_then_die=accepted_then_die),
        settings,
    )
    if ready is not None:
        ready.set()
    if go is not None:
        go.wait(30)
    dispatcher.run_once()
    engine.dispose()


def busiest_second(starts: list[float]) -> int:
    """The most starts in any half-open one-second window."""
    starts = sorted(starts)
    return max((bisect.bisect_left(starts, s + 1.0) - i for i, s in enumerate(starts)), default=0)
