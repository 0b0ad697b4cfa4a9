"""API keys: created, listed, rotated and revoked from the command line or
by an admin key; stored as a SHA-256 hash only. A key is `hen_` + 32
random URL-safe characters; 190 bits of entropy make a plain (unsalted)
hash safe to look up.

A key works while it is active (not revoked), before its `expires_at`
(when it has one) and, for a clinic key, while its clinic is active. Names
are unique, so the audit actor `key:<name>` names one key. `last_used_at`
is written at most once a minute per key."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, select

from app import clock
from app.domain import audit, clinics
from app.domain.errors import DomainError, NotFound
from app.models import ApiKey, ApiRole

KEY_PREFIX = "hen_"
MAX_DAYS = 3650  # the longest a key may be made to last
TOUCH_EVERY = timedelta(minutes=1)


class InvalidApiKeyRequest(DomainError):
    status = 422


class ApiKeyRevoked(DomainError):
    status = 409


class ApiKeyNameTaken(DomainError):
    status = 409


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _expiry(expires_in_days: int | None, now: datetime) -> datetime | None:
    if expires_in_days is None:
        return None
    if not 1 <= expires_in_days <= MAX_DAYS:
        raise InvalidApiKeyRequest(f"expires_in_days must be between 1 and {MAX_DAYS}")
    return now + timedelta(days=expires_in_days)


def bound_role(
    session: Session, role: str, clinic_id: int | None, *, holder: str, error: type[DomainError]
) -> ApiRole:
    """The role of a key or a console user (`holder`): admin, viewer, or
    clinic bound to an existing clinic, and only a clinic role bound to
    one. Raises `error` or NotFound (the clinic)."""
    try:
        api_role = ApiRole(role)
    except ValueError:
        raise error(f"unknown role {role!r}: use admin, clinic or viewer") from None
    if api_role is ApiRole.clinic:
        if clinic_id is None:
            raise error(f"a clinic {holder} needs a clinic (--clinic ID)")
        if clinics.clinic_by_id(session, clinic_id) is None:
            raise NotFound(f"clinic {clinic_id} not found")
    elif clinic_id is not None:
        raise error(f"only a clinic {holder} is bound to a clinic")
    return api_role


def create_api_key(
    session: Session,
    *,
    role: str,
    name: str,
    clinic_id: int | None = None,
    expires_in_days: int | None = None,
    actor: str = "cli",
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the only copy of the plain key.
    Raises InvalidApiKeyRequest, NotFound (clinic), ApiKeyNameTaken."""
    api_role = bound_role(session, role, clinic_id, holder="key", error=InvalidApiKeyRequest)
    name = " ".join((name or "").split())
    if not name:
        raise InvalidApiKeyRequest("a key needs a name")
    if len(name) > 120:
        raise InvalidApiKeyRequest("a key's name is at most 120 characters")
    if session.exec(select(ApiKey.id).where(ApiKey.name == name)).first() is not None:
        raise ApiKeyNameTaken(f"a key named {name!r} exists already: choose another name")
    now = clock.now()
    plain = KEY_PREFIX + secrets.token_urlsafe(24)
    row = ApiKey(
        name=name,
        role=api_role,
        clinic_id=clinic_id,
        prefix=plain[: len(KEY_PREFIX) + 4],
        key_hash=hash_key(plain),
        created_at=now,
        expires_at=_expiry(expires_in_days, now),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "apikey.create",
        "api_key",
        row.id,
        name=name,
        role=api_role.value,
        clinic_id=clinic_id,
        expires_at=row.expires_at.isoformat() if row.expires_at else None,
    )
    return row, plain


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every key, newest first (revoked ones too: the audit names them)."""
    return list(session.exec(select(ApiKey).order_by(ApiKey.id.desc())).all())


def get_api_key(session: Session, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}")
    return row


def key_id_of(session: Session, typed: str) -> int:
    """The id of the key named by `typed`: its id (digits) or its name.
    Raises NotFound."""
    typed = " ".join(typed.split())
    if typed.isdigit():
        return get_api_key(session, int(typed)).id
    key_id = session.exec(select(ApiKey.id).where(ApiKey.name == typed)).first()
    if key_id is None:
        raise NotFound(f"no API key named {typed!r}")
    return key_id


def revoke_api_key(session: Session, key_id: int, *, actor: str) -> ApiKey:
    """Revoke a key at once. Raises NotFound, ApiKeyRevoked (already)."""
    row = get_api_key(session, key_id)
    if not row.active:
        raise ApiKeyRevoked(f"API key {key_id} ({row.name}) is revoked already")
    row.active = False
    row.revoked_at = clock.now()
    session.add(row)
    session.flush()
    audit.record(session, actor, "apikey.revoke", "api_key", row.id, name=row.name)
    return row


def rotate_api_key(
    session: Session, key_id: int, *, actor: str, expires_in_days: int | None = None
) -> tuple[ApiKey, str]:
    """Revoke a key and make its successor with the same role and clinic;
    the old name gets ` (old #id)` so the new key keeps the name. Returns
    the new row and its only plain copy."""
    old = revoke_api_key(session, key_id, actor=actor)
    name = old.name
    old.name = f"{name[:100]} (old #{old.id})"
    session.add(old)
    session.flush()
    new, plain = create_api_key(
        session,
        role=old.role,
        name=name,
        clinic_id=old.clinic_id,
        expires_in_days=expires_in_days,
        actor=actor,
    )
    audit.record(session, actor, "apikey.rotate", "api_key", new.id, replaces=old.id)
    return new, plain


def usable(session: Session, row: ApiKey, now: datetime) -> bool:
    """Whether `row` may be used at `now` (see the module docstring)."""
    if not row.active or (row.expires_at is not None and row.expires_at <= now):
        return False
    if row.role == ApiRole.clinic:
        clinic = clinics.clinic_by_id(session, row.clinic_id)
        return clinic is not None and clinic.active
    return True


def find_api_key(session: Session, plain: str) -> ApiKey | None:
    """The usable key matching `plain`, or None. Notes the use on the row
    (`last_used_at`, at most once a minute): the session is then dirty and
    the caller commits."""
    if not plain or not plain.startswith(KEY_PREFIX) or len(plain) > 100:
        return None
    row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(plain))).first()
    now = clock.now()
    if row is None or not usable(session, row, now):
        return None
    if row.last_used_at is None or row.last_used_at <= now - TOUCH_EVERY:
        row.last_used_at = now
        session.add(row)
    return row
