"""Reminders the domain schedules and cancels (SPEC section 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from app import clock
from app.db import session_factory
from app.domain import reminders
from app.domain.errors import InvalidPhone, NotFound
from app.domain.message_log import queue as queue_message
from app.models import (
    Appointment,
    AppointmentStatus,
    Channel,
    CodeState,
    Message,
    MessageKind,
    MessageStatus,
    ReferralCode,
    Reminder,
    ReminderKind,
    ReminderStatus,
)
from app.sending.dispatcher import Dispatcher
from app.sending.gateways.memory import MemoryGateway
from tests.discretion import assert_discreet
from tests.factories import CLIENT, clinic_named, issue_code, service_with_code

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi


@pytest.fixture
def now(frozen_clock):
    frozen_clock(NOW)
    return NOW


def make_code(
    session, *, phone=CLIENT, svc="VCT", expires_in=timedelta(days=30), digits="48215093"
) -> ReferralCode:
    row = ReferralCode(
        code=digits,
        service_id=service_with_code(session, svc).id,
        client_phone=phone,
        state=CodeState.issued,
        issued_at=clock.now(),
        expires_at=clock.now() + expires_in,
    )
    session.add(row)
    session.flush()
    return row


def make_appointment(session, starts_at: datetime) -> Appointment:
    row = Appointment(client_phone=CLIENT, clinic_id=clinic_named(session).id, starts_at=starts_at)
    session.add(row)
    session.flush()
    return row


def dispatcher(db, settings, gateway, **overrides) -> Dispatcher:
    values = {"quiet_hours": "", "send_rate_per_second": 1000.0, "retry_base_seconds": 0.0}
    values.update(overrides)
    return Dispatcher(session_factory(db), gateway, settings.model_copy(update=values))


# ---------------------------------------------------------------- code expiry


def test_code_expiry_nudge_is_due_on_a_morning_days_before_expiry(demo, settings, now):
    code = make_code(demo)  # expires 24/12 10:00 local
    r = reminders.schedule_code_expiry_nudge(demo, settings, code)
    assert r.kind == ReminderKind.code_expiry and r.status == ReminderStatus.pending
    assert settings.code_expiry_nudge_days == 3 and settings.appointment_morning_hour == 8
    assert r.due_at == datetime(2026, 12, 21, 8, 0, tzinfo=HCM)
    assert (r.phone, r.code_id, r.text_key) == (CLIENT, code.id, "reminder.code_expiry")
    assert r.params["code"] == "4821-5093"
    assert reminders.schedule_code_expiry_nudge(demo, settings, code).id == r.id  # once only


def test_the_client_gets_the_expiry_nudge_in_the_morning_three_days_before_the_last_day(
    demo, db, settings, now, frozen_clock
):
    # issued Tuesday 24/11 10:00 local, valid through 24/12 (30 days, VCT)
    code = issue_code(demo, settings, worker=None, channel=Channel.api)
    demo.commit()
    assert code.expires_at == datetime(2026, 12, 24, 23, 59, 59, tzinfo=HCM)
    gateway = MemoryGateway()
    d = dispatcher(db, settings, gateway, quiet_hours="21:00-07:00")  # the default quiet hours
    try:
        assert d.tick() == 1  # the SMS telling the client the code
        frozen_clock(datetime(2026, 12, 21, 7, 59, tzinfo=HCM).astimezone(UTC))
        assert d.tick() == 0  # not at 07:00 when the quiet hours end: it is not due yet
        frozen_clock(datetime(2026, 12, 21, 8, 0, tzinfo=HCM).astimezone(UTC))
        assert d.tick() == 1
    finally:
        d.stop_background()
    [_, nudge] = gateway.to(CLIENT)
    assert "24/12/2026" in nudge


def test_with_no_days_of_notice_the_nudge_goes_the_morning_of_the_last_day(demo, db, settings, now):
    settings = settings.model_copy(update={"code_expiry_nudge_days": 0})
    code = issue_code(demo, settings, worker=None, channel=Channel.api)
    [nudge] = demo.exec(select(Reminder).where(Reminder.code_id == code.id)).all()
    assert nudge.due_at == datetime(2026, 12, 24, 8, 0, tzinfo=HCM)
    assert nudge.due_at < code.expires_at


def test_no_nudge_without_a_client_phone_or_when_the_moment_has_passed(demo, settings, now):
    assert reminders.schedule_code_expiry_nudge(demo, settings, make_code(demo, phone=None)) is None
    short = make_code(demo, expires_in=timedelta(days=2), digits="11111118")
    assert reminders.schedule_code_expiry_nudge(demo, settings, short) is None
    assert demo.exec(select(Reminder)).all() == []


def test_the_nudge_is_sent_in_the_clients_language(demo, db, settings, now):
    code = make_code(demo)
    reminders.schedule_code_expiry_nudge(demo, settings, code)
    demo.commit()
    clock.freeze(code.expires_at - timedelta(days=2))
    gateway = MemoryGateway()
    d = dispatcher(db, settings, gateway)
    assert d.tick() == 1
    d.stop_background()
    [text] = gateway.to(CLIENT)
    assert "4821-5093" in text and text.isascii()
    assert_discreet(text)


# ---------------------------------------------------------------- appointments


def test_appointment_reminders_the_day_before_in_the_morning_and_hours_before(demo, settings, now):
    starts = datetime(2026, 11, 28, 14, 30, tzinfo=HCM)
    appt = make_appointment(demo, starts.astimezone(UTC))
    day_before, soon = reminders.schedule_appointment_reminders(demo, settings, appt)
    assert day_before.kind == ReminderKind.appointment_day_before
    assert day_before.due_at == datetime(2026, 11, 27, settings.appointment_morning_hour, tzinfo=HCM)
    assert soon.kind == ReminderKind.appointment_soon
    assert soon.due_at == starts - timedelta(hours=settings.appointment_soon_hours)
    assert day_before.params == {"clinic": "Phòng khám Him Lam", "date": "28/11/2026", "time": "14:30"}
    assert len(reminders.schedule_appointment_reminders(demo, settings, appt)) == 2
    assert len(demo.exec(select(Reminder)).all()) == 2


def test_appointment_reminders_already_past_are_not_scheduled(demo, settings, now):
    # tomorrow 11:00: the day-before moment (today 08:00) has passed, the soon one has not
    appt = make_appointment(demo, datetime(2026, 11, 25, 11, 0, tzinfo=HCM).astimezone(UTC))
    [only] = reminders.schedule_appointment_reminders(demo, settings, appt)
    assert only.kind == ReminderKind.appointment_soon
    # in one hour: both have passed
    appt2 = make_appointment(demo, NOW + timedelta(hours=1))
    assert reminders.schedule_appointment_reminders(demo, settings, appt2) == []


def test_a_cancelled_appointment_cancels_its_reminders(demo, settings, now):
    appt = make_appointment(demo, datetime(2026, 11, 28, 9, 0, tzinfo=HCM).astimezone(UTC))
    reminders.schedule_appointment_reminders(demo, settings, appt)
    assert reminders.cancel_for_appointment(demo, appt.id, "cancelled") == 2
    rows = demo.exec(select(Reminder)).all()
    assert {r.status for r in rows} == {ReminderStatus.cancelled}
    assert all(r.cancelled_at == NOW and r.last_error == "cancelled" for r in rows)
    assert reminders.cancel_for_appointment(demo, appt.id, "cancelled") == 0


def test_a_day_before_reminder_sent_late_on_the_day_itself_is_skipped(demo, db, settings, now):
    appt = make_appointment(demo, datetime(2026, 11, 26, 16, 0, tzinfo=HCM).astimezone(UTC))
    day_before, _soon = reminders.schedule_appointment_reminders(demo, settings, appt)
    demo.commit()
    clock.freeze(datetime(2026, 11, 26, 9, 0, tzinfo=HCM))  # the dispatcher was down overnight
    d = dispatcher(db, settings, MemoryGateway())
    d.tick()
    d.stop_background()
    demo.expire_all()
    row = demo.get(Reminder, day_before.id)
    assert (row.status, row.last_error) == (ReminderStatus.skipped, "too_late")


def test_an_appointment_cancelled_behind_the_reminders_back_is_not_reminded(demo, db, settings, now):
    appt = make_appointment(demo, datetime(2026, 11, 28, 9, 0, tzinfo=HCM).astimezone(UTC))
    day_before, _ = reminders.schedule_appointment_reminders(demo, settings, appt)
    appt.status = AppointmentStatus.cancelled  # without cancel_for_appointment
    demo.commit()
    clock.freeze(day_before.due_at)
    gateway = MemoryGateway()
    d = dispatcher(db, settings, gateway)
    d.tick()
    d.stop_background()
    demo.expire_all()
    assert demo.get(Reminder, day_before.id).last_error == "appointment_cancelled"
    assert gateway.sent == []


# ---------------------------------------------------------------- re-test


def test_retest_after_a_vct_redemption_at_the_morning_hour(demo, settings, now):
    code = make_code(demo)
    r = reminders.schedule_retest(demo, settings, code, NOW)
    days = service_with_code(demo).retest_after_days or settings.retest_after_days
    expected_day = NOW.astimezone(HCM).date() + timedelta(days=days)
    assert r.kind == ReminderKind.retest and r.text_key == "reminder.retest"
    assert r.due_at == datetime.combine(expected_day, datetime.min.time(), tzinfo=HCM).replace(
        hour=settings.appointment_morning_hour
    )
    assert reminders.schedule_retest(demo, settings, code, NOW).id == r.id


def test_retest_uses_the_setting_when_vct_has_no_days_and_none_for_other_services(demo, settings, now):
    vct = service_with_code(demo)
    vct.retest_after_days = None
    demo.add(vct)
    code = make_code(demo)
    r = reminders.schedule_retest(demo, settings.model_copy(update={"retest_after_days": 60}), code, NOW)
    assert r.due_at.astimezone(HCM).date() == NOW.astimezone(HCM).date() + timedelta(days=60)
    mmt_code = make_code(demo, svc="MMT", digits="22222226")
    assert reminders.schedule_retest(demo, settings, mmt_code, NOW) is None
    assert (
        reminders.schedule_retest(demo, settings, make_code(demo, phone=None, digits="33333334"), NOW) is None
    )


# ---------------------------------------------------------------- cancellation on redemption


def test_redemption_cancels_the_codes_reminders_through_the_domain(demo, settings, now):
    code = make_code(demo)
    nudge = reminders.schedule_code_expiry_nudge(demo, settings, code)
    other = reminders.schedule_code_expiry_nudge(demo, settings, make_code(demo, digits="44444440"))
    queued = queue_message(demo, phone=CLIENT, text="x", kind=MessageKind.reminder, reminder_id=nudge.id)
    demo.commit()
    assert reminders.cancel_for_code(demo, code.id, "redeemed") == 1
    demo.commit()
    demo.expire_all()
    nudge = demo.get(Reminder, nudge.id)
    assert (nudge.status, nudge.cancelled_at, nudge.last_error) == (ReminderStatus.cancelled, NOW, "redeemed")
    assert demo.get(Reminder, other.id).status == ReminderStatus.pending
    msg = demo.get(Message, queued.id)
    assert msg.status == MessageStatus.skipped  # its queued text goes nowhere either


def test_redeeming_a_code_cancels_its_nudge_and_schedules_the_retest(demo, settings, now):
    from app.domain.codes import redeem_code

    code = issue_code(demo, settings, worker=None, channel=Channel.api)
    [nudge] = demo.exec(select(Reminder).where(Reminder.code_id == code.id)).all()
    assert nudge.kind == ReminderKind.code_expiry
    redeem_code(demo, settings, code.code, clinic=clinic_named(demo), channel=Channel.api, actor="test")
    demo.commit()
    demo.expire_all()
    rows = {r.kind: r for r in demo.exec(select(Reminder).where(Reminder.code_id == code.id)).all()}
    assert rows[ReminderKind.code_expiry].status == ReminderStatus.cancelled
    assert rows[ReminderKind.retest].status == ReminderStatus.pending


# ---------------------------------------------------------------- custom, cancel, next


def test_custom_reminder_is_validated_and_audited(demo, settings, now):
    r = reminders.schedule_custom(
        demo,
        settings,
        phone="0912 345 678",
        due_at=NOW + timedelta(days=1),
        text_key="custom_visit",
        params={"clinic": "Phong kham Him Lam", "date": "25/11"},
        actor="admin key",
    )
    assert (r.phone, r.kind, r.text_key, r.created_by) == (
        CLIENT,
        "custom",
        "reminder.custom_visit",
        "admin key",
    )
    with pytest.raises(reminders.InvalidReminder, match="unknown text_key"):
        reminders.schedule_custom(
            demo, settings, phone=CLIENT, due_at=NOW, text_key="reminder.retest", params={}, actor="a"
        )
    with pytest.raises(reminders.InvalidReminder, match="missing: clinic, date"):
        reminders.schedule_custom(
            demo, settings, phone=CLIENT, due_at=NOW, text_key="reminder.custom_visit", params={}, actor="a"
        )
    with pytest.raises(reminders.InvalidReminder, match="time zone"):
        reminders.schedule_custom(
            demo,
            settings,
            phone=CLIENT,
            due_at=datetime(2026, 12, 1),
            text_key="reminder.custom_checkin",
            params={},
            actor="a",
        )
    with pytest.raises(InvalidPhone):
        reminders.schedule_custom(
            demo, settings, phone="123", due_at=NOW, text_key="reminder.custom_checkin", params={}, actor="a"
        )


def checkin(session, settings, due_at) -> Reminder:
    """A custom check-in reminder for CLIENT (admin API), due at `due_at`."""
    return reminders.schedule_custom(
        session,
        settings,
        phone=CLIENT,
        due_at=due_at,
        text_key="reminder.custom_checkin",
        params={},
        actor="a",
    )


def test_cancel_one_reminder_once(demo, settings, now):
    r = checkin(demo, settings, NOW + timedelta(days=1))
    done = reminders.cancel_reminder(demo, r.id, actor="admin")
    assert (done.status, done.cancelled_at) == (ReminderStatus.cancelled, NOW)
    with pytest.raises(reminders.ReminderNotCancellable):
        reminders.cancel_reminder(demo, r.id, actor="admin")
    with pytest.raises(NotFound):
        reminders.cancel_reminder(demo, 999_999, actor="admin")


def test_next_for_phone_is_the_earliest_still_to_send(demo, settings, now):
    assert reminders.next_for_phone(demo, CLIENT) is None
    later = checkin(demo, settings, NOW + timedelta(days=5))
    sooner = checkin(demo, settings, NOW + timedelta(days=2))
    assert reminders.next_for_phone(demo, CLIENT).id == sooner.id
    reminders.cancel_reminder(demo, sooner.id, actor="a")
    assert reminders.next_for_phone(demo, CLIENT).id == later.id


def test_a_custom_reminder_is_due_from_five_minutes_ago_to_730_days_ahead(demo, settings, now):
    assert checkin(demo, settings, NOW - reminders.CUSTOM_PAST_GRACE).due_at == NOW - timedelta(minutes=5)
    assert checkin(demo, settings, NOW + reminders.CUSTOM_MAX_AHEAD).status == ReminderStatus.pending
    for due_at in (
        NOW - timedelta(minutes=5, seconds=1),
        NOW + timedelta(days=730, seconds=1),
        datetime.fromisoformat("0001-01-01T00:00:00+14:00"),
        datetime.fromisoformat("9999-12-31T23:59:59-14:00"),
    ):
        with pytest.raises(reminders.InvalidReminder):
            checkin(demo, settings, due_at)
