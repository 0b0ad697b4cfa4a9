"""Referral codes: generate, parse, issue, redeem once, void, expire.

A code is 8 digits: 7 from `secrets` plus a Damm check digit (python-stdnum),
so every single wrong digit and every swap of two neighbouring digits is
refused by `parse_code` alone, before the database is asked. It is shown as
`4821-5093`; input may carry spaces, dashes, dots and a leading CODE/MA.

Validity: a code issued on local day D for a service with `expiry_days` N is
valid through local day D+N (settings.tz); `expires_at` is the last second
of that day (23:59:59 local, stored UTC), so its local date is the day shown
as "valid until". Past `expires_at` a code is expired even before
`expire_due_codes` marks it so.

Every redemption attempt and every code look-up made for a phone is written
to the audit log in the caller's transaction (`code.redeem` / `code.attempt`
with an `outcome`): callers commit it even when they answer with the error.
The wrong-code throttle counts those rows, so it holds across processes.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from stdnum import damm

from app import clock
from app.config import Settings
from app.domain import audit, reminders
from app.domain.errors import DomainError, NotFound
from app.domain.people import get_person
from app.domain.phones import normalize_phone
from app.domain.text import fold
from app.models import (
    AuditLog,
    Channel,
    Clinic,
    ClinicService,
    CodeState,
    MessageKind,
    Redemption,
    ReferralCode,
    Service,
    Worker,
)
from app.sending.outbox import queue_rendered

RANDOM_DIGITS = 7
CODE_LENGTH = RANDOM_DIGITS + 1
LAST_SECOND = time(23, 59, 59)
_GENERATE_ATTEMPTS = 20
_PREFIX = re.compile(r"^\s*(CODE|MA)(?![A-Z])[\s:.#-]*")
_SEPARATORS = re.compile(r"[\s.\-_/]+")
WRONG_OUTCOMES = ("unknown", "malformed")
ATTEMPT_ACTIONS = ("code.attempt", "code.redeem")


# ---------------------------------------------------------------- errors


class MalformedCode(DomainError):
    key = "codes.malformed"
    status = 422


class UnknownCode(DomainError):
    key = "codes.unknown"
    status = 404


class CodeExpired(DomainError):
    key = "codes.expired"
    status = 409


class CodeVoided(DomainError):
    key = "codes.voided"
    status = 409


class AlreadyRedeemed(DomainError):
    key = "codes.already_redeemed"
    status = 409


class NotOffered(DomainError):
    key = "codes.not_offered"
    status = 409


class NotIssuer(DomainError):
    key = "codes.not_issuer"
    status = 403


class UnknownService(DomainError):
    key = "codes.unknown_service"
    status = 422


class UnknownClinic(DomainError):
    key = "codes.unknown_clinic"
    status = 422


class AmbiguousClinic(DomainError):
    key = "codes.ambiguous_clinic"
    status = 422


class WorkerInactive(DomainError):
    key = "codes.worker_inactive"
    status = 403


class ClinicInactive(DomainError):
    key = "codes.clinic_inactive"
    status = 409


class Throttled(DomainError):
    """Too many unknown or malformed codes from one phone in the last hour.
    `values["notify"]` is True for the first refusal of the window (send one
    notice), False afterwards (stay silent)."""

    key = "codes.throttled"
    status = 429


# ---------------------------------------------------------------- text form


def parse_code(text: str | None) -> str:
    """The 8 digits of a typed code. Accepts spaces, dashes, dots and a
    leading `CODE`/`MA` (any case, with or without diacritics). Pure: never
    touches the database. Raises MalformedCode (letters, wrong length, wrong
    check digit)."""
    raw = fold(unicodedata.normalize("NFKC", text or ""))
    digits = _SEPARATORS.sub("", _PREFIX.sub("", raw, count=1))
    if len(digits) != CODE_LENGTH or not digits.isascii() or not digits.isdigit():
        raise MalformedCode(f"a code has {CODE_LENGTH} digits", text=(text or "")[:40])
    if not damm.is_valid(digits):
        raise MalformedCode("wrong check digit", text=(text or "")[:40])
    return digits


def format_code(code: str) -> str:
    """`48215093` -> `4821-5093` (any typed form is accepted)."""
    digits = _SEPARATORS.sub("", code)
    half = len(digits) // 2
    return f"{digits[:half]}-{digits[half:]}"


def _random_code() -> str:
    body = f"{secrets.randbelow(10**RANDOM_DIGITS):0{RANDOM_DIGITS}d}"
    return body + damm.calc_check_digit(body)


def generate_code(session: Session) -> str:
    """A fresh valid code not used by any code ever issued (checked in the
    database; the unique index on `referral_code.code` is the final guard,
    see `issue_code`). Raises RuntimeError if the space looks exhausted."""
    for _ in range(_GENERATE_ATTEMPTS):
        candidate = _random_code()
        if session.exec(select(ReferralCode.id).where(ReferralCode.code == candidate)).first() is None:
            return candidate
    raise RuntimeError("could not find an unused referral code")


# ---------------------------------------------------------------- look-ups


def local_valid_until(code: ReferralCode, tz: tzinfo) -> date:
    """The last local day on which `code` can be redeemed."""
    return code.expires_at.astimezone(tz).date()


def effective_state(code: ReferralCode, now: datetime | None = None) -> CodeState:
    """The state as people see it: an issued code past expiry is expired."""
    now = now or clock.now()
    if code.state == CodeState.issued and code.expires_at <= now:
        return CodeState.expired
    return CodeState(code.state)


def find_service(session: Session, text: str) -> Service:
    """The active service whose code is `text` (any case). Raises UnknownService."""
    wanted = fold(text or "").strip()
    service = (
        session.exec(select(Service).where(func.upper(Service.code) == wanted)).first() if wanted else None
    )
    if service is None or not service.active:
        known = " ".join(active_service_codes(session))
        raise UnknownService(f"no service {wanted!r}", service=(text or "")[:16], services=known)
    return service


def active_service_codes(session: Session) -> list[str]:
    """The codes of the active services (VCT, MMT, ...), in creation order."""
    return list(session.exec(select(Service.code).where(Service.active == True).order_by(Service.id)).all())  # noqa: E712


def offers(session: Session, clinic_id: int, service_id: int) -> bool:
    """Whether the clinic offers the service (clinic_service row)."""
    return (
        session.exec(
            select(ClinicService).where(
                ClinicService.clinic_id == clinic_id, ClinicService.service_id == service_id
            )
        ).first()
        is not None
    )


def resolve_clinic(session: Session, query: str) -> Clinic:
    """The active clinic meant by `query`: its number (id) or a fragment of
    its display name, internal name or district (case and diacritics
    ignored). Raises UnknownClinic, or AmbiguousClinic when a fragment
    matches several."""
    text = (query or "").strip().lstrip("#")
    if text.isdigit():
        clinic = session.get(Clinic, int(text))
        if clinic is None or not clinic.active:
            raise UnknownClinic(f"no clinic {text}", clinic=text)
        return clinic
    needle = fold(text)
    if len(needle) < 2:
        raise UnknownClinic("clinic name too short", clinic=text[:40])
    active = session.exec(select(Clinic).where(Clinic.active == True).order_by(Clinic.id)).all()  # noqa: E712
    exact = [c for c in active if fold(c.display_name) == needle]
    found = exact or [c for c in active if needle in fold(f"{c.display_name} | {c.name} | {c.district}")]
    if not found:
        raise UnknownClinic(f"no clinic matches {text!r}", clinic=text[:40])
    if len(found) > 1:
        raise AmbiguousClinic(
            f"{len(found)} clinics match {text!r}",
            clinic=text[:40],
            choices=", ".join(f"{c.id} {c.display_name}" for c in found[:4]),
        )
    return found[0]


def get_code(session: Session, code: str) -> ReferralCode:
    """The code row for a typed code, whatever its state. Raises
    MalformedCode (before any query) or UnknownCode."""
    digits = parse_code(code)
    row = session.exec(select(ReferralCode).where(ReferralCode.code == digits)).first()
    if row is None:
        raise UnknownCode(f"no code {format_code(digits)}", code=format_code(digits))
    return row


def state_error(row: ReferralCode, now: datetime) -> DomainError:
    """The refusal for a code that is no longer open (redeemed, voided,
    expired or past expiry); only meaningful for such a code."""
    state = effective_state(row, now)
    shown = format_code(row.code)
    if state == CodeState.redeemed:
        return AlreadyRedeemed(f"code {shown} was already used", code=shown)
    if state == CodeState.voided:
        return CodeVoided(f"code {shown} was voided", code=shown)
    return CodeExpired(f"code {shown} has expired", code=shown, expires_at=row.expires_at)


def code_status(session: Session, code: str, *, actor: str | None = None) -> ReferralCode:
    """The code, when it can still be redeemed. Raises MalformedCode,
    UnknownCode, AlreadyRedeemed, CodeVoided or CodeExpired (past expiry
    counts even when not yet marked). With `actor`, the look-up is audited
    (`code.attempt`, outcome) for the wrong-code throttle."""
    try:
        row = get_code(session, code)
    except (MalformedCode, UnknownCode) as exc:
        if actor:
            _audit_attempt(session, actor, "code.attempt", exc, code)
        raise
    now = clock.now()
    if effective_state(row, now) != CodeState.issued:
        exc = state_error(row, now)
        if actor:
            _audit_attempt(session, actor, "code.attempt", exc, code, row)
        raise exc
    if actor:
        audit.record(session, actor, "code.attempt", "referral_code", row.id, outcome="valid")
    return row


_OUTCOMES = {
    MalformedCode: "malformed",
    UnknownCode: "unknown",
    AlreadyRedeemed: "already_redeemed",
    CodeVoided: "voided",
    CodeExpired: "expired",
    NotOffered: "not_offered",
    ClinicInactive: "clinic_inactive",
}


def _audit_attempt(
    session: Session,
    actor: str,
    action: str,
    exc: DomainError,
    text: str,
    row: ReferralCode | None = None,
    **extra,
) -> None:
    outcome = _OUTCOMES.get(type(exc), type(exc).__name__)
    entity_id = row.id if row else None
    audit.record(
        session,
        actor,
        action,
        "referral_code",
        entity_id,
        outcome=outcome,
        code=None if row else (text or "")[:40],
        **extra,
    )


# ---------------------------------------------------------------- throttle


def check_wrong_code_throttle(session: Session, settings: Settings, phone: str) -> None:
    """Refuse a phone that sent `settings.wrong_code_limit_per_hour` unknown
    or malformed codes in the last hour (counted in the audit log, so the
    limit holds across processes and restarts). Raises Throttled with
    `notify=True` the first time in the window, `False` after; the refusal
    is itself audited (outcome `throttled`)."""
    actor = audit.phone_actor(phone)
    since = clock.now() - timedelta(hours=1)
    recent = (
        AuditLog.actor == actor,
        AuditLog.action.in_(ATTEMPT_ACTIONS),
        AuditLog.at >= since,
    )
    wrong = session.exec(
        select(func.count())
        .select_from(AuditLog)
        .where(*recent, AuditLog.detail["outcome"].as_string().in_(WRONG_OUTCOMES))
    ).one()
    if wrong < settings.wrong_code_limit_per_hour:
        return
    noticed = session.exec(
        select(func.count())
        .select_from(AuditLog)
        .where(*recent, AuditLog.detail["outcome"].as_string() == "throttled")
    ).one()
    audit.record(session, actor, "code.attempt", "referral_code", None, outcome="throttled")
    raise Throttled(f"{wrong} wrong codes in the last hour", notify=noticed == 0)


# ---------------------------------------------------------------- issue


def language_of(session: Session, settings: Settings, phone: str) -> str:
    """The language to write to `phone` in: its own choice, else the default."""
    person = get_person(session, phone)
    return person.language if person and person.language else settings.default_language


def _expiry_for(service: Service, now: datetime, tz: tzinfo) -> datetime:
    last_day = now.astimezone(tz).date() + timedelta(days=service.expiry_days)
    return datetime.combine(last_day, LAST_SECOND, tzinfo=tz).astimezone(now.tzinfo)


def issue_code(
    session: Session,
    settings: Settings,
    *,
    service: str,
    worker: Worker | None,
    client_phone: str | None,
    clinic_id: int | None,
    channel: Channel,
    actor: str,
) -> ReferralCode:
    """Issue a new code for `service` (its code, any case), by `worker`,
    optionally for a client phone (normalised) and a suggested clinic.
    Queues the discreet client SMS (outbox enforces opt-out) and schedules
    the expiry nudge. Raises UnknownService, InvalidPhone, WorkerInactive,
    NotFound / ClinicInactive (clinic), NotOffered. Nothing is written when
    it raises."""
    svc = find_service(session, service)
    if worker is not None and not worker.active:
        raise WorkerInactive("this worker is not active")
    phone = normalize_phone(client_phone, settings.default_region) if client_phone else None
    clinic = None
    if clinic_id is not None:
        clinic = session.get(Clinic, clinic_id)
        if clinic is None:
            raise NotFound(f"no clinic {clinic_id}")
        if not clinic.active:
            raise ClinicInactive("this clinic is not active", clinic=clinic.display_name)
        if not offers(session, clinic.id, svc.id):
            raise NotOffered(
                "clinic does not offer this service", clinic=clinic.display_name, service=svc.code
            )
    now = clock.now()
    row = _insert_code(session, svc, worker, phone, clinic, channel, now, settings.tz)
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
    )
    if phone:
        language = language_of(session, settings, phone)
        key = "codes.client_issued_clinic" if clinic else "codes.client_issued_any"
        queue_rendered(
            session,
            phone=phone,
            key=key,
            language=language,
            kind=MessageKind.notification,
            code=format_code(row.code),
            service=svc.display_name,
            clinic=clinic.display_name if clinic else "",
            address=clinic.address if clinic else "",
            until=local_valid_until(row, settings.tz).strftime("%d/%m/%Y"),
        )
    reminders.schedule_code_expiry_nudge(session, settings, row)
    return row


def _insert_code(session, svc, worker, phone, clinic, channel, now, tz) -> ReferralCode:
    for _ in range(_GENERATE_ATTEMPTS):
        row = ReferralCode(
            code=generate_code(session),
            service_id=svc.id,
            worker_id=worker.id if worker else None,
            clinic_id=clinic.id if clinic else None,
            client_phone=phone,
            state=CodeState.issued,
            channel=channel,
            issued_at=now,
            expires_at=_expiry_for(svc, now, tz),
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return row
        except IntegrityError:  # the same code inserted at the same moment elsewhere
            continue
    raise RuntimeError("could not store a unique referral code")


# ---------------------------------------------------------------- redeem


def redeem_code(
    session: Session, settings: Settings, code: str, *, clinic: Clinic, channel: Channel, actor: str
) -> Redemption:
    """Redeem `code` at `clinic`, at most once ever: one conditional UPDATE
    (issued and not past expiry -> redeemed, with `redeemed_at` and
    `redeemed_clinic_id`) decides among concurrent attempts; the unique
    `redemption.code_id` is the last guard. Stores the clinic, time,
    channel and actor; tells the issuing worker (never the
    client's number); cancels the code's reminders; schedules the re-test
    reminder when the service has one (VCT; see reminders). Every attempt is audited.
    Raises MalformedCode, UnknownCode, ClinicInactive, AlreadyRedeemed,
    CodeVoided, CodeExpired, NotOffered."""
    try:
        row = get_code(session, code)
    except (MalformedCode, UnknownCode) as exc:
        _audit_attempt(session, actor, "code.redeem", exc, code, clinic_id=clinic.id)
        raise
    now = clock.now()
    svc = session.get(Service, row.service_id)
    failure: DomainError | None = None
    if not clinic.active:
        failure = ClinicInactive("this clinic is not active", clinic=clinic.display_name)
    elif effective_state(row, now) != CodeState.issued:
        failure = state_error(row, now)
    elif not offers(session, clinic.id, row.service_id):
        failure = NotOffered(
            "clinic does not offer this service",
            clinic=clinic.display_name,
            service=svc.code,
            code=format_code(row.code),
        )
    if failure is None:
        redemption, failure = _record_redemption(session, row, clinic, channel, actor, now)
    if failure is not None:
        _audit_attempt(
            session, actor, "code.redeem", failure, code, row, clinic_id=clinic.id, channel=str(channel)
        )
        raise failure
    audit.record(
        session,
        actor,
        "code.redeem",
        "referral_code",
        row.id,
        outcome="redeemed",
        clinic_id=clinic.id,
        channel=str(channel),
        redemption_id=redemption.id,
    )
    _tell_worker(session, settings, row, svc, clinic, now)
    reminders.cancel_for_code(session, row.id, "redeemed")
    reminders.schedule_retest(session, settings, row, now)  # decides whether the service has one (VCT)
    return redemption


def _record_redemption(
    session: Session, row: ReferralCode, clinic: Clinic, channel: Channel, actor: str, now: datetime
) -> tuple[Redemption | None, DomainError | None]:
    """The redemption itself, in one savepoint: one conditional UPDATE of the
    code (issued and not past expiry -> redeemed, with the time and clinic
    the statistics read) and the `redemption` row. Among concurrent attempts
    the UPDATE lets exactly one through; the unique `redemption.code_id` is
    the last guard, and if it fires the UPDATE is rolled back with it, so
    the code never carries a redemption that is not there.
    Returns (redemption, None) or (None, the refusal)."""
    try:
        with session.begin_nested():
            changed = session.exec(
                update(ReferralCode)
                .where(
                    ReferralCode.id == row.id,
                    ReferralCode.state == CodeState.issued,
                    ReferralCode.expires_at > now,
                )
                .values(state=CodeState.redeemed, redeemed_at=now, redeemed_clinic_id=clinic.id)
                .execution_options(synchronize_session=False)
            ).rowcount
            if changed != 1:
                session.refresh(row)
                return None, state_error(row, now)
            redemption = Redemption(
                code_id=row.id, clinic_id=clinic.id, redeemed_at=now, channel=channel, actor=actor
            )
            session.add(redemption)
            session.flush()
    except IntegrityError:
        session.refresh(row)
        return None, AlreadyRedeemed("code was already used", code=format_code(row.code))
    session.refresh(row)
    return redemption, None


def _tell_worker(session, settings, row: ReferralCode, svc: Service, clinic: Clinic, now: datetime) -> None:
    worker = session.get(Worker, row.worker_id) if row.worker_id else None
    if worker is None:
        return
    queue_rendered(
        session,
        phone=worker.phone,
        key="codes.worker_told_redeemed",
        language=language_of(session, settings, worker.phone),
        kind=MessageKind.notification,
        code=format_code(row.code),
        service=svc.code,
        clinic=clinic.display_name,
        date=now.astimezone(settings.tz).strftime("%d/%m %H:%M"),
    )


# ---------------------------------------------------------------- void and expire


def void_code(session: Session, code: str, *, worker: Worker | None, actor: str) -> ReferralCode:
    """Void an issued, unexpired code. With `worker`, only a code that
    worker issued (None: program staff, any code). Cancels the code's
    reminders. Raises MalformedCode, UnknownCode, NotIssuer,
    AlreadyRedeemed, CodeVoided, CodeExpired."""
    row = get_code(session, code)
    if worker is not None and row.worker_id != worker.id:
        raise NotIssuer("only the worker who issued a code can void it", code=format_code(row.code))
    now = clock.now()
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
    audit.record(
        session, actor, "code.void", "referral_code", row.id, worker_id=worker.id if worker else None
    )
    reminders.cancel_for_code(session, row.id, "voided")
    return row


def expire_due_codes(session: Session) -> int:
    """Mark every issued code past its expiry as expired (one statement);
    returns how many. Redemption never depends on it having run."""
    return session.exec(
        update(ReferralCode)
        .where(ReferralCode.state == CodeState.issued, ReferralCode.expires_at <= clock.now())
        .values(state=CodeState.expired)
        .execution_options(synchronize_session=False)
    ).rowcount


# Worker figures live in app/domain/outreach.py; named here too (the codes interface).
from app.domain.outreach import InvalidCount, WorkerStats, record_outreach, worker_month_stats  # noqa: E402, F401
