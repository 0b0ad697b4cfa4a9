"""Appointments (`app.domain.appointments`): typed dates in the program's
time zone, and booking a code's client."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlmodel import select

from app.domain import appointments, errors
from app.messages import render
from app.models import Appointment, Message, Reminder, ReminderKind, ReminderStatus
from tests.discretion import assert_discreet
from tests.factories import CLIENT, NOW, clinic_named, count_rows, issue_code

# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "typed, local",
    [
        ("25/12", datetime(2026, 12, 25, 8, 0)),
        ("25/12/2026", datetime(2026, 12, 25, 8, 0)),
        ("25-12 14h", datetime(2026, 12, 25, 14, 0)),
        ("25/12 9:30", datetime(2026, 12, 25, 9, 30)),
        ("25.12.26 14h30", datetime(2026, 12, 25, 14, 30)),
        ("5/1", datetime(2027, 1, 5, 8, 0)),  # around New Year: next year's
        ("23/11 15:00", datetime(2026, 11, 23, 15, 0)),  # later today
    ],
)
def test_appointment_dates_in_the_program_time_zone(settings, now, typed, local):
    at = appointments.parse_appointment_datetime(typed, settings, NOW)
    assert at == local.replace(tzinfo=settings.tz).astimezone(UTC)


@pytest.mark.parametrize(
    "typed, error",
    [
        ("31/02", appointments.InvalidDate),
        ("31/02/2027", appointments.InvalidDate),
        ("29/02/2027", appointments.InvalidDate),
        ("25/13", appointments.InvalidDate),
        ("25/12 25h", appointments.InvalidDate),
        ("25/12 14:75", appointments.InvalidDate),
        ("someday", appointments.InvalidDate),
        ("", appointments.InvalidDate),
        ("01/01/2026", appointments.PastDate),
        ("20/11", appointments.PastDate),  # three days ago, not next year
        ("23/11 13:00", appointments.PastDate),  # earlier today
        ("23/11", appointments.PastDate),  # today, default 08:00 is gone
        ("25/12/2099", appointments.DateTooFar),
    ],
)
def test_impossible_past_and_far_dates_are_refused(settings, now, typed, error):
    with pytest.raises(error):
        appointments.parse_appointment_datetime(typed, settings, NOW)


# ---------------------------------------------------------------- booking


def test_booking_schedules_reminders_tells_the_client_and_replaces_an_earlier_booking(demo, settings, now):
    row = issue_code(demo, settings)
    him_lam = clinic_named(demo, "Phong kham Him Lam")
    first_at = appointments.parse_appointment_datetime("10/12 14h", settings, NOW)
    first = appointments.book_appointment(
        demo, settings, row.code, first_at, clinic=him_lam, actor="phone:+84900000002"
    )
    assert first.client_phone == CLIENT and first.starts_at == datetime(2026, 12, 10, 7, 0, tzinfo=UTC)
    kinds = {r.kind for r in demo.exec(select(Reminder).where(Reminder.appointment_id == first.id))}
    assert kinds == {ReminderKind.appointment_day_before, ReminderKind.appointment_soon}
    confirmation = demo.exec(
        select(Message).where(Message.phone == CLIENT).order_by(Message.id.desc())
    ).first()
    assert "10/12/2026" in confirmation.text and "14:00" in confirmation.text
    assert_discreet(confirmation.text)
    second_at = appointments.parse_appointment_datetime("14/12 9h", settings, NOW)
    second = appointments.book_appointment(demo, settings, row.code, second_at, clinic=him_lam, actor="x")
    demo.refresh(first)
    assert first.status == "cancelled" and second.status == "booked"
    assert appointments.next_appointment(demo, CLIENT).id == second.id
    assert all(
        r.status == ReminderStatus.cancelled
        for r in demo.exec(select(Reminder).where(Reminder.appointment_id == first.id))
    )


def test_booking_refuses_a_code_without_client_or_at_a_clinic_without_the_service(demo, settings, now):
    at = NOW + timedelta(days=3)
    no_client = issue_code(demo, settings, client=None)
    with pytest.raises(appointments.NoClientPhone):
        appointments.book_appointment(
            demo, settings, no_client.code, at, clinic=clinic_named(demo, "Phong kham Him Lam"), actor="x"
        )
    row = issue_code(demo, settings)
    with pytest.raises(errors.NotOffered):
        appointments.book_appointment(
            demo, settings, row.code, at, clinic=clinic_named(demo, "Phong kham Long Bien"), actor="x"
        )
    assert count_rows(demo, Appointment) == 0


# ---------------------------------------------------------------- the rules of a start


@pytest.mark.parametrize(
    ("local", "error"),
    [
        (datetime(2026, 12, 24, 9, 0), appointments.AfterExpiry),  # the code is valid to 23/12
        (datetime(2026, 11, 24, 6, 59), appointments.AtNight),
        (datetime(2026, 11, 24, 20, 0), appointments.AtNight),
        (datetime(2026, 11, 28, 9, 0), appointments.ClinicClosed),  # a Saturday: Him Lam is T2-T6
        (datetime(2026, 11, 29, 9, 0), appointments.ClinicClosed),
    ],
)
def test_booking_refuses_after_expiry_at_night_and_on_a_closed_day(demo, settings, now, local, error):
    row = issue_code(demo, settings)
    with pytest.raises(error) as refused:
        appointments.book_appointment(
            demo, settings, row.code, local.replace(tzinfo=settings.tz), clinic=clinic_named(demo), actor="x"
        )
    assert render(error.key, "vi-ascii", **refused.value.values)
    assert count_rows(demo, Appointment) == 0


@pytest.mark.parametrize("hours", ["", "Gio hanh chinh", "Closed on Sundays", "Sang 7-11, chieu 13-17"])
def test_a_clinic_whose_hours_cannot_be_read_is_closed_no_day(demo, settings, now, hours):
    row = issue_code(demo, settings)
    clinic = clinic_named(demo)
    clinic.hours = hours
    sunday = datetime(2026, 11, 29, 9, 0, tzinfo=settings.tz)
    assert appointments.book_appointment(demo, settings, row.code, sunday, clinic=clinic, actor="x").id


def test_the_edges_of_the_day_are_bookable(demo, settings, now):
    row = issue_code(demo, settings)
    for at in (appointments.DAY_OPENS, time(19, 59)):
        start = datetime.combine(datetime(2026, 11, 24).date(), at, tzinfo=settings.tz)
        assert appointments.book_appointment(
            demo, settings, row.code, start, clinic=clinic_named(demo), actor="x"
        )
