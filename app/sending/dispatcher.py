"""The dispatcher: due reminders become outbound messages, due outbound
messages go to the gateway. The database is the truth; this process holds
nothing that matters after a restart. The rules of when a message may go
(quiet hours, back-off, the send rate) are in `app.sending.pacing`.

Two queues, both claimed atomically with a lease (`claimed_by`,
`claimed_until`), so several dispatcher processes never take the same row,
and a row whose process died is taken again once its lease has run out:
- PostgreSQL: `UPDATE … WHERE id IN (SELECT id … ORDER BY … LIMIT n FOR
  UPDATE SKIP LOCKED) RETURNING …`;
- SQLite: the same single `UPDATE … RETURNING` (SQLite has one writer at a
  time, so the statement is atomic; FOR UPDATE is not rendered).
`claimed_by` names the claim, not only the process (`_claim_token`): every
later write is conditional on it, so a claim that lost its lease (even to
this same process) changes nothing any more.

1. Reminders (`pending` and due, or `claimed` with an expired lease): each in
   its own savepoint, the batch in one transaction: invalid phone or unknown
   text key -> `failed`; opted out -> `skipped`; no longer relevant (code
   redeemed, appointment cancelled or past) -> `skipped`; inside quiet hours
   -> back to `pending`, due when they end; otherwise the text is rendered
   in the person's language and queued in the outbox
   (`app.sending.outbox.queue_message`), and the reminder is `sent`. The
   final UPDATE is conditional on the claim still being ours, so a reminder
   cancelled meanwhile queues nothing.
2. Messages (`queued` and due, or `sending` with an expired lease): a message
   whose phone opted out after it was queued is `skipped` in the claiming
   transaction; the rest are sent by a thread pool (`DISPATCH_CONCURRENCY`)
   so a slow gateway does not slow the rate, each call after a grant from
   the rate limiter, and only while the call still fits in the lease.
   Retryable gateway errors (429, timeouts, 5xx) go back to `queued` with
   exponential back-off and jitter until `MAX_SEND_ATTEMPTS`, then `failed`;
   a non-retryable error is `failed` at once.

APScheduler (3.x) drives only the periodic `tick` (one interval job,
max_instances=1, coalesce); never one job per reminder. Webhook replies go
at once, claimed the same way, so a tick running at the same moment never
sends them twice: `claim_queued` + `send_claimed` (the SMS inbox claims a
batch's replies in the batch's own commit), `send_soon(ids)` (claims what
gathered meanwhile in one statement, without waiting), `send_now(ids)`
(claims, sends and waits for the results). Stopping (`stop_background`,
SIGTERM in `run_forever`) lets gateway calls in flight finish and hands the
claimed-but-unsent rows back (un-claimed) for the next process.

The rate limiter is per process: a web process with DISPATCH_IN_PROCESS and
a `hen dispatcher` beside it may together send up to twice the rate.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.expression import ClauseElement
from sqlmodel import Session

from app import clock
from app.config import Settings
from app.db import GroupCommit, sqlite_writer
from app.domain import reminders as reminder_rules
from app.domain.codes import expire_due_codes
from app.domain.message_log import queue as queue_message
from app.domain.phones import mask_phone, try_normalize_phone
from app.messages import UnknownMessageKey
from app.models import Message, MessageKind, MessageStatus, Person, Reminder, ReminderStatus
from app.sending.gateways.base import Gateway, GatewayError, SendResult
from app.sending.pacing import RateLimiter, backoff_seconds, quiet_until

log = logging.getLogger("hen.dispatcher")

MAX_WINDOW = 1000

_reminders = Reminder.__table__
_messages = Message.__table__
_c = _messages.c


class _Lost(Exception):
    """The claim on a row is no longer ours (cancelled or re-claimed)."""


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    phone: str
    text: str
    kind: str
    attempts: int  # including this one
    claim: str  # `claimed_by` of this claim: the row is ours while it still says so
    claimed_until: datetime


# ---------------------------------------------------------------- dispatcher


class Dispatcher:
    def __init__(self, factory: sessionmaker[Session], gateway: Gateway, settings: Settings):
        self.factory = factory
        self.gateway = gateway
        self.settings = settings
        self.worker_id = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._claims = itertools.count(1)
        # one limiter per dispatcher, and one dispatcher per process: the web
        # process's ticks and send_now share it
        self.limiter = RateLimiter(settings.send_rate_per_second)
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self._rng = random.Random()
        self._soon: list[int] = []  # send_soon: ids waiting for the next claim
        self._soon_lock = threading.Lock()
        self._soon_claiming = False
        self._soon_sends: set[Future] = set()  # gateway calls of send_soon / send_claimed, while running
        self._results = GroupCommit(factory.kw["bind"], settings)  # the factory's engine

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
        """Send these queued messages now and wait for the results; returns
        how many the gateway took. Claimed like any other row: one a tick
        already holds is left to it."""
        ids = [int(i) for i in ids]
        if not ids or self._stop.is_set():
            return 0
        futures = [self._submit(row) for row in self._claim_ids(ids)]
        return sum(f.result() for f in futures)

    def send_soon(self, ids: Iterable[int]) -> None:
        """Send these queued messages as soon as possible, without waiting
        for the result (webhook replies, after their commit). The ids of
        webhooks answered meanwhile are claimed together, in one statement,
        and sent by the pool like any other claim."""
        ids = [int(i) for i in ids]
        if not ids or self._stop.is_set():
            return
        with self._soon_lock:
            self._soon.extend(ids)
            if self._soon_claiming:
                return  # the claiming loop running now takes them too
            self._soon_claiming = True
        self._executor().submit(self._claim_soon)

    def _claim_soon(self) -> None:
        """Claim what `send_soon` gathered, until nothing is left."""
        while True:
            with self._soon_lock:
                ids, self._soon = self._soon, []
                if not ids or self._stop.is_set():
                    self._soon_claiming = False
                    return
            try:
                self.send_claimed(self._claim_ids(ids))
            except Exception:
                # still queued: the next tick sends them
                log.exception("claiming replies failed", extra={"count": len(ids)})

    def claim_queued(self, conn, ids: Iterable[int]) -> list[ClaimedMessage]:
        """Claim these queued messages in the caller's transaction (the SMS
        inbox claims the replies of a batch in the batch's own commit: no
        transaction of its own to wait for). Pass the rows to `send_claimed`
        once that transaction is committed; if it is not, nothing was claimed."""
        ids = [int(i) for i in ids]
        if not ids or self._stop.is_set():
            return []
        return self._claim_on(conn, _CLAIM_QUEUED_IDS, clock.now(), ids=ids)

    def send_claimed(self, rows: Iterable[ClaimedMessage]) -> None:
        """Send rows claimed by `claim_queued`, in the pool, without waiting."""
        for row in rows:
            send = self._submit(row)
            with self._soon_lock:
                self._soon_sends.add(send)
            send.add_done_callback(self._sent_soon)  # runs at once if already done

    def _sent_soon(self, send: Future) -> None:
        with self._soon_lock:
            self._soon_sends.discard(send)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every `send_soon` so far is claimed and the gateway
        calls of it and of `send_claimed` have ended (the simulator and
        tests read the log after it).
        False when that took longer than `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._soon_lock:
                sends, claiming = list(self._soon_sends), self._soon_claiming
            if not sends and not claiming:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if sends:
                wait(sends, timeout=left)
            else:
                time.sleep(0.001)

    def _claim_ids(self, ids: list[int]) -> list[ClaimedMessage]:
        return self._claim(_CLAIM_QUEUED_IDS, clock.now(), ids=ids)

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

    def _claim_token(self) -> str:
        """`claimed_by` for one claiming statement: the process, and which of
        its claims. A row re-claimed after its lease ran out (even by this
        process: a tick and a late send_now) is then no longer the old
        claim's, so the old claim's late result or release changes nothing."""
        return f"{self.worker_id}.{next(self._claims)}"

    def _send_by(self, row: ClaimedMessage) -> datetime:
        """The last moment to start the gateway call for a claimed row: the
        call (at most GATEWAY_TIMEOUT_SECONDS) and its result must fit in the
        lease, or another claim could send the row a second time."""
        s = self.settings
        margin = min(s.gateway_timeout_seconds + 5, s.claim_lease_seconds / 2)
        return row.claimed_until - timedelta(seconds=margin)

    def _expire_codes(self) -> None:
        """Mark the codes past expiry, once per tick (redemption never
        depends on it: a code past `expires_at` is refused anyway)."""
        with self.factory() as session:
            try:
                n = expire_due_codes(session)
                session.commit()
            except Exception:
                session.rollback()
                log.exception("expiring codes failed")
                return
        if n:
            log.info("codes expired", extra={"count": n})

    # ------------------------------------------------------------ claims

    def _claim(self, claiming, now: datetime, **params) -> list[ClaimedMessage]:
        """`_claim_on` in a transaction of its own, committed at once."""
        with sqlite_writer(self.settings), self.factory() as session:
            rows = self._claim_on(session.connection(), claiming, now, **params)
            session.commit()
        return rows

    def _claim_on(self, conn, claiming, now: datetime, **params) -> list[ClaimedMessage]:
        """Run one claiming UPDATE (`_claiming`, with `params` for the bound
        values of its condition) and, in the same transaction, skip the
        claimed ones whose phone opted out after they were queued (STOP came
        while a reminder waited for the morning or a retry for its
        back-off). Returns the rows to send once the transaction commits."""
        token, lease = self._claim_token(), self._lease(now)
        rows = conn.execute(
            claiming, {**params, "claim_token": token, "claim_lease": lease, "claim_now": now}
        ).all()
        opted_out = _opted_out_since_queued(conn, rows)
        if opted_out:
            conn.execute(_SKIP_OPTED_OUT, {"ids": sorted(opted_out), "claim_token": token})
            log.info("opted out after queueing: skipped", extra={"count": len(opted_out)})
        return [
            ClaimedMessage(r.id, r.phone, r.text, r.kind, r.attempts, token, lease)
            for r in rows
            if r.id not in opted_out
        ]

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
        rows = self._claim(_claiming(self._due(_messages, stale, c.id, limit)), now)
        if len(rows) < limit:
            due = and_(c.status == MessageStatus.queued, c.next_attempt_at <= now)
            rows += self._claim(
                _claiming(self._due(_messages, due, c.next_attempt_at, limit - len(rows))), now
            )
        return rows

    def _claim_due_reminders(self, limit: int) -> list:
        """Claim up to `limit` due reminders; returns their rows (as claimed)."""
        now = clock.now()
        c = _reminders.c
        values = dict(
            status=ReminderStatus.claimed,
            claimed_by=self._claim_token(),
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
                    self._release_reminders(session, rows[n:])
                    break
                phone = numbers[row.id]
                try:
                    with session.begin_nested():
                        if self.settings.is_sqlite and not self._finish_reminder(
                            session, row, keep_claim=True
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
                        self._finish_reminder(session, row, status=ReminderStatus.failed, last_error=detail)
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
            if not self._finish_reminder(session, r, status=status, last_error=reason, **values):
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
            session,
            phone=phone,
            text=text,
            kind=MessageKind.reminder,
            language=language,
            reminder_id=r.id,
            hand_over=False,  # the tick that queued it sends it
        )
        if message.status == MessageStatus.skipped:  # opted out a moment ago: the outbox said no
            return finish(ReminderStatus.skipped, message.error or "opted_out")
        return finish(ReminderStatus.sent, None, sent_at=now)

    def _finish_reminder(self, session: Session, r, keep_claim: bool = False, **values) -> bool:
        """Conditional on the claim still being ours (`r`: the row as
        claimed): True when it was. `keep_claim`: only check (and lock) the
        row, change nothing."""
        c = _reminders.c
        values = (
            {"claimed_until": c.claimed_until}
            if keep_claim
            else dict(claimed_by=None, claimed_until=None, **values)
        )
        result = session.connection().execute(
            update(_reminders)
            .where(c.id == r.id, c.status == ReminderStatus.claimed, c.claimed_by == r.claimed_by)
            .values(**values)
        )
        return result.rowcount == 1

    def _release_reminders(self, session: Session, rows: list) -> None:
        """Hand claimed, unsettled reminders back (not counted as an attempt)."""
        c = _reminders.c
        session.connection().execute(
            update(_reminders)
            .where(
                c.id.in_([r.id for r in rows]),
                c.status == ReminderStatus.claimed,
                c.claimed_by.in_(sorted({r.claimed_by for r in rows})),
            )
            .values(
                status=ReminderStatus.pending, claimed_by=None, claimed_until=None, attempts=c.attempts - 1
            )
        )
        log.info("reminders released", extra={"count": len(rows)})

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
            if clock.now() >= self._send_by(row):  # waited too long for a rate slot (a burst)
                log.warning("lease nearly over before sending: handed back", extra={"message_id": row.id})
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
        values = {"updated_at": clock.now(), **values}
        plain = {k: v for k, v in values.items() if not isinstance(v, ClauseElement)}
        statement = _result_statement(tuple(sorted(plain)))
        if len(plain) < len(values):  # e.g. attempts - 1: SQL, not a value
            statement = statement.values({k: v for k, v in values.items() if k not in plain})
        params = {"row_id": row.id, "row_claim": row.claim, **{f"new_{k}": v for k, v in plain.items()}}
        # results of calls that ended together share one commit (SQLite: one WAL sync for all)
        # and, when they set the same columns, one executemany
        n = self._results.update(statement, params)
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


def _claiming(where):
    """The UPDATE that claims the messages matching `where` (`claim_token`,
    `claim_lease`, `claim_now` bound when run)."""
    return (
        update(_messages)
        .where(where)
        .values(
            status=MessageStatus.sending,
            claimed_by=bindparam("claim_token"),
            claimed_until=bindparam("claim_lease"),
            attempts=_c.attempts + 1,
            updated_at=bindparam("claim_now"),
        )
        .returning(_c.id, _c.phone, _c.text, _c.kind, _c.attempts, _c.created_at)
    )


# The claiming statements' fixed parts, built once: building them for every
# webhook reply was most of the cost of sending it. `:ids` expands to a list.
# send_soon, send_now, claim_queued: these ids, if still queued and due (never ahead of a back-off)
_QUEUED_IDS = and_(
    _c.id.in_(bindparam("ids", expanding=True)),
    _c.status == MessageStatus.queued,
    or_(_c.next_attempt_at.is_(None), _c.next_attempt_at <= bindparam("claim_now")),
)
_CLAIM_QUEUED_IDS = _claiming(_QUEUED_IDS)
_SKIP_OPTED_OUT = (
    update(_messages)
    .where(_c.id.in_(bindparam("ids", expanding=True)), _c.claimed_by == bindparam("claim_token"))
    .values(
        status=MessageStatus.skipped,
        error="opted_out",
        claimed_by=None,
        claimed_until=None,
        attempts=_c.attempts - 1,  # not an attempt
    )
)
_OPTED_OUT_AT = select(Person.phone, Person.opted_out_at).where(
    Person.phone.in_(bindparam("phones", expanding=True)), Person.opted_out.is_(True)
)


@functools.lru_cache(maxsize=32)
def _result_statement(keys: tuple[str, ...]):
    """The UPDATE that stores a claimed row's result (`keys`: the columns
    set, each bound as `new_<key>`), conditional on the claim still being
    the row's: built once per shape, run for every message sent."""
    return (
        update(_messages)
        .where(
            _c.id == bindparam("row_id"),
            _c.status == MessageStatus.sending,
            _c.claimed_by == bindparam("row_claim"),
        )
        .values(claimed_by=None, claimed_until=None, **{k: bindparam(f"new_{k}") for k in keys})
    )


def _opted_out_since_queued(conn, rows) -> set[int]:
    """Ids of the claimed message rows whose phone opted out after the row
    was queued. A row queued later (the STOP confirmation) still goes."""
    phones = sorted({r.phone for r in rows})
    if not phones:
        return set()
    since = dict(conn.execute(_OPTED_OUT_AT, {"phones": phones}).all())
    return {
        r.id for r in rows if r.phone in since and (since[r.phone] is None or r.created_at < since[r.phone])
    }


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
