"""The dispatcher: quiet hours, opt-out, retries, rate, claims and leases,
several processes (SPEC section 6, issue 6)."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from time import monotonic
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from app import clock
from app.db import session_factory
from app.domain.message_log import QueuedMessage
from app.domain.message_log import queue as queue_message
from app.domain.people import set_language, set_opt_out
from app.models import Message, MessageKind, MessageStatus, Reminder, ReminderKind, ReminderStatus
from app.sending.dispatcher import Dispatcher
from app.sending.gateways.base import GatewayError, SendResult
from app.sending.gateways.memory import MemoryGateway
from tests.dispatch_support import (
    busiest_second,
    dispatcher_process,
    insert_due_reminders,
    phone_for,
    read_sends,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
PHONE = "+84912345678"
OTHER = "+84987654321"


def local(y, mo, d, h, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=HCM)


@pytest.fixture
def make(settings, db, gateway):
    """make(**settings overrides) -> a Dispatcher on the test database
    (no quiet hours, fast rate, no back-off unless asked)."""
    made: list[Dispatcher] = []

    def build(gw=None, **overrides) -> Dispatcher:
        values = {
            "quiet_hours": "",
            "send_rate_per_second": 1000.0,
            "retry_base_seconds": 0.0,
            "dispatch_concurrency": 4,
        }
        values.update(overrides)
        d = Dispatcher(session_factory(db), gw or gateway, settings.model_copy(update=values))
        made.append(d)
        return d

    yield build
    for d in made:
        d.stop_background()


def hand_over_and_wait(d: Dispatcher, ids) -> int:
    """What a hand-over (`send_soon`) does, waited for: claim these ids if
    still queued and due, and deliver them; how many the gateway took."""
    return sum(d.delivery.deliver(row) for row in d.claims.queued(list(ids)))


def add_reminder(
    session, phone=PHONE, due_at=None, key="reminder.custom_visit", params=None, **kw
) -> Reminder:
    r = Reminder(
        kind=kw.pop("kind", ReminderKind.custom),
        phone=phone,
        due_at=due_at or clock.now() - timedelta(minutes=1),
        text_key=key,
        params={"clinic": "Phong kham Him Lam", "date": "24/12/2026"} if params is None else params,
        **kw,
    )
    session.add(r)
    session.commit()
    return r


def reload(session, row):
    session.expire_all()
    return session.get(Message if isinstance(row, QueuedMessage) else type(row), row.id)


def out_messages(session) -> list[Message]:
    session.expire_all()
    return list(session.exec(select(Message).where(Message.direction == "out").order_by(Message.id)).all())


class StartTimes(MemoryGateway):
    """Notes when each gateway call starts (real clock)."""

    def __init__(self, latency=0.0):
        super().__init__(latency=latency)
        self.starts: list[float] = []

    def send(self, phone, text, message_id=None):
        with self._lock:
            self.starts.append(monotonic())
        return super().send(phone, text)


def test_no_second_ever_holds_more_gateway_call_starts_than_the_rate(make, session):
    gateway = StartTimes(latency=0.05)  # concurrent calls, as with a slow gateway
    d = make(gateway, send_rate_per_second=20.0, dispatch_concurrency=8)
    for i in range(45):
        queue_message(session, phone=phone_for(i), text="x", kind=MessageKind.notification)
    session.commit()
    assert d.tick() == 45
    assert busiest_second(gateway.starts) <= 20


def test_sending_respects_the_rate_measured_loosely(make, session):
    gateway = MemoryGateway()
    d = make(gateway, send_rate_per_second=40.0)
    for i in range(11):
        queue_message(session, phone=phone_for(i), text="x", kind=MessageKind.notification)
    session.commit()
    assert d.tick() == 11
    times = sorted(m.at for m in gateway.sent)
    assert times[-1] - times[0] >= 10 / 40 * 0.9  # never faster than the rate (no upper bound: loaded box)


# ---------------------------------------------------------------- reminders


def test_a_due_reminder_is_rendered_in_the_persons_language_and_sent(make, session, gateway):
    set_language(session, PHONE, "en")
    r = add_reminder(session)
    assert make().tick() == 1
    assert gateway.to(PHONE) == ["Reminder: please visit Phong kham Him Lam on 24/12/2026."]
    r = reload(session, r)
    assert r.status == ReminderStatus.sent and r.sent_at is not None and r.claimed_by is None
    [m] = out_messages(session)
    assert (m.status, m.kind, m.reminder_id, m.language) == (
        MessageStatus.sent,
        MessageKind.reminder,
        r.id,
        "en",
    )


def test_a_reminder_not_yet_due_waits(make, session, gateway):
    r = add_reminder(session, due_at=clock.now() + timedelta(hours=1))
    assert make().tick() == 0
    assert reload(session, r).status == ReminderStatus.pending
    assert gateway.sent == []


def test_a_reminder_due_in_quiet_hours_waits_for_the_morning(make, session, gateway, frozen_clock):
    frozen_clock(local(2026, 11, 23, 22, 15).astimezone(UTC))
    r = add_reminder(session, due_at=clock.now() - timedelta(minutes=5))
    d = make(quiet_hours="21:00-07:00")
    assert d.tick() == 0
    r = reload(session, r)
    assert r.status == ReminderStatus.pending
    assert r.due_at == local(2026, 11, 24, 7).astimezone(UTC)
    assert r.attempts == 0 and r.claimed_by is None
    assert out_messages(session) == []

    frozen_clock(local(2026, 11, 24, 6, 59).astimezone(UTC))
    assert d.tick() == 0
    frozen_clock(local(2026, 11, 24, 7, 0).astimezone(UTC))
    assert d.tick() == 1
    assert reload(session, r).status == ReminderStatus.sent
    assert len(gateway.to(PHONE)) == 1


def test_after_midnight_inside_quiet_hours_waits_until_the_same_morning(make, session, frozen_clock):
    frozen_clock(local(2026, 11, 24, 2, 0).astimezone(UTC))
    r = add_reminder(session)
    make(quiet_hours="21:00-07:00").tick()
    assert reload(session, r).due_at == local(2026, 11, 24, 7).astimezone(UTC)


def test_empty_quiet_hours_send_at_any_hour(make, session, gateway, frozen_clock):
    frozen_clock(local(2026, 11, 23, 23, 30).astimezone(UTC))
    add_reminder(session)
    assert make(quiet_hours="").tick() == 1


def test_replies_are_not_held_by_quiet_hours(make, session, gateway, frozen_clock):
    frozen_clock(local(2026, 11, 23, 23, 30).astimezone(UTC))
    m = queue_message(session, phone=PHONE, text="reply", kind=MessageKind.reply)
    session.commit()
    assert hand_over_and_wait(make(quiet_hours="21:00-07:00"), [m.id]) == 1


def test_a_queued_reminder_message_retried_into_the_night_waits_too(make, session, gateway, frozen_clock):
    frozen_clock(local(2026, 11, 23, 23, 0).astimezone(UTC))
    m = queue_message(session, phone=PHONE, text="x", kind=MessageKind.reminder)
    session.commit()
    assert make(quiet_hours="21:00-07:00").tick() == 0
    m = reload(session, m)
    assert (m.status, m.attempts) == (MessageStatus.queued, 0)
    assert m.next_attempt_at == local(2026, 11, 24, 7).astimezone(UTC)


def test_an_opted_out_phone_gets_no_reminder_and_the_reason_is_kept(make, session, gateway):
    set_opt_out(session, PHONE, True)
    session.commit()
    r = add_reminder(session)
    assert make().tick() == 0
    r = reload(session, r)
    assert (r.status, r.last_error) == (ReminderStatus.skipped, "opted_out")
    assert gateway.sent == [] and out_messages(session) == []


def test_stop_at_night_means_no_reminder_in_the_morning(make, session, gateway, frozen_clock):
    # converted to a message at 20:59, held by the quiet hours, STOP at 22:00
    frozen_clock(local(2026, 11, 23, 20, 59).astimezone(UTC))
    r = add_reminder(session)
    d = make(quiet_hours="21:00-07:00")
    [row] = d.claims.due_reminders(10)
    d.reminders.settle([row])
    assert reload(session, r).status == ReminderStatus.sent
    frozen_clock(local(2026, 11, 23, 21, 0).astimezone(UTC))
    assert d.tick() == 0  # the message waits for the morning
    frozen_clock(local(2026, 11, 23, 22, 0).astimezone(UTC))
    set_opt_out(session, PHONE, True)
    confirmation = queue_message(session, phone=PHONE, text="stopped", kind=MessageKind.reply, force=True)
    session.commit()

    frozen_clock(local(2026, 11, 24, 7, 0).astimezone(UTC))
    assert d.tick() == 1
    assert gateway.to(PHONE) == ["stopped"]  # the STOP confirmation only
    reminder_message = next(m for m in out_messages(session) if m.reminder_id == r.id)
    assert (reminder_message.status, reminder_message.error) == (MessageStatus.skipped, "opted_out")
    assert (reminder_message.attempts, reminder_message.claimed_by) == (0, None)
    assert reload(session, confirmation).status == MessageStatus.sent


def test_a_retry_waiting_for_its_back_off_is_not_sent_after_stop(make, session, frozen_clock):
    frozen_clock(datetime(2026, 11, 24, 3, 0, tzinfo=UTC))
    gw = FlakyGateway(GatewayError("HTTP 503", retryable=True))
    d = make(gw, retry_base_seconds=30.0)
    m = queue_message(session, phone=PHONE, text="x", kind=MessageKind.notification)
    session.commit()
    assert d.tick() == 0
    frozen_clock(datetime(2026, 11, 24, 3, 0, 5, tzinfo=UTC))
    set_opt_out(session, PHONE, True)
    session.commit()
    frozen_clock(reload(session, m).next_attempt_at)
    assert d.tick() == 0
    assert reload(session, m).status == MessageStatus.skipped and gw.sent == []


def test_invalid_phone_and_unknown_key_fail_without_blocking_the_rest(make, session, gateway):
    bad_phone = add_reminder(session, phone="12345")
    bad_key = add_reminder(session, phone=OTHER, key="reminder.no_such_text")
    not_a_reminder_key = add_reminder(session, phone=OTHER, key="error.generic")
    missing = add_reminder(session, phone=OTHER, params={})
    good = [add_reminder(session, phone=phone_for(i)) for i in range(3)]
    assert make(dispatch_batch_size=2).tick() == 3
    assert reload(session, bad_phone).status == ReminderStatus.failed
    assert reload(session, bad_phone).last_error == "invalid_phone"
    assert reload(session, bad_key).last_error == "unknown_text_key: reminder.no_such_text"
    assert reload(session, not_a_reminder_key).status == ReminderStatus.failed
    assert reload(session, missing).status == ReminderStatus.failed
    assert reload(session, missing).last_error.startswith("bad_params")
    assert {reload(session, r).status for r in good} == {ReminderStatus.sent}


def test_a_reminder_cancelled_while_claimed_sends_nothing(make, session, gateway):
    from app.domain.reminders import cancel_reminder

    r = add_reminder(session)
    d = make()
    [row] = d.claims.due_reminders(10)
    assert row.id == r.id
    cancel_reminder(session, r.id, actor="test")
    session.commit()
    d.reminders.settle([row])
    assert reload(session, r).status == ReminderStatus.cancelled
    assert out_messages(session) == []


# ---------------------------------------------------------------- retries


class FlakyGateway(MemoryGateway):
    """Raises the given exceptions first, then sends."""

    def __init__(self, *errors):
        super().__init__()
        self.errors = list(errors)

    def send(self, phone, text, message_id=None):
        if self.errors:
            raise self.errors.pop(0)
        return super().send(phone, text)


def test_429_and_timeouts_are_retried_with_back_off_not_lost(make, session, frozen_clock):
    start = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    frozen_clock(start)
    gw = FlakyGateway(
        GatewayError("HTTP 429 Too Many Requests", retryable=True), TimeoutError("read timed out")
    )
    d = make(gw, retry_base_seconds=30.0)
    m = queue_message(session, phone=PHONE, text="x", kind=MessageKind.notification)
    session.commit()

    assert d.tick() == 0
    m = reload(session, m)
    assert (m.status, m.attempts, m.claimed_by) == (MessageStatus.queued, 1, None)
    assert "429" in m.error
    assert start + timedelta(seconds=15) <= m.next_attempt_at <= start + timedelta(seconds=30)
    assert d.tick() == 0  # not due yet

    frozen_clock(m.next_attempt_at)
    assert d.tick() == 0
    m = reload(session, m)
    assert (m.status, m.attempts) == (MessageStatus.queued, 2)
    assert "TimeoutError" in m.error
    assert m.next_attempt_at - clock.now() >= timedelta(seconds=30)  # doubled

    frozen_clock(m.next_attempt_at)
    assert d.tick() == 1
    m = reload(session, m)
    assert (m.status, m.attempts, m.error) == (MessageStatus.sent, 3, None)
    assert m.gateway_id and m.sent_at == clock.now()
    assert gw.to(PHONE) == ["x"]


def test_after_the_last_attempt_the_message_fails(make, session):
    gw = FlakyGateway(*[GatewayError("HTTP 503", retryable=True) for _ in range(10)])
    d = make(gw, max_send_attempts=3)
    m = queue_message(session, phone=PHONE, text="x", kind=MessageKind.notification)
    session.commit()
    d.tick()  # back-off 0: all attempts in one tick
    m = reload(session, m)
    assert (m.status, m.attempts) == (MessageStatus.failed, 3)
    assert m.error == "HTTP 503"
    assert len(gw.errors) == 7


def test_a_non_retryable_error_fails_at_once(make, session):
    gw = FlakyGateway(GatewayError("invalid phone number", retryable=False))
    m = queue_message(session, phone=PHONE, text="x", kind=MessageKind.notification)
    session.commit()
    make(gw).tick()
    m = reload(session, m)
    assert (m.status, m.attempts, m.error) == (MessageStatus.failed, 1, "invalid phone number")
    assert m.gateway == gw.name  # which gateway refused it, for the operator


def test_gateway_status_and_id_are_stored(make, session):
    class Buffered(MemoryGateway):
        def send(self, phone, text, message_id=None):
            return SendResult(gateway_id="ATXid_1", status="buffered", cost="VND 250")

    m = queue_message(session, phone=PHONE, text="x", kind=MessageKind.notification)
    session.commit()
    make(Buffered()).tick()
    m = reload(session, m)
    assert (m.status, m.gateway_id, m.cost) == ("buffered", "ATXid_1", "VND 250")


# ---------------------------------------------------------------- claims


def test_a_hand_over_and_a_tick_at_once_send_each_message_once(make, session):
    gw = MemoryGateway(latency=0.002)
    ids = []
    for i in range(60):
        ids.append(queue_message(session, phone=phone_for(i), text="r", kind=MessageKind.reply).id)
    session.commit()
    d1, d2 = make(gw), make(gw)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(hand_over_and_wait(d1, ids))),
        threading.Thread(target=lambda: results.append(d2.tick())),
        threading.Thread(target=lambda: results.append(hand_over_and_wait(d2, ids[::-1]))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 60
    assert sorted(m.phone for m in gw.sent) == sorted(phone_for(i) for i in range(60))
    assert {m.status for m in out_messages(session)} == {MessageStatus.sent}


def test_send_soon_and_a_tick_at_once_send_each_message_once(make, session):
    gw = MemoryGateway(latency=0.002)
    ids = [queue_message(session, phone=phone_for(i), text="r", kind=MessageKind.reply).id for i in range(60)]
    session.commit()
    d1, d2 = make(gw), make(gw)
    ticked = []
    tick = threading.Thread(target=lambda: ticked.append(d2.tick()))
    tick.start()
    for i in range(0, 60, 6):  # webhooks answered one after another
        d1.send_soon(ids[i : i + 6])
    tick.join()
    assert d1.wait_idle()
    assert sorted(m.phone for m in gw.sent) == sorted(phone_for(i) for i in range(60))
    assert {m.status for m in out_messages(session)} == {MessageStatus.sent}


def test_send_soon_claims_what_gathered_meanwhile_together(make, session, monkeypatch):
    """Ids handed over while a claim runs wait for the next claim, which
    takes all of them in one statement."""
    ids = [queue_message(session, phone=phone_for(i), text="r", kind=MessageKind.reply).id for i in range(9)]
    session.commit()
    d = make(MemoryGateway())
    claimed: list[list[int]] = []
    first_claim = threading.Event()
    release = threading.Event()
    real = d.claims.queued

    def slow_claim(batch):
        claimed.append(sorted(batch))
        if len(claimed) == 1:
            first_claim.set()
            release.wait(5)
        return real(batch)

    monkeypatch.setattr(d.claims, "queued", slow_claim)
    d.send_soon(ids[:1])
    assert first_claim.wait(5)
    for i in range(1, 9, 2):
        d.send_soon(ids[i : i + 2])
    release.set()
    assert d.wait_idle()
    assert claimed == [ids[:1], sorted(ids[1:])]
    assert {m.status for m in out_messages(session)} == {MessageStatus.sent}


def test_a_hand_over_ignores_messages_not_queued(make, session, gateway):
    set_opt_out(session, PHONE, True)
    skipped = queue_message(session, phone=PHONE, text="x", kind=MessageKind.reply)
    session.commit()
    assert skipped.status == MessageStatus.skipped
    d = make()
    assert hand_over_and_wait(d, [skipped.id]) == 0
    assert gateway.sent == []


def test_a_hand_over_does_not_jump_a_back_off(make, session, frozen_clock):
    frozen_clock(datetime(2026, 11, 24, 3, 0, tzinfo=UTC))
    gw = FlakyGateway(GatewayError("HTTP 429", retryable=True))
    d = make(gw, retry_base_seconds=30.0)
    m = queue_message(session, phone=PHONE, text="reply", kind=MessageKind.reply)
    session.commit()
    assert hand_over_and_wait(d, [m.id]) == 0  # 429: back off
    assert hand_over_and_wait(d, [m.id]) == 0  # not before its time
    assert reload(session, m).attempts == 1
    frozen_clock(reload(session, m).next_attempt_at)
    assert hand_over_and_wait(d, [m.id]) == 1
    assert gw.to(PHONE) == ["reply"]


MORNING_UTC = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 10:00 local


def one_message_at(at, session, frozen_clock) -> Message:
    """Freeze the clock at `at` and queue one notification to PHONE."""
    frozen_clock(at)
    m = queue_message(session, phone=PHONE, text="x", kind=MessageKind.notification)
    session.commit()
    return m


def test_a_row_whose_lease_is_nearly_over_is_handed_back_not_sent(make, session, gateway, frozen_clock):
    # a burst: the claimed row waited so long for a rate slot that the gateway
    # call might outlast its lease, when another claim could send it again
    m = one_message_at(MORNING_UTC, session, frozen_clock)
    d = make()
    [row] = d.claims.due_messages(10)
    frozen_clock(d.claims.send_by(row))
    assert d.delivery.deliver(row) == 0
    m = reload(session, m)
    assert (m.status, m.attempts, m.claimed_by, gateway.sent) == (MessageStatus.queued, 0, None, [])
    assert d.tick() == 1 and gateway.to(PHONE) == ["x"]


def test_an_old_claim_changes_nothing_once_the_row_was_claimed_again(make, session, gateway, frozen_clock):
    m = one_message_at(MORNING_UTC, session, frozen_clock)
    d = make()
    [old] = d.claims.due_messages(10)  # e.g. a hand-over stuck behind a burst
    frozen_clock(MORNING_UTC + timedelta(seconds=d.settings.claim_lease_seconds + 1))
    [new] = d.claims.due_messages(10)  # the same process's tick takes it again
    assert new.claim != old.claim
    assert d.delivery.deliver(old) == 0  # past its time: not sent, and the release is not its to make
    m = reload(session, m)
    assert (m.status, m.claimed_by, m.attempts) == (MessageStatus.sending, new.claim, 2)
    assert d.delivery.deliver(new) == 1
    assert gateway.to(PHONE) == ["x"]
    assert reload(session, m).status == MessageStatus.sent


def test_rows_of_a_dead_dispatcher_are_taken_again_after_the_lease(make, session, gateway, frozen_clock):
    now = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    frozen_clock(now)
    reminders = [add_reminder(session, phone=phone_for(i)) for i in range(3)]
    for i in range(3, 6):
        queue_message(session, phone=phone_for(i), text="x", kind=MessageKind.notification)
    session.commit()
    dead = make()
    assert len(dead.claims.due_reminders(10)) == 3
    assert len(dead.claims.due_messages(10)) == 3  # ... and the process dies here

    alive = make()
    assert alive.tick() == 0  # leases still running: nothing taken twice
    frozen_clock(now + timedelta(seconds=dead.settings.claim_lease_seconds + 1))
    assert alive.tick() == 6
    assert sorted(m.phone for m in gateway.sent) == [phone_for(i) for i in range(6)]
    assert {reload(session, r).status for r in reminders} == {ReminderStatus.sent}
    assert all(m.attempts == 2 for m in out_messages(session) if m.reminder_id is None)


def test_stopping_finishes_sends_in_flight_and_hands_back_the_rest(make, session):
    gw = MemoryGateway(latency=0.05)
    for i in range(200):
        queue_message(session, phone=phone_for(i), text="x", kind=MessageKind.notification)
    session.commit()
    d = make(gw, send_rate_per_second=100.0, dispatch_concurrency=2)
    d.start_background()
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while len(gw.sent) < 5 and datetime.now(UTC) < deadline:
        threading.Event().wait(0.02)
    d.stop_background()
    rows = out_messages(session)
    sent = [m for m in rows if m.status == MessageStatus.sent]
    assert 5 <= len(sent) < 200
    assert len(sent) == len(gw.sent)  # every gateway call in flight was recorded
    assert {m.status for m in rows} == {MessageStatus.sent, MessageStatus.queued}
    assert all(m.claimed_by is None and m.attempts == 0 for m in rows if m.status == MessageStatus.queued)


def test_the_tick_marks_codes_past_expiry_as_expired(make, session, demo):
    from app.models import CodeState, ReferralCode, Service

    svc = session.exec(select(Service).where(Service.code == "VCT")).one()
    code = ReferralCode(code="12345674", service_id=svc.id, expires_at=clock.now() - timedelta(minutes=1))
    session.add(code)
    session.commit()
    make().tick()
    assert reload(session, code).state == CodeState.expired


# ---------------------------------------------------------------- several processes (PostgreSQL)


def _spawn(target, *args, **kwargs):
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args, kwargs=kwargs)
    proc.start()
    return proc


@pytest.mark.postgres_only
def test_two_dispatcher_processes_send_2000_reminders_each_exactly_once(db, database_url, tmp_path):
    insert_due_reminders(db, 2000)
    path = str(tmp_path / "sends.txt")
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    ready = [ctx.Event(), ctx.Event()]
    procs = [_spawn(dispatcher_process, database_url, path, ready[i], go) for i in range(2)]
    for event in ready:
        assert event.wait(60), "dispatcher process did not start"
    go.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0

    sends = read_sends(path)
    phones = [phone for _, phone, _ in sends]
    assert len(phones) == 2000
    assert set(phones) == {phone_for(i) for i in range(2000)}
    assert len({pid for pid, _, _ in sends}) == 2  # both processes took part
    with session_factory(db)() as s:
        statuses = s.exec(select(Reminder.status)).all()
        assert set(statuses) == {ReminderStatus.sent}
        messages = s.exec(select(Message)).all()
        assert len(messages) == 2000
        assert {m.status for m in messages} == {MessageStatus.sent}
        assert len({m.reminder_id for m in messages}) == 2000


@pytest.mark.postgres_only
def test_a_dispatcher_killed_after_the_gateway_took_a_message_never_sends_it_again(
    db, database_url, tmp_path, frozen_clock
):
    insert_due_reminders(db, 400)
    path = str(tmp_path / "sends.txt")
    # one sending thread: the 100th message is taken by the gateway, then the process dies
    proc = _spawn(dispatcher_process, database_url, path, accepted_then_die=100, concurrency=1)
    proc.join(120)
    assert proc.exitcode == 137
    taken = read_sends(path)
    assert len(taken) == 100
    last_phone = taken[-1][1]

    from app.domain.message_log import INTERRUPTED
    from app.sending.dispatcher import Dispatcher as D
    from tests.dispatch_support import FileGateway, dispatcher_settings

    settings = dispatcher_settings(database_url)
    frozen_clock(datetime.now(UTC) + timedelta(seconds=settings.claim_lease_seconds + 5))
    D(session_factory(db), FileGateway(path), settings).run_once()

    phones = [phone for _, phone, _ in read_sends(path)]
    assert len(phones) == 400 and set(phones) == {phone_for(i) for i in range(400)}
    with session_factory(db)() as s:
        assert {m.status for m in s.exec(select(Message)).all()} == {MessageStatus.sent}
        noted = s.exec(select(Message).where(Message.error == INTERRUPTED)).all()
        assert [m.phone for m in noted] == [last_phone]
        assert noted[0].sent_at is not None and noted[0].claimed_by is None


@pytest.mark.postgres_only
def test_a_dispatcher_killed_mid_batch_keeps_every_row_and_sends_nothing_twice(
    db, database_url, tmp_path, frozen_clock
):
    insert_due_reminders(db, 500)
    path = str(tmp_path / "sends.txt")
    # one sending thread, so the moment of death is exact: 120 sent and recorded, then killed
    proc = _spawn(dispatcher_process, database_url, path, die_after=120, concurrency=1)
    proc.join(120)
    assert proc.exitcode == 137
    assert len(read_sends(path)) == 120
    with session_factory(db)() as s:
        held = s.exec(select(Message).where(Message.status == MessageStatus.sending)).all()
        assert held, "the dead process held claimed rows"
        assert all(m.claimed_until > datetime.now(UTC) for m in held)
        pending = s.exec(select(Reminder).where(Reminder.status != ReminderStatus.sent)).all()
        assert pending  # not all reminders were converted yet

    from app.sending.dispatcher import Dispatcher as D
    from tests.dispatch_support import FileGateway, dispatcher_settings

    settings = dispatcher_settings(database_url)
    # a new dispatcher at once sends the rows nobody holds, never the held ones
    D(session_factory(db), FileGateway(path), settings).run_once()
    with session_factory(db)() as s:
        assert {m.status for m in s.exec(select(Message).where(Message.id.in_([m.id for m in held])))} == {
            MessageStatus.sending
        }
    # after the lease, the rest
    frozen_clock(datetime.now(UTC) + timedelta(seconds=settings.claim_lease_seconds + 5))
    d2 = D(session_factory(db), FileGateway(path), settings)
    d2.run_once()

    # the 121st call was cut before the gateway took it, but nothing can tell
    # that from a call cut after: that row is kept, noted unconfirmed, never
    # sent twice; every other row is sent exactly once
    from app.domain.message_log import INTERRUPTED

    phones = [phone for _, phone, _ in read_sends(path)]
    assert len(phones) == 499 and len(set(phones)) == 499
    with session_factory(db)() as s:
        assert set(s.exec(select(Reminder.status)).all()) == {ReminderStatus.sent}
        assert {m.status for m in s.exec(select(Message)).all()} == {MessageStatus.sent}
        assert len(s.exec(select(Message)).all()) == 500
        cut = s.exec(select(Message).where(Message.error == INTERRUPTED)).one()
        assert cut.phone not in phones and set(phones) | {cut.phone} == {phone_for(i) for i in range(500)}
