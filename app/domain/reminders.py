"""Reminders: rows in the `reminder` table that the dispatcher turns into
outbound SMS when they fall due. The database is the truth: scheduling is an
INSERT in the caller's transaction, cancelling one conditional UPDATE.

Kinds (ReminderKind):
- `code_expiry`: at `APPOINTMENT_MORNING_HOUR` on the local day
  `CODE_EXPIRY_NUDGE_DAYS` before the last valid day of an unredeemed code
  with a client phone; cancelled when the code is redeemed or voided.
- `appointment_day_before` (the local day before, at
  `APPOINTMENT_MORNING_HOUR`) and `appointment_soon`
  (`APPOINTMENT_SOON_HOURS` before); cancelled with the appointment.
- `retest`: a number of days after a redemption (the service's
  `retest_after_days`, else `RETEST_AFTER_DAYS` for VCT), at the morning hour.
- `custom`: scheduled through the admin API, with a `reminder.custom_*` key.

Texts are catalogue keys under `reminder.`; `params` hold the values, and the
dispatcher renders them in the person's language when it sends. Every text is
discreet: it names a clinic's display name, a time, a code, never a
condition, a test, a treatment or a result.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from app import clock
from app.config import Settings
from app.domain import audit, clinics
from app.domain.code_text import format_code, local_valid_until
from app.domain.discretion import Indiscreet, check_client_visible
from app.domain.errors import DomainError, NotFound
from app.domain.message_log import cancel_queued_of_reminders
from app.domain.phones import normalize_phone
from app.messages import UnknownMessageKey, catalogue, placeholders, render
from app.models import (
    Appointment,
    AppointmentStatus,
    CodeState,
    ReferralCode,
    Reminder,
    ReminderKind,
    ReminderStatus,
    Service,
)

ACTIVE = (ReminderStatus.pending, ReminderStatus.claimed)
CUSTOM_PREFIX = "reminder.custom_"
RETEST_SERVICE = "VCT"
DATE_FORMAT = "%d/%m/%Y"
TIME_FORMAT = "%H:%M"
# a custom reminder is due from a little before now (clock skew between the
# caller and the service) to two years ahead (the longest re-test interval)
CUSTOM_PAST_GRACE = timedelta(minutes=5)
CUSTOM_MAX_AHEAD = timedelta(days=730)


class InvalidReminder(DomainError):
    """A custom reminder the service cannot send (unknown text key, missing
    value, naive or past time)."""

    status = 422


class ReminderNotCancellable(DomainError):
    """The reminder was already sent, skipped, failed or cancelled."""

    status = 409


# ---------------------------------------------------------------- helpers


def _local_moment(day: date, hour: int, settings: Settings) -> datetime:
    """`hour`:00 on local `day` (settings.tz), as an aware datetime."""
    return datetime.combine(day, time(hour, 0), tzinfo=settings.tz)


def _active(session: Session, kind: ReminderKind, **links) -> Reminder | None:
    query = select(Reminder).where(Reminder.kind == kind, Reminder.status.in_(ACTIVE))
    for column, value in links.items():
        query = query.where(getattr(Reminder, column) == value)
    return session.exec(query).first()


def _create(
    session: Session,
    *,
    kind: ReminderKind,
    phone: str,
    due_at: datetime,
    text_key: str,
    params: dict,
    created_by: str = "system",
    code_id: int | None = None,
    appointment_id: int | None = None,
) -> Reminder:
    now = clock.now()
    reminder = Reminder(
        kind=kind,
        phone=phone,
        due_at=due_at,
        text_key=text_key,
        params=params,
        status=ReminderStatus.pending,
        code_id=code_id,
        appointment_id=appointment_id,
        created_by=created_by[:120],
        created_at=now,
    )
    session.add(reminder)
    session.flush()
    return reminder


# ---------------------------------------------------------------- scheduling


def code_expiry_nudge_at(code: ReferralCode, settings: Settings) -> datetime:
    """When the nudge for `code` is due: the morning (`appointment_morning_hour`,
    local) of the day `code_expiry_nudge_days` before its last valid day.
    Not `expires_at` minus N days: that is 23:59:59, inside the quiet hours,
    and would go out the next morning, a day late."""
    day = local_valid_until(code, settings.tz) - timedelta(days=settings.code_expiry_nudge_days)
    return _local_moment(day, settings.appointment_morning_hour, settings)


def schedule_code_expiry_nudge(session: Session, settings: Settings, code: ReferralCode) -> Reminder | None:
    """The nudge on the morning `code_expiry_nudge_days` before `code`'s last
    valid day (`code_expiry_nudge_at`). None when the code has no client
    phone, is not issued, or that moment has passed. Scheduling twice
    returns the reminder already there."""
    if not code.client_phone or code.state != CodeState.issued:
        return None
    due_at = code_expiry_nudge_at(code, settings)
    if due_at <= clock.now() or due_at >= code.expires_at:
        return None
    existing = _active(session, ReminderKind.code_expiry, code_id=code.id)
    if existing is not None:
        return existing
    return _create(
        session,
        kind=ReminderKind.code_expiry,
        phone=code.client_phone,
        due_at=due_at,
        text_key="reminder.code_expiry",
        params={
            "code": format_code(code.code),
            "date": local_valid_until(code, settings.tz).strftime(DATE_FORMAT),
        },
        code_id=code.id,
    )


def schedule_appointment_reminders(
    session: Session, settings: Settings, appointment: Appointment
) -> list[Reminder]:
    """The day-before reminder (local day before, at the morning hour) and the
    soon reminder (`appointment_soon_hours` before). A moment already past
    is not scheduled; scheduling twice adds nothing."""
    now = clock.now()
    clinic = clinics.clinic_by_id(session, appointment.clinic_id)
    local = appointment.starts_at.astimezone(settings.tz)
    params = {
        "clinic": clinic.display_name if clinic else "",
        "date": local.strftime(DATE_FORMAT),
        "time": local.strftime(TIME_FORMAT),
    }
    plan = [
        (
            ReminderKind.appointment_day_before,
            _local_moment(local.date() - timedelta(days=1), settings.appointment_morning_hour, settings),
        ),
        (
            ReminderKind.appointment_soon,
            appointment.starts_at - timedelta(hours=settings.appointment_soon_hours),
        ),
    ]
    out = []
    for kind, due_at in plan:
        if due_at <= now or due_at >= appointment.starts_at:
            continue
        existing = _active(session, kind, appointment_id=appointment.id)
        out.append(
            existing
            or _create(
                session,
                kind=kind,
                phone=appointment.client_phone,
                due_at=due_at,
                text_key=f"reminder.{kind.value}",
                params=params,
                code_id=appointment.code_id,
                appointment_id=appointment.id,
            )
        )
    return out


def retest_days(settings: Settings, service: Service | None) -> int | None:
    """Days from a redemption to the re-test reminder: the service's own
    setting, else RETEST_AFTER_DAYS for VCT; None: no re-test reminder."""
    if service is None:
        return None
    if service.retest_after_days:
        return service.retest_after_days
    if service.code == RETEST_SERVICE:
        return settings.retest_after_days
    return None


def schedule_retest(
    session: Session, settings: Settings, code: ReferralCode, redeemed_at: datetime
) -> Reminder | None:
    """The re-test reminder, `retest_days` after `redeemed_at`, at the local
    morning hour. None without a client phone or for a service without
    re-test; scheduling twice returns the one already there."""
    if not code.client_phone:
        return None
    days = retest_days(settings, clinics.service_by_id(session, code.service_id))
    if not days:
        return None
    existing = _active(session, ReminderKind.retest, code_id=code.id)
    if existing is not None:
        return existing
    day = redeemed_at.astimezone(settings.tz).date() + timedelta(days=days)
    return _create(
        session,
        kind=ReminderKind.retest,
        phone=code.client_phone,
        due_at=_local_moment(day, settings.appointment_morning_hour, settings),
        text_key="reminder.retest",
        params={},
        code_id=code.id,
    )


def schedule_custom(
    session: Session,
    settings: Settings,
    *,
    phone: str,
    due_at: datetime,
    text_key: str,
    params: dict | None,
    actor: str,
) -> Reminder:
    """A free reminder (admin API). `text_key` must be a `reminder.custom_*`
    catalogue key and `params` must fill its placeholders (strings or
    numbers) that name no sensitive word, as the client reads them. `due_at`
    is at most CUSTOM_PAST_GRACE in the past (sent at once) and at most
    CUSTOM_MAX_AHEAD ahead. Raises InvalidPhone, InvalidReminder."""
    number = normalize_phone(phone, settings.default_region)
    params = dict(params or {})
    if due_at.tzinfo is None:
        raise InvalidReminder("due_at needs a time zone, e.g. 2026-12-24T08:00:00+07:00")
    now = clock.now()  # aware comparisons: no conversion, so year 1 or 9999 cannot overflow
    if due_at < now - CUSTOM_PAST_GRACE:
        raise InvalidReminder(
            f"due_at ({due_at.isoformat()}) is in the past: a reminder is scheduled for a time to come"
        )
    if due_at > now + CUSTOM_MAX_AHEAD:
        raise InvalidReminder(
            f"due_at ({due_at.isoformat()}) is more than {CUSTOM_MAX_AHEAD.days} days ahead"
        )
    key = text_key if text_key.startswith("reminder.") else f"reminder.{text_key}"
    if not key.startswith(CUSTOM_PREFIX) or key not in catalogue(settings.default_language):
        keys = ", ".join(
            sorted(k for k in catalogue(settings.default_language) if k.startswith(CUSTOM_PREFIX))
        )
        raise InvalidReminder(f"unknown text_key {text_key!r}; one of: {keys}")
    if any(not isinstance(v, str | int | float) for v in params.values()):
        raise InvalidReminder("params values must be text or numbers")
    missing = placeholders(catalogue(settings.default_language)[key]) - params.keys()
    if missing:
        raise InvalidReminder(f"params missing: {', '.join(sorted(missing))}")
    try:
        check_client_visible({f"params.{name}": value for name, value in params.items()})
    except Indiscreet as exc:
        raise InvalidReminder(str(exc)) from None
    reminder = _create(
        session,
        kind=ReminderKind.custom,
        phone=number,
        due_at=due_at,
        text_key=key,
        params=params,
        created_by=actor,
    )
    audit.record(
        session, actor, "reminder.schedule", "reminder", reminder.id, text_key=key, due_at=due_at.isoformat()
    )
    return reminder


# ---------------------------------------------------------------- cancelling


def _cancel_where(session: Session, condition, reason: str) -> int:
    """Cancel every active reminder matching `condition` in one UPDATE, and
    drop their messages still waiting in the outbox."""
    now = clock.now()
    ids = select(Reminder.id).where(condition)
    cancelled = session.exec(
        update(Reminder)
        .where(condition, Reminder.status.in_(ACTIVE))
        .values(
            status=ReminderStatus.cancelled,
            cancelled_at=now,
            last_error=reason[:500],
            claimed_by=None,
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    cancel_queued_of_reminders(session, ids, reason)
    return cancelled


def cancel_for_code(session: Session, code_id: int, reason: str) -> int:
    """Cancel the pending reminders of a code (redeemed, voided); returns how
    many. A reminder the dispatcher holds at that moment is cancelled too:
    its conditional UPDATE then finds it cancelled and sends nothing."""
    return _cancel_where(session, Reminder.code_id == code_id, reason)


def cancel_for_appointment(session: Session, appointment_id: int, reason: str) -> int:
    """Cancel the pending reminders of an appointment; returns how many."""
    return _cancel_where(session, Reminder.appointment_id == appointment_id, reason)


def cancel_reminder(session: Session, reminder_id: int, actor: str) -> Reminder:
    """Cancel one pending reminder. Raises NotFound, ReminderNotCancellable."""
    reminder = session.get(Reminder, reminder_id)
    if reminder is None:
        raise NotFound(f"no reminder {reminder_id}")
    if _cancel_where(session, Reminder.id == reminder_id, "cancelled") != 1:
        session.refresh(reminder)
        raise ReminderNotCancellable(f"reminder {reminder_id} is {reminder.status}, it cannot be cancelled")
    session.refresh(reminder)
    audit.record(session, actor, "reminder.cancel", "reminder", reminder_id)
    return reminder


# ---------------------------------------------------------------- reading


def next_for_phone(session: Session, phone: str) -> Reminder | None:
    """The next reminder still to be sent to `phone` (earliest due first)."""
    return session.exec(
        select(Reminder)
        .where(Reminder.phone == phone, Reminder.status.in_(ACTIVE))
        .order_by(Reminder.due_at, Reminder.id)
    ).first()


def stale_reason(session: Session, reminder: Reminder, now: datetime, settings: Settings) -> str | None:
    """Why a due reminder no longer makes sense (the dispatcher's last check,
    from the database, in case a cancellation was missed or the dispatcher
    was down): the code is no longer open, the appointment cancelled or
    begun or its code voided, the day-before moment gone. None: send it."""
    if reminder.kind == ReminderKind.code_expiry and reminder.code_id:
        code = session.get(ReferralCode, reminder.code_id)
        if code is None or code.state != CodeState.issued:
            return f"code_{code.state if code else 'missing'}"
        if code.expires_at <= now:
            return "code_expired"
    if reminder.appointment_id:
        appointment = session.get(Appointment, reminder.appointment_id)
        if appointment is None or appointment.status != AppointmentStatus.booked:
            return "appointment_cancelled"
        code = session.get(ReferralCode, appointment.code_id) if appointment.code_id else None
        if code is not None and code.state == CodeState.voided:
            return "code_voided"
        if appointment.starts_at <= now:
            return "too_late"
        if reminder.kind == ReminderKind.appointment_day_before and (
            now.astimezone(settings.tz).date() >= appointment.starts_at.astimezone(settings.tz).date()
        ):
            return "too_late"
    return None


def render_reminder(reminder: Reminder, language: str) -> str:
    """The text of `reminder` in `language`. Raises UnknownMessageKey for a
    key not in the catalogue, KeyError for a missing value."""
    if not reminder.text_key.startswith("reminder."):
        raise UnknownMessageKey(reminder.text_key)
    return render(reminder.text_key, language, **(reminder.params or {}))
