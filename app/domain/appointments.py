"""Appointments a clinic books for a code's client, and the dates people type.

Typed dates and times (`25/12 14h30`, `mai 8h`, `thu 2`, `2h chieu`, `2pm`)
are read by `app.domain.when` in the program time zone (settings.tz); its
docstring states the rules. A booking is refused, each with its own reply:
in the past; after the code expires while it is still to be used (a
redeemed code's expiry no longer matters); at night, outside
`DAY_OPENS`-`DAY_CLOSES` local time, whatever the clinic; on a weekday the
clinic's `hours` text says it is closed, when that text can be read
(`T2-T6 7:30-16:30`; free text closes no day).
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from sqlalchemy import update
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
from app.domain.when import DateTooFar as DateTooFar  # the typed-date refusals, callers' names for them
from app.domain.when import InvalidDate as InvalidDate
from app.domain.when import PastDate, open_weekdays, read_datetime
from app.models import Appointment, AppointmentStatus, Clinic, CodeState, MessageKind, ReferralCode

# the hours of the day an appointment may start, local time (from included,
# until excluded): no clinic sees clients at night
DAY_OPENS = time(7, 0)
DAY_CLOSES = time(20, 0)
HOURS_SHOWN = 30  # characters of a clinic's hours text in a refusal


class NoClientPhone(DomainError):
    key = "codes.no_client_phone"
    status = 409


class AfterExpiry(DomainError):
    key = "codes.appt_after_expiry"
    status = 422


class AtNight(DomainError):
    key = "codes.appt_night"
    status = 422


class ClinicClosed(DomainError):
    key = "codes.appt_closed"
    status = 422


class BookedElsewhere(DomainError):
    """The client already has an upcoming appointment at another clinic: a
    clinic replaces only its own bookings."""

    key = "codes.appt_elsewhere"
    status = 409


def parse_appointment_datetime(text: str, settings: Settings, now: datetime) -> datetime:
    """The aware UTC instant of a typed local date and optional time (the
    forms and rules: `app.domain.when`). Raises InvalidDate (unreadable or
    impossible: 31/02, 25h), PastDate, DateTooFar."""
    return read_datetime(text or "", now.astimezone(settings.tz)).astimezone(UTC)


def bookable_code(
    session: Session, code: str, *, clinic: Clinic, now: datetime | None = None, actor: str | None = None
) -> ReferralCode:
    """The code's row when `clinic` may book an appointment for its client,
    whatever the time (a menu asks before the date). Raises MalformedCode,
    UnknownCode, CodeVoided, CodeExpired, ClinicInactive, NotOffered,
    NoClientPhone. With `actor`, a wrong code is audited as a guess
    (`code.attempt`, for the wrong-code throttle); nothing else is written."""
    row = get_code(session, code, actor=actor, clinic_id=clinic.id)
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


def check_slot(settings: Settings, row: ReferralCode, starts_at: datetime, *, clinic: Clinic) -> None:
    """Refuse a start the code's client could not keep (see the module
    docstring): AfterExpiry, AtNight, ClinicClosed. Reads nothing."""
    local = starts_at.astimezone(settings.tz)
    if row.state == CodeState.issued and starts_at > row.expires_at:
        raise AfterExpiry(
            "appointment after the code expires",
            code=format_code(row.code),
            until=row.expires_at.astimezone(settings.tz).strftime("%d/%m/%Y"),
        )
    if not DAY_OPENS <= local.time() < DAY_CLOSES:
        raise AtNight(
            "appointment at night",
            opens=DAY_OPENS.strftime("%H:%M"),
            closes=DAY_CLOSES.strftime("%H:%M"),
            time=local.strftime("%H:%M"),
        )
    open_days = open_weekdays(clinic.hours)
    if open_days is not None and local.weekday() not in open_days:
        raise ClinicClosed(
            "the clinic is closed that day",
            date=local.strftime("%d/%m/%Y"),
            hours=" ".join(clinic.hours.split())[:HOURS_SHOWN],
        )


def book_appointment(
    session: Session, settings: Settings, code: str, starts_at: datetime, *, clinic: Clinic, actor: str
) -> Appointment:
    """Book the client of `code` at `clinic` for `starts_at` (aware). A new
    booking by the same clinic replaces its earlier upcoming one; another
    clinic's is kept and the booking refused. Hands the
    appointment to the reminders and queues a discreet confirmation to the
    client. The code may be issued or already redeemed. Two bookings of one
    code at the same moment leave one: the later replaces the earlier. Raises
    MalformedCode, UnknownCode, CodeVoided, CodeExpired, ClinicInactive,
    NotOffered, NoClientPhone, PastDate, BookedElsewhere (another clinic's
    upcoming appointment stands), and `check_slot`'s AfterExpiry, AtNight,
    ClinicClosed."""
    now = clock.now()
    row = bookable_code(session, code, clinic=clinic, now=now, actor=actor)
    # one booking of a code at a time: an UPDATE that changes nothing takes
    # the code's row lock (PostgreSQL) or the database's write lock (SQLite,
    # where SELECT ... FOR UPDATE locks nothing) until commit; the row is
    # read again once locked, so a booking or a void made meanwhile is seen
    # below, never left standing beside this one
    session.exec(
        update(ReferralCode)
        .where(ReferralCode.id == row.id)
        .values(id=ReferralCode.id)
        .execution_options(synchronize_session=False)
    )
    row = session.exec(
        select(ReferralCode).where(ReferralCode.id == row.id).execution_options(populate_existing=True)
    ).one()
    if effective_state(row, now) not in (CodeState.issued, CodeState.redeemed):
        raise state_error(row, now)
    if starts_at <= now:
        raise PastDate(
            "appointment time is in the past", date=starts_at.astimezone(settings.tz).strftime("%d/%m/%Y")
        )
    check_slot(settings, row, starts_at, clinic=clinic)
    upcoming = session.exec(
        select(Appointment).where(
            Appointment.code_id == row.id,
            Appointment.status == AppointmentStatus.booked,
            Appointment.starts_at > now,
        )
    ).all()
    for other in upcoming:
        if other.clinic_id != clinic.id:
            other_clinic = clinics.clinic_by_id(session, other.clinic_id)
            when = other.starts_at.astimezone(settings.tz)
            raise BookedElsewhere(
                "the client has an upcoming appointment at another clinic",
                code=format_code(row.code),
                clinic=other_clinic.display_name if other_clinic else "",
                date=when.strftime("%d/%m/%Y"),
                time=when.strftime("%H:%M"),
            )
    for earlier in upcoming:
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
        address=clinics.full_address(clinic),
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
