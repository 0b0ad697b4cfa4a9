"""The dispatcher: due reminders become outbound messages, due outbound
messages go to the gateway. The database is the truth; this process holds
nothing that matters after a restart.

Two queues, both claimed atomically with a lease (`claimed_by`,
`claimed_until`), so several dispatcher processes never take the same row,
and a row whose process died is taken again once its lease has run out:
- PostgreSQL: `UPDATE … WHERE id IN (SELECT id … ORDER BY … LIMIT n FOR
  UPDATE SKIP LOCKED) RETURNING …`;
- SQLite: the same single `UPDATE … RETURNING` (SQLite has one writer at a
  time, so the statement is atomic; FOR UPDATE is not rendered).

1. Reminders (`pending` and due, or `claimed` with an expired lease): each in
   its own transaction: invalid phone or unknown text key -> `failed`;
   opted out -> `skipped`; no longer relevant (code redeemed, appointment
   cancelled or past) -> `skipped`; inside quiet hours -> back to `pending`,
   due when they end; otherwise the text is rendered in the person's
   language and queued in the outbox (`app.sending.outbox.queue_message`),
   and the reminder is `sent`. The final UPDATE is conditional on the claim
   still being ours, so a reminder cancelled meanwhile sends nothing.
2. Messages (`queued` and due, or `sending` with an expired lease): sent by a
   thread pool (`DISPATCH_CONCURRENCY`) so a slow gateway does not slow the
   rate, each call after a slot from the rate limiter (`SEND_RATE_PER_SECOND`,
   never exceeded). Retryable gateway errors (429, timeouts, 5xx) go back to
   `queued` with exponential back-off and jitter until `MAX_SEND_ATTEMPTS`,
   then `failed`; a non-retryable error is `failed` at once.

APScheduler (3.x) drives only the periodic `tick` (one interval job,
max_instances=1, coalesce); never one job per reminder. `send_now(ids)`
sends webhook replies at once, claimed the same way, so a tick running at
the same moment never sends them twice. Stopping (`stop_background`,
SIGTERM in `run_forever`) lets gateway calls in flight finish and hands the
claimed-but-unsent rows back (un-claimed) for the next process.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from app import clock
from app.config import Settings
from app.domain import reminders as reminder_rules
from app.domain.phones import mask_phone, try_normalize_phone
from app.messages import UnknownMessageKey
from app.models import Message, MessageKind, MessageStatus, Person, Reminder, ReminderStatus
from app.sending.gateway import Gateway, GatewayError, SendResult
from app.sending.outbox import queue_message

log = logging.getLogger("hen.dispatcher")

MAX_BACKOFF_SECONDS = 6 * 3600
MAX_WINDOW = 1000
_EPSILON = 1e-6  # a microsecond: float rounding must not make a sleep loop spin

_reminders = Reminder.__table__
_messages = Message.__table__


# ---------------------------------------------------------------- pure rules


def quiet_until(at: datetime, window: tuple[dtime, dtime] | None, tz: ZoneInfo) -> datetime | None:
    """When the quiet window containing `at` ends (aware UTC), or None when
    `at` is outside it (or there is no window). The window is local time in
    `tz` and may cross midnight (21:00-07:00)."""
    if window is None:
        return None
    start, end = window
    local = at.astimezone(tz)
    now = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= now < end
        end_day = local.date()
    else:
        inside = now >= start or now < end
        end_day = local.date() if now < end else local.date() + timedelta(days=1)
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(UTC)


def backoff_seconds(attempt: int, base: float, rng: random.Random | None = None) -> float:
    """Delay before attempt `attempt + 1`: base * 2^(attempt-1), capped, with
    "equal jitter" (half fixed, half random) so failed senders spread out."""
    step = min(base * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)
    return step / 2 + (rng or random).uniform(0, step / 2)


class RateLimiter:
    """At most `rate` sends a second, process-wide (thread-safe).

    Grants follow an even schedule, one every 1/rate (a token bucket of
    depth one, GCRA-style: idle time builds up no burst); a grant that comes
    late because its thread woke up late keeps the schedule, so the long-run
    rate is the configured one even on a loaded machine. On top, a sliding
    one-second log makes sure no one-second window ever holds more than
    `rate` grants. `monotonic` and `sleep` are injectable for tests."""

    def __init__(
        self,
        rate: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 1.0 / rate
        self.per_second = max(1, int(rate + _EPSILON))
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: float | None = None
        self._recent: deque[float] = deque(maxlen=self.per_second)
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for the next grant. False when `stop` is set meanwhile."""
        with self._lock:
            while True:
                if stop is not None and stop.is_set():
                    return False
                now = self._monotonic()
                # the slot: the schedule, unless we were idle for more than one interval
                slot = self._next if self._next is not None and now - self._next < self.interval else now
                wait_for = slot - now
                full = len(self._recent) == self.per_second
                window_wait = self._recent[0] + 1.0 - now if full else 0.0
                if window_wait > 0:  # strict: the oldest grant must have left the window
                    wait_for = max(wait_for, window_wait, _EPSILON)
                if wait_for <= _EPSILON:
                    self._recent.append(now)
                    self._next = max(slot + self.interval, now + self.interval / 2)
                    return True
                if stop is not None:
                    stop.wait(wait_for)
                else:
                    self._sleep(wait_for)


class _Lost(Exception):
    """The claim on a row is no longer ours (cancelled or re-claimed)."""


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    phone: str
    text: str
    kind: str
    attempts: int  # including this one


# ---------------------------------------------------------------- dispatcher


class Dispatcher:
    def __init__(self, factory: sessionmaker[Session], gateway: Gateway, settings: Settings):
        self.factory = factory
        self.gateway = gateway
        self.settings = settings
        self.worker_id = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # one limiter per dispatcher, and one dispatcher per process: the web
        # process's ticks and send_now share it
        self.limiter = RateLimiter(settings.send_rate_per_second)
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self._rng = random.Random()

    # ------------------------------------------------------------ public

    def tick(self, max_messages: int | None = None) -> int:
        """One pass: expire codes, then turn due reminders into messages and
        send due messages until nothing is due (or `max_messages` were
        claimed, or stopping). Returns how many messages the gateway took."""
        if self._stop.is_set():
            return 0
        self._expire_codes()
        window = self._window()
        sent = claimed = 0
        inflight: set[Future] = set()
        # reminders are converted in their own thread, so sending never waits for them
        converter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hen-remind")
        converting: Future | None = None
        reminders_left = True  # until a conversion finds nothing due
        drained = False
        try:
            while True:
                if converting is not None and converting.done():
                    reminders_left = converting.result() > 0
                    converting = None
                if not drained and not self._stop.is_set() and len(inflight) <= window // 2:
                    room = window - len(inflight)
                    if max_messages is not None:
                        room = min(room, max_messages - claimed)
                    if room <= 0:
                        drained = True
                    else:
                        rows = self._claim_due_messages(room)
                        claimed += len(rows)
                        inflight |= {self._submit(row) for row in rows}
                        if len(rows) < room and converting is None and reminders_left:
                            # the outbox runs low: feed it from the due reminders
                            converting = self._start_conversion(converter)
                        # a message in flight may come back due (retry): only an idle pass ends the tick
                        drained = not rows and not inflight and converting is None and not reminders_left
                if not inflight and converting is None and (drained or self._stop.is_set()):
                    break
                waiting = inflight | ({converting} if converting is not None else set())
                if not waiting:
                    continue
                done, _ = wait(waiting, timeout=0.5, return_when=FIRST_COMPLETED)
                finished = done & inflight
                inflight -= finished
                sent += sum(f.result() for f in finished)
        finally:
            if inflight:
                sent += sum(f.result() for f in wait(inflight).done)
            converter.shutdown(wait=True)
        if sent:
            log.info("tick", extra={"sent": sent, "claimed": claimed, "worker": self.worker_id})
        return sent

    def _start_conversion(self, converter: ThreadPoolExecutor) -> Future:
        """Convert one batch of due reminders: in the converter thread on
        PostgreSQL; inline on SQLite (one writer at a time: a second
        transaction writing beside the tick's claims would only meet
        `database is locked`)."""
        if not self.settings.is_sqlite:
            return converter.submit(self._convert_due_reminders, self.settings.dispatch_batch_size)
        done: Future = Future()
        done.set_result(self._convert_due_reminders(self.settings.dispatch_batch_size))
        return done

    def send_now(self, ids: Iterable[int]) -> int:
        """Send these queued messages now (webhook replies, after the commit).
        Claimed like any other row: one a tick already holds is left to it."""
        ids = [int(i) for i in ids]
        if not ids or self._stop.is_set():
            return 0
        now = clock.now()
        rows = self._claim(
            update(_messages).where(_messages.c.id.in_(ids), _messages.c.status == MessageStatus.queued),
            now,
        )
        futures = [self._submit(row) for row in rows]
        return sum(f.result() for f in futures)

    def run_once(self) -> int:
        """`hen dispatcher --once`: send what is due now, then exit."""
        with _StopOnSignals(self):
            try:
                return self.tick()
            finally:
                self._shutdown_pool()

    def run_forever(self) -> None:
        """`hen dispatcher`: the periodic tick until SIGTERM / SIGINT."""
        stopped = threading.Event()
        with _StopOnSignals(self, stopped):
            self.start_background()
            log.info(
                "dispatcher started",
                extra={"worker": self.worker_id, "interval": self.settings.dispatch_interval_seconds},
            )
            try:
                while not stopped.wait(1.0):
                    pass
            finally:
                self.stop_background()
                log.info("dispatcher stopped", extra={"worker": self.worker_id})

    def start_background(self) -> None:
        """Run `tick` every DISPATCH_INTERVAL_SECONDS in a background thread."""
        if self._scheduler is not None:
            return
        self._stop.clear()
        self._scheduler = BackgroundScheduler(daemon=True, timezone=UTC)
        self._scheduler.add_job(
            self._scheduled_tick,
            "interval",
            seconds=self.settings.dispatch_interval_seconds,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,  # late is fine; the rows wait in the database
            next_run_time=datetime.now(UTC),
            id="dispatch-tick",
        )
        self._scheduler.start()

    def stop_background(self) -> None:
        """Stop claiming; let gateway calls in flight finish; hand back the
        rows claimed but not sent."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        self._shutdown_pool()

    # ------------------------------------------------------------ plumbing

    def _scheduled_tick(self) -> None:
        try:
            self.tick()
        except Exception:  # the next tick tries again; the rows are safe in the database
            log.exception("tick failed", extra={"worker": self.worker_id})

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.dispatch_concurrency, thread_name_prefix="hen-send"
                )
            return self._pool

    def _shutdown_pool(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _submit(self, row: ClaimedMessage) -> Future:
        return self._executor().submit(self._deliver, row)

    def _window(self) -> int:
        """How many messages may be claimed and not yet sent at once: enough
        to keep the pool busy for ~4 s at the rate (new claims start at half,
        so ~2 s of sends cover a batch of reminders being converted), few
        enough that the last of them is sent well inside its lease."""
        rate = self.settings.send_rate_per_second
        wanted = max(2 * self.settings.dispatch_concurrency, int(4 * rate), 2)
        within_lease = max(1, int(rate * self.settings.claim_lease_seconds / 2))
        return min(wanted, within_lease, MAX_WINDOW)

    def _lease(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.claim_lease_seconds)

    def _expire_codes(self) -> None:
        """`app.domain.codes.expire_due_codes`, once per tick, when it exists."""
        try:
            from app.domain import codes
        except ImportError:
            return
        expire = getattr(codes, "expire_due_codes", None)
        if expire is None:
            return
        with self.factory() as session:
            try:
                n = expire(session)
                session.commit()
            except Exception:
                session.rollback()
                log.exception("expiring codes failed")
                return
        if n:
            log.info("codes expired", extra={"count": n})

    # ------------------------------------------------------------ claims

    def _claim(self, stmt, now: datetime) -> list[ClaimedMessage]:
        """Run one claiming UPDATE on messages, committed at once."""
        stmt = stmt.values(
            status=MessageStatus.sending,
            claimed_by=self.worker_id,
            claimed_until=self._lease(now),
            attempts=_messages.c.attempts + 1,
            updated_at=now,
        ).returning(
            _messages.c.id, _messages.c.phone, _messages.c.text, _messages.c.kind, _messages.c.attempts
        )
        with self.factory() as session:
            rows = session.connection().execute(stmt).all()
            session.commit()
        return [ClaimedMessage(r.id, r.phone, r.text, r.kind, r.attempts) for r in rows]

    def _due(self, table, condition, order_by, limit: int):
        """`id IN (SELECT id … ORDER BY … LIMIT n FOR UPDATE SKIP LOCKED)`."""
        return table.c.id.in_(
            select(table.c.id)
            .where(condition)
            .order_by(order_by)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )

    def _claim_due_messages(self, limit: int) -> list[ClaimedMessage]:
        limit = min(limit, self.settings.dispatch_batch_size)
        now = clock.now()
        c = _messages.c
        # leases of dead processes (and queued rows without a time) first: few, by construction
        stale = or_(
            and_(c.status == MessageStatus.sending, c.claimed_until < now),
            and_(c.status == MessageStatus.queued, c.next_attempt_at.is_(None)),
        )
        rows = self._claim(update(_messages).where(self._due(_messages, stale, c.id, limit)), now)
        if len(rows) < limit:
            due = and_(c.status == MessageStatus.queued, c.next_attempt_at <= now)
            rows += self._claim(
                update(_messages).where(self._due(_messages, due, c.next_attempt_at, limit - len(rows))), now
            )
        return rows

    def _claim_due_reminders(self, limit: int) -> list:
        """Claim up to `limit` due reminders; returns their rows (as claimed)."""
        now = clock.now()
        c = _reminders.c
        values = dict(
            status=ReminderStatus.claimed,
            claimed_by=self.worker_id,
            claimed_until=self._lease(now),
            attempts=c.attempts + 1,
        )
        rows: list = []
        with self.factory() as session:
            conn = session.connection()
            for condition, order_by in (
                (and_(c.status == ReminderStatus.claimed, c.claimed_until < now), c.id),
                (and_(c.status == ReminderStatus.pending, c.due_at <= now), c.due_at),
            ):
                if len(rows) >= limit:
                    break
                stmt = (
                    update(_reminders)
                    .where(self._due(_reminders, condition, order_by, limit - len(rows)))
                    .values(**values)
                    .returning(*_reminders.c)
                )
                rows += conn.execute(stmt).all()
            session.commit()
        return rows

    # ------------------------------------------------------------ reminders

    def _convert_due_reminders(self, limit: int) -> int:
        """Claim up to `limit` due reminders and settle them: each one in its
        own savepoint (atomic on its own; a failing one never takes the
        others down), the batch in one transaction (one commit). If the
        process dies before the commit, the batch stays claimed and is taken
        again after the lease: nothing was queued, nothing is lost. Returns
        how many were claimed."""
        rows = self._claim_due_reminders(limit)
        if rows:
            self._settle_batch(rows)
        return len(rows)

    def _settle_batch(self, rows: list) -> None:
        region = self.settings.default_region
        numbers = {r.id: try_normalize_phone(r.phone, region) for r in rows}
        outcomes: list[tuple[object, str, str | None]] = []
        with self.factory() as session:
            wanted = {n for n in numbers.values() if n}
            # language and opt-out of the whole batch in one query (people.resolve_caller's rule)
            people = {p.phone: p for p in session.scalars(select(Person).where(Person.phone.in_(wanted)))}
            for n, row in enumerate(rows):
                if self._stop.is_set():
                    self._release_reminders(session, [r.id for r in rows[n:]])
                    break
                phone = numbers[row.id]
                try:
                    with session.begin_nested():
                        if self.settings.is_sqlite and not self._finish_reminder(
                            session, row.id, keep_claim=True
                        ):
                            # the write lock first (a read-then-write transaction in WAL can
                            # only fail with `database is locked` if a writer slipped in)
                            raise _Lost
                        outcome, detail = self._settle_reminder(session, row, phone, people.get(phone))
                except _Lost:
                    outcome, detail = "lost", "cancelled or re-claimed meanwhile"
                except Exception as exc:  # never let one row block the queue
                    log.exception("reminder failed", extra={"reminder_id": row.id})
                    outcome, detail = "failed", f"error: {type(exc).__name__}"
                    with session.begin_nested():
                        self._finish_reminder(
                            session, row.id, status=ReminderStatus.failed, last_error=detail
                        )
                outcomes.append((row, outcome, detail))
            session.commit()
        for row, outcome, detail in outcomes:
            level = logging.INFO if outcome in ("sent", "pending") else logging.WARNING
            log.log(
                level,
                f"reminder {outcome}",
                extra={
                    "reminder_id": row.id,
                    "kind": row.kind,
                    "phone": mask_phone(row.phone),
                    "detail": detail,
                },
            )

    def _settle_reminder(
        self, session: Session, r, phone: str | None, person: Person | None
    ) -> tuple[str, str | None]:
        """Decide one claimed reminder (`r`: its row as claimed) and write
        the decision, conditional on the claim still being ours (else
        `_Lost`, which rolls the savepoint back: a reminder cancelled
        meanwhile queues nothing). Returns (outcome, detail) for the log."""
        now = clock.now()
        s = self.settings

        def finish(status: ReminderStatus, reason: str | None, **values) -> tuple[str, str | None]:
            if not self._finish_reminder(session, r.id, status=status, last_error=reason, **values):
                raise _Lost
            return str(status), reason

        if phone is None:
            return finish(ReminderStatus.failed, "invalid_phone")
        language = (person.language if person and person.language else None) or s.default_language
        if person is not None and person.opted_out:
            return finish(ReminderStatus.skipped, "opted_out")
        stale = reminder_rules.stale_reason(session, r, now, s)
        if stale:
            return finish(ReminderStatus.skipped, stale)
        try:
            text = reminder_rules.render_reminder(r, language)
        except UnknownMessageKey:
            return finish(ReminderStatus.failed, f"unknown_text_key: {r.text_key}")
        except (KeyError, IndexError, ValueError) as exc:
            return finish(ReminderStatus.failed, f"bad_params: {exc}")
        until = quiet_until(now, s.quiet_window, s.tz)
        if until is not None:  # not an attempt: back to pending, due when the quiet hours end
            return finish(ReminderStatus.pending, None, due_at=until, attempts=_reminders.c.attempts - 1)
        message = queue_message(
            session, phone=phone, text=text, kind=MessageKind.reminder, language=language, reminder_id=r.id
        )
        if message.status == MessageStatus.skipped:  # opted out a moment ago: the outbox said no
            return finish(ReminderStatus.skipped, message.error or "opted_out")
        return finish(ReminderStatus.sent, None, sent_at=now)

    def _finish_reminder(
        self, session: Session, reminder_id: int, keep_claim: bool = False, **values
    ) -> bool:
        """Conditional on the claim still being ours: True when it was.
        `keep_claim`: only check (and lock) the row, change nothing."""
        c = _reminders.c
        values = (
            {"claimed_until": c.claimed_until}
            if keep_claim
            else dict(claimed_by=None, claimed_until=None, **values)
        )
        result = session.connection().execute(
            update(_reminders)
            .where(c.id == reminder_id, c.status == ReminderStatus.claimed, c.claimed_by == self.worker_id)
            .values(**values)
        )
        return result.rowcount == 1

    def _release_reminders(self, session: Session, ids: list[int]) -> None:
        """Hand claimed, unsettled reminders back (not counted as an attempt)."""
        c = _reminders.c
        session.connection().execute(
            update(_reminders)
            .where(c.id.in_(ids), c.status == ReminderStatus.claimed, c.claimed_by == self.worker_id)
            .values(
                status=ReminderStatus.pending, claimed_by=None, claimed_until=None, attempts=c.attempts - 1
            )
        )
        log.info("reminders released", extra={"count": len(ids)})

    # ------------------------------------------------------------ messages

    def _deliver(self, row: ClaimedMessage) -> int:
        """Send one claimed message (in a pool thread). 1 when the gateway took it."""
        try:
            if row.kind == MessageKind.reminder:
                until = quiet_until(clock.now(), self.settings.quiet_window, self.settings.tz)
                if until is not None:  # e.g. a retry that fell into the night
                    self._release_message(row, next_attempt_at=until)
                    return 0
            if self._stop.is_set() or not self.limiter.acquire(self._stop) or self._stop.is_set():
                self._release_message(row)
                return 0
            try:
                result = self.gateway.send(row.phone, row.text)
            except GatewayError as exc:
                self._record_failure(row, str(exc), exc.retryable)
                return 0
            except Exception as exc:  # timeouts and connection errors from an SDK: try again later
                self._record_failure(row, f"{type(exc).__name__}: {exc}", True)
                return 0
            self._record_sent(row, result)
            return 1
        except Exception:
            log.exception("delivery bookkeeping failed", extra={"message_id": row.id})
            return 0

    def _update_claimed(self, row: ClaimedMessage, **values) -> bool:
        c = _messages.c
        with self.factory() as session:
            n = (
                session.connection()
                .execute(
                    update(_messages)
                    .where(c.id == row.id, c.status == MessageStatus.sending, c.claimed_by == self.worker_id)
                    .values(claimed_by=None, claimed_until=None, updated_at=clock.now(), **values)
                )
                .rowcount
            )
            session.commit()
        if n != 1:
            log.warning("lease lost before the result was stored", extra={"message_id": row.id})
        return n == 1

    def _record_sent(self, row: ClaimedMessage, result: SendResult) -> None:
        status = result.status if result.status in MessageStatus.__members__ else MessageStatus.sent
        self._update_claimed(
            row,
            status=status,
            gateway_id=result.gateway_id,
            cost=result.cost,
            sent_at=clock.now(),
            error=None,
        )
        log.info(
            "sms sent",
            extra={
                "message_id": row.id,
                "phone": mask_phone(row.phone),
                "kind": row.kind,
                "attempt": row.attempts,
            },
        )

    def _record_failure(self, row: ClaimedMessage, reason: str, retryable: bool) -> None:
        reason = reason[:500]
        extra = {
            "message_id": row.id,
            "phone": mask_phone(row.phone),
            "attempt": row.attempts,
            "error": reason,
        }
        if retryable and row.attempts < self.settings.max_send_attempts:
            delay = backoff_seconds(row.attempts, self.settings.retry_base_seconds, self._rng)
            self._update_claimed(
                row,
                status=MessageStatus.queued,
                error=reason,
                next_attempt_at=clock.now() + timedelta(seconds=delay),
            )
            log.warning("sms retry later", extra={**extra, "retry_in": round(delay, 1)})
        else:
            self._update_claimed(row, status=MessageStatus.failed, error=reason)
            log.error("sms failed", extra={**extra, "retryable": retryable})

    def _release_message(self, row: ClaimedMessage, next_attempt_at: datetime | None = None) -> None:
        """Hand a claimed, unsent message back (not counted as an attempt)."""
        values = {"status": MessageStatus.queued, "attempts": _messages.c.attempts - 1}
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        self._update_claimed(row, **values)


class _StopOnSignals:
    """Within: SIGTERM / SIGINT stop the dispatcher gracefully (signal
    handlers can only be set from the main thread; elsewhere nothing)."""

    def __init__(self, dispatcher: Dispatcher, event: threading.Event | None = None):
        self.dispatcher = dispatcher
        self.event = event
        self.previous: dict = {}

    def _handle(self, signum, _frame):
        log.info(
            "stopping", extra={"signal": signal.Signals(signum).name, "worker": self.dispatcher.worker_id}
        )
        self.dispatcher._stop.set()
        if self.event is not None:
            self.event.set()

    def __enter__(self) -> _StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> bool:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False
