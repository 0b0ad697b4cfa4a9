"""Code attempts: the audit row of every code a phone tries, and the
wrong-code throttle that counts those rows (so the limit holds across
processes and restarts)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from app import clock
from app.config import Settings
from app.domain import audit
from app.domain.errors import (
    AlreadyRedeemed,
    ClinicInactive,
    CodeExpired,
    CodeVoided,
    DomainError,
    MalformedCode,
    NotIssuer,
    NotOffered,
    Throttled,
    UnknownCode,
)
from app.models import AuditLog, ReferralCode

WRONG_OUTCOMES = ("unknown", "malformed", "not_issuer")  # what counts toward the limit
ATTEMPT_ACTIONS = ("code.attempt", "code.redeem")

_OUTCOMES = {
    MalformedCode: "malformed",
    UnknownCode: "unknown",
    AlreadyRedeemed: "already_redeemed",
    CodeVoided: "voided",
    CodeExpired: "expired",
    NotOffered: "not_offered",
    ClinicInactive: "clinic_inactive",
    NotIssuer: "not_issuer",
}


def audit_attempt(
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


STAFF_CEILING = 3  # times the wrong-code limit: then a staff phone's codes are not looked up either


class StaffThrottled(DomainError):
    """A worker's or desk's phone far over the wrong-code limit: its codes,
    valid ones too, are not looked up for the rest of the hour."""

    key = "codes.throttled_staff"
    status = 429


def _recent(actor: str) -> tuple:
    since = clock.now() - timedelta(hours=1)
    return (AuditLog.actor == actor, AuditLog.action.in_(ATTEMPT_ACTIONS), AuditLog.at >= since)


def _wrong_codes(session: Session, actor: str) -> int:
    return session.exec(
        select(func.count())
        .select_from(AuditLog)
        .where(*_recent(actor), AuditLog.detail["outcome"].as_string().in_(WRONG_OUTCOMES))
    ).one()


def check_staff_ceiling(session: Session, settings: Settings, phone: str) -> None:
    """Staff are never silenced for a valid code below STAFF_CEILING times
    the wrong-code limit; at it, guessing stops too: raises StaffThrottled
    before any look-up. Reads only."""
    ceiling = STAFF_CEILING * settings.wrong_code_limit_per_hour
    if _wrong_codes(session, audit.phone_actor(phone)) >= ceiling:
        raise StaffThrottled(f"{ceiling} or more wrong codes in the last hour")


def check_wrong_code_throttle(session: Session, settings: Settings, phone: str) -> None:
    """Refuse a phone that sent `settings.wrong_code_limit_per_hour` unknown
    or malformed codes in the last hour (`check_actor_throttle`)."""
    check_actor_throttle(session, settings, audit.phone_actor(phone))


def check_actor_throttle(session: Session, settings: Settings, actor: str) -> None:
    """Refuse an actor (a phone, an API key) that tried
    `settings.wrong_code_limit_per_hour` unknown or malformed codes in the
    last hour (counted in the audit log, so the limit holds across
    processes and restarts). Raises Throttled with `notify=True` the first
    time in the window, `False` after; the refusal is itself audited
    (outcome `throttled`)."""
    recent = _recent(actor)
    wrong = _wrong_codes(session, actor)
    if wrong < settings.wrong_code_limit_per_hour:
        return
    noticed = session.exec(
        select(func.count())
        .select_from(AuditLog)
        .where(*recent, AuditLog.detail["outcome"].as_string() == "throttled")
    ).one()
    audit.record(session, actor, "code.attempt", "referral_code", None, outcome="throttled")
    raise Throttled(f"{wrong} wrong codes in the last hour", notify=noticed == 0)
