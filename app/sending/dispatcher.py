"""The dispatcher: its lifecycle and its tick. Due reminders become
outbound messages (`app.sending.due_reminders`), due messages go to the
gateway (`app.sending.delivery`), both claimed with a lease
(`app.sending.claims`). The database is the truth; this process holds
nothing that matters after a restart. When a message may go (quiet hours,
back-off, the send rate) is in `app.sending.pacing`.

One way to hand messages over: `send_soon(ids)`, called by the commit that
queued them (`app.db.hand_over_after_commit`): the ids of transactions
committed meanwhile are claimed together, in one statement, and sent by the
pool, claimed like any other row so a tick running at the same moment never
sends them twice. Everything else waits for the tick: APScheduler (3.x)
drives only the periodic `tick` (one interval job, max_instances=1,
coalesce); never one job per reminder. Stopping (`stop_background`,
SIGTERM in `run_forever`) lets gateway calls in flight finish and hands
the claimed-but-unsent rows back for the next process.

The rate limiter is per process: a web process with DISPATCH_IN_PROCESS and
a `hen dispatcher` beside it may together send up to twice the rate.

A gateway that fetches its messages (`pulls`: a phone that polls) is never
called: the tick only expires codes and turns due reminders into messages,
`send_soon` does nothing, and each poll takes the due messages by the same
rules (`hand_out`, in `app.sending.hand_out`).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from app.config import Settings
from app.domain.codes import expire_due_codes
from app.sending.claims import ClaimedMessage, Claims
from app.sending.delivery import Delivery
from app.sending.due_reminders import DueReminders
from app.sending.gateways.base import Gateway
from app.sending.hand_out import HandOut

log = logging.getLogger("hen.dispatcher")

MAX_WINDOW = 1000


class Dispatcher:
    def __init__(self, factory: sessionmaker[Session], gateway: Gateway, settings: Settings):
        self.factory = factory
        self.gateway = gateway
        self.settings = settings
        self._stop = threading.Event()
        self.claims = Claims(factory, settings)
        self.worker_id = self.claims.worker_id
        self.delivery = Delivery(factory, gateway, settings, self.claims, self._stop)
        self.reminders = DueReminders(factory, settings, self.claims, self._stop)
        self.pulls = bool(getattr(gateway, "pulls", False))  # the gateway fetches its messages
        self.handing = HandOut(factory, settings, self.claims, gateway.name)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self._soon: list[int] = []  # send_soon: ids waiting for the next claim
        self._soon_lock = threading.Lock()
        self._soon_claiming = False
        self._soon_sends: set[Future] = set()  # gateway calls of send_soon, while running

    # ------------------------------------------------------------ the tick

    def tick(self, max_messages: int | None = None) -> int:
        """One pass: expire codes, then turn due reminders into messages and
        send due messages until nothing is due (or `max_messages` were
        claimed, or stopping). Returns how many messages the gateway took."""
        if self._stop.is_set():
            return 0
        self._expire_codes()
        if self.pulls:  # the polls take the messages: only feed the outbox
            batch = self.settings.dispatch_batch_size
            while not self._stop.is_set() and self.reminders.convert(batch) == batch:
                pass
            return 0
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
                        rows = self.claims.due_messages(room)
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
            return converter.submit(self.reminders.convert, self.settings.dispatch_batch_size)
        done: Future = Future()
        done.set_result(self.reminders.convert(self.settings.dispatch_batch_size))
        return done

    def send_soon(self, ids: Iterable[int]) -> None:
        """Send these queued messages as soon as possible, without waiting
        for the result (webhook replies, after their commit). The ids of
        webhooks answered meanwhile are claimed together, in one statement,
        and sent by the pool like any other claim."""
        ids = [int(i) for i in ids]
        if not ids or self._stop.is_set() or self.pulls:  # pulled: the next poll takes them
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
                self._send_claimed(self.claims.queued(ids))
            except Exception:
                # still queued: the next tick sends them
                log.exception("claiming replies failed", extra={"count": len(ids)})

    def _send_claimed(self, rows: Iterable[ClaimedMessage]) -> None:
        for row in rows:
            send = self._submit(row)
            with self._soon_lock:
                self._soon_sends.add(send)
            send.add_done_callback(self._sent_soon)  # runs at once if already done

    def _sent_soon(self, send: Future) -> None:
        with self._soon_lock:
            self._soon_sends.discard(send)

    def hand_out(self, limit: int) -> list[ClaimedMessage]:
        """For a gateway that fetches its messages: up to `limit` due
        messages to give it now, claimed and marked as handed to it (see
        `app.sending.hand_out`). Nothing for a gateway we push to (the
        dispatcher sends those itself) or while stopping."""
        if not self.pulls or self._stop.is_set():
            return []
        return self.handing.hand_out(limit)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every `send_soon` so far is claimed and the gateway
        calls of it have ended (the simulator and
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

    # ------------------------------------------------------------ lifecycle

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
        return self._executor().submit(self.delivery.deliver, row)

    def _window(self) -> int:
        """How many messages may be claimed and not yet sent at once: enough
        to keep the pool busy for ~4 s at the rate (new claims start at half,
        so ~2 s of sends cover a batch of reminders being converted), few
        enough that the last of them is sent well inside its lease."""
        rate = self.settings.send_rate_per_second
        wanted = max(2 * self.settings.dispatch_concurrency, int(4 * rate), 2)
        within_lease = max(1, int(rate * self.settings.claim_lease_seconds / 2))
        return min(wanted, within_lease, MAX_WINDOW)

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
