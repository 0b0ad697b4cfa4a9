"""Issuing referral codes: one valid code per client and service.

A code belongs to the pair (client phone, service). While the client holds
a code for that service that is still valid (issued, not redeemed, voided
or past expiry: `code_text.effective_state`), a further request for the
pair, by any worker, on any channel, issues nothing: the same code is sent
to the client again (the same SMS as when it was issued, through the
outbox, which enforces opt-out) and the caller is told it was resent
(`Issued.resent`). The code keeps its issuing worker, suggested clinic,
channel and expiry, so the indicators count it once, for the worker who
issued it. A caller asking for a new code (`new=True`; SMS `REF ... MOI`)
gets one: the pair's valid codes are voided first (audited `code.void`
with `replaced_by`, reminders cancelled). A request without a client phone
always issues a new code.

`app.domain.codes` re-exports `issue_code`, `refer` and `generate_code`;
this module imports nothing from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app import clock
from app.config import Settings
from app.domain import audit, clinics, reminders
from app.domain.clinics import find_service, offers
from app.domain.code_text import (
    effective_state,
    expiry_for,
    format_code,
    random_code,
    state_error,
    valid_until_text,
)
from app.domain.errors import ClinicInactive, DomainError, NotFound, NotMobile, NotOffered, WorkerInactive
from app.domain.message_log import queue_rendered
from app.domain.people import language_of
from app.domain.phones import is_mobile, mask_phone, normalize_phone
from app.models import (
    Appointment,
    AppointmentStatus,
    Channel,
    Clinic,
    CodeState,
    MessageKind,
    ReferralCode,
    Service,
    Worker,
)

_GENERATE_ATTEMPTS = 20


@dataclass(frozen=True)
class Issued:
    """What a request for a code gave: `code` is new unless `resent`."""

    code: ReferralCode
    resent: bool = False  # the client's valid code for the service, sent again
    replaced: tuple[ReferralCode, ...] = ()  # valid codes voided for the new one (`new=True`)


def generate_code(session: Session) -> str:
    """A fresh valid code not used by any code ever issued (checked in the
    database; the unique index on `referral_code.code` is the final guard,
    see `issue_code`). Raises RuntimeError if the space looks exhausted."""
    for _ in range(_GENERATE_ATTEMPTS):
        candidate = random_code()
        if session.exec(select(ReferralCode.id).where(ReferralCode.code == candidate)).first() is None:
            return candidate
    raise RuntimeError("could not find an unused referral code")


def valid_codes_for(session: Session, phone: str, service_id: int, now: datetime) -> list[ReferralCode]:
    """The client's codes for the service that can still be redeemed, newest first."""
    rows = session.exec(
        select(ReferralCode)
        .where(
            ReferralCode.client_phone == phone,
            ReferralCode.service_id == service_id,
            ReferralCode.state == CodeState.issued,
            ReferralCode.expires_at > now,
        )
        .order_by(ReferralCode.issued_at.desc(), ReferralCode.id.desc())
    ).all()
    return [row for row in rows if effective_state(row, now) == CodeState.issued]


def issue_code(session: Session, settings: Settings, **request) -> ReferralCode:
    """`refer`, for callers that only need the code (new or resent)."""
    return refer(session, settings, **request).code


def refer(
    session: Session,
    settings: Settings,
    *,
    service: str,
    worker: Worker | None,
    client_phone: str | None,
    clinic_id: int | None,
    channel: Channel,
    actor: str,
    new: bool = False,
    population_group: str | None = None,
) -> Issued:
    """A code for `service` (its code, any case), by `worker`, optionally
    for a client phone (normalised) and a suggested clinic: the client's
    valid code for the service resent, or (none, or `new`) a new code.
    A new code's client SMS is queued (outbox enforces opt-out) and its
    expiry nudge scheduled. Raises UnknownService, InvalidPhone,
    WorkerInactive, NotFound / ClinicInactive (clinic), NotOffered,
    UnknownPopulationGroup, all checked before anything is written.
    `population_group`: a tag of the settings' POPULATION_GROUPS, kept on
    a new code (a resent code keeps its own)."""
    svc = find_service(session, service)
    group = _population_group(settings, population_group)
    if worker is not None and not worker.active:
        raise WorkerInactive("this worker is not active")
    phone = normalize_phone(client_phone, settings.default_region) if client_phone else None
    if phone and not is_mobile(phone):
        raise NotMobile(f"{mask_phone(phone)} is not a mobile number", phone=mask_phone(phone))
    clinic = None
    if clinic_id is not None:
        clinic = clinics.clinic_by_id(session, clinic_id)
        if clinic is None:
            raise NotFound(f"no clinic {clinic_id}")
        if not clinic.active:
            raise ClinicInactive("this clinic is not active", clinic=clinic.display_name)
        if not offers(session, clinic.id, svc.id):
            raise NotOffered(
                "clinic does not offer this service", clinic=clinic.display_name, service=svc.code
            )
    now = clock.now()
    valid = valid_codes_for(session, phone, svc.id, now) if phone else []
    if valid and not new:
        _resend(session, settings, valid[0], svc, worker, channel, actor)
        return Issued(valid[0], resent=True)
    row = insert_code(
        session,
        svc,
        worker_id=worker.id if worker else None,
        phone=phone,
        clinic_id=clinic.id if clinic else None,
        channel=channel,
        now=now,
        tz=settings.tz,
    )
    row.population_group = group
    for old in valid:
        void_issued(session, old, actor=actor, now=now, replaced_by=row.id)
    audit.record(
        session,
        actor,
        "code.issue",
        "referral_code",
        row.id,
        service=svc.code,
        worker_id=row.worker_id,
        clinic_id=row.clinic_id,
        channel=str(channel),
        client=bool(phone),
        population_group=group,
        replaces=[old.id for old in valid] or None,
    )
    if phone:
        _queue_client_sms(session, settings, row, svc, clinic)
    reminders.schedule_code_expiry_nudge(session, settings, row)
    return Issued(row, replaced=tuple(valid))


class UnknownPopulationGroup(DomainError):
    key = "codes.unknown_group"
    status = 422


def _population_group(settings: Settings, tag: str | None) -> str | None:
    if not tag:
        return None
    groups = settings.population_group_labels
    if tag.strip().upper() not in groups:
        raise UnknownPopulationGroup(
            f"unknown population group {tag[:16]!r}: use one of {', '.join(groups) or 'none configured'}",
            groups=" ".join(groups),
        )
    return tag.strip().upper()


def _resend(session, settings, row: ReferralCode, svc: Service, worker, channel, actor) -> None:
    audit.record(
        session,
        actor,
        "code.resend",
        "referral_code",
        row.id,
        service=svc.code,
        worker_id=worker.id if worker else None,
        channel=str(channel),
    )
    clinic = clinics.clinic_by_id(session, row.clinic_id) if row.clinic_id else None
    _queue_client_sms(session, settings, row, svc, clinic)


def _queue_client_sms(
    session: Session, settings: Settings, row: ReferralCode, svc: Service, clinic: Clinic | None
) -> None:
    """The discreet SMS carrying the code to its client (issue and resend alike)."""
    key = "codes.client_issued_clinic" if clinic else "codes.client_issued_any"
    language = language_of(session, settings, row.client_phone)
    queue_rendered(
        session,
        phone=row.client_phone,
        key=key,
        language=language,
        kind=MessageKind.notification,
        code=format_code(row.code),
        service=clinics.service_label(svc, language),
        clinic=clinic.display_name if clinic else "",
        address=clinics.full_address(clinic) if clinic else "",
        until=valid_until_text(row, settings.tz),
    )


def insert_code(
    session: Session,
    svc: Service,
    *,
    worker_id: int | None,
    phone: str | None,
    clinic_id: int | None,
    channel: Channel,
    now: datetime,
    tz,
    **extra,
) -> ReferralCode:
    """A new issued code row for `svc` (a fresh code, its expiry the
    service's), flushed; `extra`: further columns (a coupon's parent and
    wave). Checks nothing: callers do."""
    for _ in range(_GENERATE_ATTEMPTS):
        row = ReferralCode(
            code=generate_code(session),
            service_id=svc.id,
            worker_id=worker_id,
            clinic_id=clinic_id,
            client_phone=phone,
            state=CodeState.issued,
            channel=channel,
            issued_at=now,
            expires_at=expiry_for(svc.expiry_days, now, tz),
            **extra,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return row
        except IntegrityError:  # the same code inserted at the same moment elsewhere
            continue
    raise RuntimeError("could not store a unique referral code")


def void_issued(session: Session, row: ReferralCode, *, actor: str, now: datetime, **audit_values) -> None:
    """Void `row` if it is still issued and unexpired (one conditional
    UPDATE), audit it (`code.void`), cancel its reminders and its booked
    appointments. Raises the
    code's state error (AlreadyRedeemed, CodeVoided, CodeExpired) otherwise."""
    changed = session.exec(
        update(ReferralCode)
        .where(
            ReferralCode.id == row.id, ReferralCode.state == CodeState.issued, ReferralCode.expires_at > now
        )
        .values(state=CodeState.voided, voided_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(row)
    if changed != 1:
        raise state_error(row, now)
    audit.record(session, actor, "code.void", "referral_code", row.id, **audit_values)
    reminders.cancel_for_code(session, row.id, "voided")  # the appointments' reminders too
    for appointment in session.exec(
        select(Appointment).where(
            Appointment.code_id == row.id, Appointment.status == AppointmentStatus.booked
        )
    ).all():
        appointment.status = AppointmentStatus.cancelled
        session.add(appointment)
        audit.record(session, actor, "appointment.cancel", "appointment", appointment.id, reason="voided")
