"""When an outbound message may go: quiet hours, back-off after a gateway
failure, and the send rate. Pure rules and two small thread-safe limiters
(for a gateway we call, for one that polls); the dispatcher
(app.sending.dispatcher) applies them."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

MAX_BACKOFF_SECONDS = 6 * 3600
# How late a gateway call may start after its grant (a thread switch, a busy
# CPU) and still never make a one-second window of call starts hold more than
# the rate. Costs ~1 % of the rate; without it the limiter runs exactly at the
# limit and one late thread can make 51 starts in a second at 50/s.
START_SLACK = 0.01
_EPSILON = 1e-6  # a microsecond: float rounding must not make a sleep loop spin


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
    """At most `rate` gateway calls start in any one-second window,
    process-wide (thread-safe). Two rules, under one lock:

    - an even schedule, one grant every 1/rate (a token bucket of depth one,
      GCRA-style: idle time builds up no burst); a grant that comes late
      because its thread woke up late keeps the schedule, so the long-run
      rate is the configured one even on a loaded machine;
    - the hard limit: a log of the last `rate` grants, and a new grant only
      once the oldest is more than 1 s + START_SLACK old. So a call starting
      up to START_SLACK after its grant still leaves every one-second window
      of call starts with at most `rate`.

    `monotonic` and `sleep` are injectable for tests."""

    def __init__(
        self,
        rate: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 1.0 / rate
        self.per_second = max(1, int(rate + _EPSILON))
        self.window = 1.0 + START_SLACK
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: float | None = None
        self._recent: deque[float] = deque(maxlen=self.per_second)
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for the next grant; the caller starts its call at once. False
        when `stop` is set meanwhile."""
        with self._lock:  # waiters queue here: one at a time watches the clock
            while True:
                if stop is not None and stop.is_set():
                    return False
                now = self._monotonic()
                # the slot: the schedule, unless we were idle for more than one interval
                slot = self._next if self._next is not None and now - self._next < self.interval else now
                full = len(self._recent) == self.per_second
                window_wait = self._recent[0] + self.window - now if full else 0.0
                if window_wait <= 0 and slot - now <= _EPSILON:
                    self._recent.append(now)
                    self._next = max(slot + self.interval, now + self.interval / 2)
                    return True
                wait_for = max(slot - now, window_wait, _EPSILON)
                if stop is not None:
                    stop.wait(wait_for)
                else:
                    self._sleep(wait_for)


class BatchAllowance:
    """The send rate for a gateway that takes a batch in one answer (a
    phone that polls about once a minute, then sends what it got one after
    another as fast as its radio goes): no gap between two calls can be kept
    there, only the average. `rate` messages a second accrue while none are
    taken, up to `depth` (one batch); a poll takes what has accrued (a token
    bucket, full at the start). Over any t seconds at most `rate * t + depth`
    are taken. Thread-safe; never waits. `monotonic` is injectable for tests."""

    def __init__(self, rate: float, depth: int, monotonic: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.depth = max(1, depth)
        self._monotonic = monotonic
        self._tokens = float(self.depth)
        self._at: float | None = None
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._monotonic()
        if self._at is not None:
            self._tokens = min(float(self.depth), self._tokens + max(now - self._at, 0.0) * self.rate)
        self._at = now

    def available(self) -> int:
        """How many a take could have now."""
        with self._lock:
            self._refill()
            return int(self._tokens + _EPSILON)

    def try_acquire(self, n: int = 1) -> int:
        """Take up to `n` now: how many were granted (0 when none accrued)."""
        with self._lock:
            self._refill()
            granted = max(0, min(n, int(self._tokens + _EPSILON)))
            self._tokens -= granted
            return granted
