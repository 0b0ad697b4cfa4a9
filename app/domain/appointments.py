"""Appointments a clinic books for a code's client, and the dates people type.

Accepted dates (program time zone, settings.tz): `25/12`, `25/12/2026`,
`25/12/26`, `25-12`, `25.12`, followed optionally by a time: `14h`, `14h30`,
`9:30`, `14:00`, `14`. Without a time the appointment is at 08:00
(`DEFAULT_TIME`). Without a year the date is this year's; if that day has
passed, next year's when it is within the next six months (`05/01` sent in
December), otherwise it is refused as past. A date that does not exist
(31/02), a time in the past, or more than a year ahead is refused with its
own error.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, select

from app import clock
from app.config import Settings
from app.domain import audit, clinics, reminders
from app.domain.clinics import offers
from app.domain.code_text import effective_state, format_code, state_error
from app.domain.codes import get_code
from app.domain.errors import ClinicInactive, DomainError, NotOffered
from app.domain.message_log import queue_rendered
from app.domain.people import language_of
from app.models import Appointment, AppointmentStatus, Clinic, CodeState, MessageKind, ReferralCode

DEFAULT_TIME = time(8, 0)
NEXT_YEAR_WINDOW = timedelta(days=183)
MAX_AHEAD = timedelta(days=366)

_DATE_TIME = re.compile(
    r"^\s*(?P<day>\d{1,2})\s*[/.\-]\s*(?P<month>\d{1,2})(?:\s*[/.\-]\s*(?P<year>\d{4}|\d{2}))?"
    r"(?:\s*(?:[,;]|\s)\s*(?:luc\s+|at\s+)?(?P<hour>\d{1,2})(?:\s*(?:[h:]|gio)\s*(?P<minute>\d{2})?)?)?"
    r"\s*$",
    re.IGNORECASE,
)


class InvalidDate(DomainError):
    key = "codes.bad_date"
    status = 422


class PastDate(DomainError):
    key = "codes.past_date"
    status = 422


class DateTooFar(DomainError):
    key = "codes.date_too_far"
    status = 422


class NoClientPhone(DomainError):
    key = "codes.no_client_phone"
    status = 409


def parse_appointment_datetime(text: str, settings: Settings, now: datetime) -> datetime:
    """The aware UTC instant of a typed local date and optional time (see the
    module docstring for the forms). Raises InvalidDate (unreadable or
    impossible: 31/02, 25h), PastDate, DateTooFar."""
    shown = (text or "").strip()[:40]
    m = _DATE_TIME.match(text or "")
    if not m:
        raise InvalidDate(f"unreadable date {shown!r}", date=shown)
    tz = settings.tz
    today = now.astimezone(tz).date()
    day, month = int(m["day"]), int(m["month"])
    hour = int(m["hour"]) if m["hour"] else DEFAULT_TIME.hour
    minute = int(m["minute"]) if m["minute"] else (0 if m["hour"] else DEFAULT_TIME.minute)
    try:
        at = time(hour, minute)
        if m["year"]:
            year = int(m["year"]) + (2000 if len(m["year"]) == 2 else 0)
            when = date(year, month, day)
        else:
            when = _year_less(day, month, today)
    except ValueError:
        raise InvalidDate(f"no such date or time {shown!r}", date=shown) from None
    starts = datetime.combine(when, at, tzinfo=tz).astimezone(UTC)
    if starts <= now:
        raise PastDate(f"{shown!r} is in the past", date=shown)
    if starts - now > MAX_AHEAD:
        raise DateTooFar(f"{shown!r} is more than a year ahead", date=shown)
    return starts


def _year_less(day: int, month: int, today: date) -> date:
    """This year's day/month, or next year's around New Year (see module
    doc); a passed day otherwise (the caller refuses it as past). Raises
    ValueError for a day/month that never exists (31/02)."""
    date(2000, month, day)  # a leap year: only impossible dates fail
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:  # 29/02 outside a leap year
            continue
        if candidate >= today and (year == today.year or candidate - today <= NEXT_YEAR_WINDOW):
            return candidate
    try:
        return date(today.year, month, day)
    except ValueError:
        raise ValueError("29/02 is not in this year") from None


def bookable_code(
    session: Session, code: str, *, clinic: Clinic, now: datetime | None = None
) -> ReferralCode:
    """The code's row when `clinic` may book an appointment for its client,
    whatever the time (a menu asks before the date). Raises MalformedCode,
    UnknownCode, CodeVoided, CodeExpired, ClinicInactive, NotOffered,
    NoClientPhone; reads only."""
    row = get_code(session, code)
    now = now or clock.now()
    state = effective_state(row, now)
    if state not in (CodeState.issued, CodeState.redeemed):
        raise state_error(row, now)
    if not clinic.active:
        raise ClinicInactive("this clinic is not active", clinic=clinic.display_name)
    if not offers(session, clinic.id, row.service_id):
        service = clinics.service_by_id(session, row.service_id)
        raise NotOffered(
            "clinic does not offer this service",
            clinic=clinic.display_name,
            service=service.code,
            code=format_code(row.code),
        )
    if not row.client_phone:
        raise NoClientPhone("this code has no client phone", code=format_code(row.code))
    return row


def book_appointment(
    session: Session, settings: Settings, code: str, starts_at: datetime, *, clinic: Clinic, actor: str
) -> Appointment:
    """Book the client of `code` at `clinic` for `starts_at` (aware). A new
    booking for the same code replaces its earlier upcoming one. Hands the
    appointment to the reminders and queues a discreet confirmation to the
    client. The code may be issued or already redeemed. Two bookings of one
    code at the same moment leave one: the later replaces the earlier. Raises
    MalformedCode, UnknownCode, CodeVoided, CodeExpired, ClinicInactive,
    NotOffered, NoClientPhone, PastDate."""
    now = clock.now()
    row = bookable_code(session, code, clinic=clinic, now=now)
    # one booking of a code at a time (PostgreSQL: the code's row locked until
    # commit), so a booking made meanwhile is seen below and replaced, never
    # left standing beside this one; SQLite has one writer anyway
    session.exec(select(ReferralCode.id).where(ReferralCode.id == row.id).with_for_update()).one()
    if starts_at <= now:
        raise PastDate(
            "appointment time is in the past", date=starts_at.astimezone(settings.tz).strftime("%d/%m/%Y")
        )
    for earlier in session.exec(
        select(Appointment).where(
            Appointment.code_id == row.id,
            Appointment.status == AppointmentStatus.booked,
            Appointment.starts_at > now,
        )
    ).all():
        _cancel(session, earlier, actor, "rebooked")
    appointment = Appointment(
        code_id=row.id,
        client_phone=row.client_phone,
        clinic_id=clinic.id,
        starts_at=starts_at,
        status=AppointmentStatus.booked,
        created_by=actor[:120],
        created_at=now,
    )
    session.add(appointment)
    session.flush()
    audit.record(
        session,
        actor,
        "appointment.book",
        "appointment",
        appointment.id,
        code_id=row.id,
        clinic_id=clinic.id,
        starts_at=starts_at.isoformat(),
    )
    local = starts_at.astimezone(settings.tz)
    queue_rendered(
        session,
        phone=row.client_phone,
        key="codes.client_appointment",
        language=language_of(session, settings, row.client_phone),
        kind=MessageKind.notification,
        clinic=clinic.display_name,
        address=clinic.address,
        date=local.strftime("%d/%m/%Y"),
        time=local.strftime("%H:%M"),
    )
    reminders.schedule_appointment_reminders(session, settings, appointment)
    return appointment


def _cancel(session: Session, appointment: Appointment, actor: str, reason: str) -> None:
    appointment.status = AppointmentStatus.cancelled
    session.add(appointment)
    reminders.cancel_for_appointment(session, appointment.id, reason)
    audit.record(session, actor, "appointment.cancel", "appointment", appointment.id, reason=reason)


def next_appointment(session: Session, phone: str) -> Appointment | None:
    """The earliest booked appointment of `phone` still to come."""
    return session.exec(
        select(Appointment)
        .where(
            Appointment.client_phone == phone,
            Appointment.status == AppointmentStatus.booked,
            Appointment.starts_at > clock.now(),
        )
        .order_by(Appointment.starts_at)
    ).first()
