"""When a message may go: quiet hours, back-off, the rate limiter."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from app.sending.pacing import START_SLACK, RateLimiter, backoff_seconds, quiet_until
from tests.dispatch_support import busiest_second

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def local(y, mo, d, h, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=HCM)


@pytest.mark.parametrize(
    ("at", "window", "expected"),
    [
        (local(2026, 11, 23, 22, 30), "21:00-07:00", local(2026, 11, 24, 7)),  # evening: next morning
        (local(2026, 11, 24, 3, 0), "21:00-07:00", local(2026, 11, 24, 7)),  # after midnight: this morning
        (local(2026, 11, 24, 21, 0), "21:00-07:00", local(2026, 11, 25, 7)),  # the start is inside
        (local(2026, 11, 24, 7, 0), "21:00-07:00", None),  # the end is outside
        (local(2026, 11, 24, 12, 0), "21:00-07:00", None),
        (local(2026, 11, 24, 12, 30), "12:00-13:30", local(2026, 11, 24, 13, 30)),  # same-day window
        (local(2026, 11, 24, 14, 0), "12:00-13:30", None),
    ],
)
def test_quiet_window_ends_at_the_next_local_end_even_across_midnight(at, window, expected):
    start, end = (time.fromisoformat(p) for p in window.split("-"))
    assert quiet_until(at.astimezone(UTC), (start, end), HCM) == (
        expected.astimezone(UTC) if expected else None
    )


def test_no_quiet_window_means_never_quiet():
    assert quiet_until(local(2026, 11, 24, 3, 0), None, HCM) is None


def test_back_off_grows_exponentially_with_jitter():
    for attempt in range(1, 6):
        step = 30 * 2 ** (attempt - 1)
        delays = {backoff_seconds(attempt, 30) for _ in range(20)}
        assert all(step / 2 <= d <= step for d in delays)
        assert len(delays) > 1  # jittered
    assert backoff_seconds(50, 30) <= 6 * 3600


def fake_limiter(rate):
    """A limiter on a fake clock: time passes only while someone waits."""
    fake = {"now": 100.0}

    def sleep(seconds):
        fake["now"] += seconds

    return RateLimiter(rate, monotonic=lambda: fake["now"], sleep=sleep), fake


def test_rate_limiter_never_grants_faster_than_the_rate():
    limiter, fake = fake_limiter(50)
    grants, record = [], threading.Lock()

    def take(n):
        for _ in range(n):
            assert limiter.acquire()
            with record:
                grants.append(fake["now"])

    threads = [threading.Thread(target=take, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grants.sort()
    assert len(grants) == 200
    assert min(b - a for a, b in zip(grants, grants[1:], strict=False)) >= 1 / 50 - 1e-9
    # the 51st grant after any grant comes more than 1 s + START_SLACK later: a
    # call that starts up to START_SLACK after its grant never makes a second
    # hold 51 starts
    assert min(b - a for a, b in zip(grants, grants[50:], strict=False)) >= 1 + START_SLACK - 1e-9
    late_first = [g + (START_SLACK if i % 50 == 0 else 0.0) for i, g in enumerate(grants)]
    assert busiest_second(late_first) == 50
    # ... and the slack costs little: 199 intervals in 199/50 s + 1 % a second
    assert grants[-1] - grants[0] == pytest.approx(199 / 50 + 3 * START_SLACK)
    # idle time builds up no burst
    fake["now"] += 1000
    start = fake["now"]
    limiter.acquire()
    limiter.acquire()
    assert fake["now"] - start == pytest.approx(1 / 50)


def test_a_stopped_rate_limiter_gives_no_more_grants():
    stop = threading.Event()
    limiter = RateLimiter(0.01)  # one grant per 100 s
    assert limiter.acquire(stop)
    threading.Timer(0.05, stop.set).start()
    assert limiter.acquire(stop) is False


# ---------------------------------------------------------------- a gateway that polls: the allowance


def fake_allowance(rate, depth):
    """An allowance on a fake clock that moves only when the test moves it."""
    from app.sending.pacing import BatchAllowance

    fake = {"now": 100.0}
    return BatchAllowance(rate, depth, monotonic=lambda: fake["now"]), fake


def test_the_allowance_starts_with_one_batch_and_never_waits():
    allowance, fake = fake_allowance(1, 20)
    assert allowance.available() == 20
    assert allowance.try_acquire(25) == 20  # one batch, no more
    assert allowance.try_acquire(5) == 0  # nothing accrued: nothing, at once
    assert allowance.try_acquire(0) == 0
    fake["now"] += 60  # a minute later (Android's shortest poll interval)
    assert allowance.available() == 20  # 60 accrued at 1 a second, but no more than a batch
    assert allowance.try_acquire(7) == 7
    assert allowance.try_acquire(20) == 13


def test_the_allowance_accrues_at_the_rate():
    allowance, fake = fake_allowance(10, 20)
    assert allowance.try_acquire(20) == 20
    fake["now"] += 0.55
    assert allowance.try_acquire(20) == 5
    fake["now"] += 0.05  # the half message left over, and half another
    assert allowance.try_acquire(20) == 1
    slow, fake_slow = fake_allowance(0.05, 20)  # 3 a minute
    assert slow.try_acquire(20) == 20
    fake_slow["now"] += 60
    assert slow.try_acquire(20) == 3


def test_over_any_period_the_allowance_gives_at_most_the_rate_plus_one_batch():
    import random

    rng = random.Random(7)
    allowance, fake = fake_allowance(2, 5)
    takes: list[tuple[float, int]] = []
    for _ in range(500):
        fake["now"] += rng.choice([0.0, 0.1, 0.7, 3.0, 60.0])
        takes.append((fake["now"], allowance.try_acquire(rng.randint(1, 8))))
    for i, (start, _) in enumerate(takes):
        total = 0
        for at, n in takes[i:]:
            total += n
            assert total <= 2 * (at - start) + 5 + 1e-9
    steady, fake_steady = fake_allowance(2, 5)
    total = 0
    for _ in range(200):  # a poll every half second for 100 s, always wanting more
        fake_steady["now"] += 0.5
        total += steady.try_acquire(8)
    assert total == 5 + 199  # the rate is reached: the batch it starts with, then 2 a second


def test_the_allowance_is_shared_safely_between_threads():
    allowance, _ = fake_allowance(1, 50)  # the fake clock stands still: 50 in all
    taken: list[int] = []
    lock = threading.Lock()

    def take():
        for _ in range(40):
            n = allowance.try_acquire(1)
            with lock:
                taken.append(n)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(taken) == 50
