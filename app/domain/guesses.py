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
