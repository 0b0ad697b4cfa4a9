"""Console accounts: program staff and clinic desks who sign in with an
email and a password. Roles as for API keys (admin, clinic bound to one
clinic, viewer). Passwords are hashed with argon2 (`argon2-cffi`'s
defaults, the RFC 9106 low-memory profile); the plain password is never
stored or logged. Signing in checks a hash even for an unknown email, so
the answer takes as long whether the account exists or not."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlmodel import Session, select

from app import clock
from app.domain import audit
from app.domain.apikeys import bound_role
from app.domain.errors import DomainError, NotFound
from app.models import ConsoleSession, StaffUser

MIN_PASSWORD = 10
MAX_PASSWORD = 200
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_hasher = PasswordHasher()
_UNKNOWN = _hasher.hash("an account that does not exist")


class InvalidUser(DomainError):
    status = 422


class EmailTaken(DomainError):
    status = 409


class CannotDeactivateSelf(DomainError):
    """An admin deactivating their own account would lock themself out."""

    key = "console_admin.not_yourself"
    status = 409


def _email(text: str) -> str:
    email = (text or "").strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidUser(f"not an email address: {email[:60]!r}")
    return email


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise InvalidUser(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def create_user(
    session: Session,
    *,
    role: str,
    name: str,
    email: str,
    password: str,
    clinic_id: int | None = None,
    actor: str = "cli",
) -> StaffUser:
    """A new active account. Raises InvalidUser, EmailTaken, NotFound (clinic)."""
    name = " ".join((name or "").split())
    if not name or len(name) > 120:
        raise InvalidUser("a user needs a name of at most 120 characters")
    address = _email(email)
    _check_password(password)
    api_role = bound_role(session, role, clinic_id, holder="user", error=InvalidUser)
    if session.exec(select(StaffUser.id).where(StaffUser.email == address)).first() is not None:
        raise EmailTaken(f"a user with {address} exists already")
    user = StaffUser(
        email=address,
        name=name,
        role=api_role,
        clinic_id=clinic_id,
        password_hash=_hasher.hash(password),
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    audit.record(
        session, actor, "user.create", "staff_user", user.id, role=api_role.value, clinic_id=clinic_id
    )
    return user


def authenticate(session: Session, email: str, password: str) -> StaffUser | None:
    """The active account of `email` when `password` is its password, else
    None (unknown email, wrong password, deactivated account alike). Notes
    the sign-in time and rehashes a hash made with older parameters."""
    address = (email or "").strip().lower()[:254]
    user = session.exec(select(StaffUser).where(StaffUser.email == address)).first()
    try:
        _hasher.verify(user.password_hash if user else _UNKNOWN, (password or "")[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_sign_in_at = clock.now()
    session.add(user)
    return user


def _user(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def list_users(session: Session) -> list[StaffUser]:
    """Every account, active or not, in the order they were made."""
    return list(session.exec(select(StaffUser).order_by(StaffUser.id)).all())


def _end_sessions(session: Session, user_id: int) -> None:
    """Sign the user out everywhere: their console sessions are deleted."""
    session.exec(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))


def set_password(session: Session, user_id: int, password: str, *, actor: str) -> StaffUser:
    """Replace a user's password (a reset by an admin) and end the user's
    console sessions, so whoever held the old password is signed out.
    Raises NotFound, InvalidUser."""
    user = _user(session, user_id)
    _check_password(password)
    user.password_hash = _hasher.hash(password)
    session.add(user)
    _end_sessions(session, user.id)
    audit.record(session, actor, "user.password", "staff_user", user.id)
    return user


def set_active(
    session: Session, user_id: int, active: bool, *, actor: str, by_user_id: int | None = None
) -> StaffUser:
    """Deactivate (or reactivate) a user: a deactivated user cannot sign in
    and their console sessions end. `by_user_id` is the account making the
    change, when it is one. Raises NotFound, CannotDeactivateSelf."""
    user = _user(session, user_id)
    if not active and by_user_id is not None and by_user_id == user.id:
        raise CannotDeactivateSelf("you cannot deactivate your own account")
    user.active = active
    session.add(user)
    if not active:
        _end_sessions(session, user.id)
    audit.record(session, actor, "user.activate" if active else "user.deactivate", "staff_user", user.id)
    return user
