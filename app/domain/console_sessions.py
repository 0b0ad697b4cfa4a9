"""Signed-in console sessions, kept in the database: the browser holds a
random token (cookie), the table only its SHA-256, with the session's form
token (CSRF) and its end. Signing out deletes the row, so a copied cookie
stops working at once; so does deactivating the user. Failed sign-ins are
throttled per email address, counted in the audit log (so the limit holds
across processes)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, select

from app import clock
from app.domain import audit, users
from app.domain.errors import DomainError
from app.models import AuditLog, ConsoleSession, StaffUser

LIFETIME = timedelta(hours=12)
FAILED_LIMIT = 5  # failed sign-ins for one email address ...
FAILED_WINDOW = timedelta(minutes=15)  # ... within this window


class SignInThrottled(DomainError):
    key = "console.sign_in_throttled"
    status = 429


@dataclass(frozen=True)
class SignedIn:
    user: StaffUser
    csrf: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def sign_in(session: Session, email: str, password: str) -> tuple[str, SignedIn] | None:
    """(the cookie's token, the session) for a right email and password,
    None otherwise (audited as a failed sign-in). Raises SignInThrottled
    after FAILED_LIMIT failures for the address in FAILED_WINDOW."""
    address = (email or "").strip().lower()[:254]
    actor = f"email:{address}"
    failures = session.exec(
        select(func.count())
        .select_from(AuditLog)
        .where(
            AuditLog.actor == actor,
            AuditLog.action == "user.sign_in_failed",
            AuditLog.at >= clock.now() - FAILED_WINDOW,
        )
    ).one()
    if failures >= FAILED_LIMIT:
        raise SignInThrottled("too many failed sign-ins for this address")
    user = users.authenticate(session, address, password)
    if user is None:
        audit.record(session, actor, "user.sign_in_failed", "staff_user", None)
        return None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=_hash(token),
            user_id=user.id,
            csrf=csrf,
            created_at=clock.now(),
            expires_at=clock.now() + LIFETIME,
        )
    )
    audit.record(session, audit.user_actor(user.email), "user.sign_in", "staff_user", user.id)
    return token, SignedIn(user, csrf)


def signed_in(session: Session, token: str | None) -> SignedIn | None:
    """The session of a cookie's token while it lasts and its user is active."""
    if not token or len(token) > 100:
        return None
    row = session.exec(select(ConsoleSession).where(ConsoleSession.token_hash == _hash(token))).first()
    if row is None or row.expires_at <= clock.now():
        return None
    user = session.get(StaffUser, row.user_id)
    if user is None or not user.active:
        return None
    return SignedIn(user, row.csrf)


def sign_out(session: Session, token: str | None, user: StaffUser | None = None) -> None:
    """End the session of `token` (nothing when there is none), audited
    as `user`'s sign-out when the session was theirs."""
    if token and len(token) <= 100:
        ended = session.exec(delete(ConsoleSession).where(ConsoleSession.token_hash == _hash(token))).rowcount
        if ended and user is not None:
            audit.record(session, audit.user_actor(user.email), "user.sign_out", "staff_user", user.id)


def csrf_matches(signed: SignedIn, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(signed.csrf, given)
