"""API keys: created from the command line, stored as a SHA-256 hash only.
A key is `hen_` + 32 random URL-safe characters; 190 bits of entropy make a
plain (unsalted) hash safe to look up."""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, select

from app import clock
from app.domain import audit, clinics
from app.domain.errors import DomainError, NotFound
from app.models import ApiKey, ApiRole

KEY_PREFIX = "hen_"


class InvalidApiKeyRequest(DomainError):
    status = 422


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(
    session: Session, *, role: str, name: str, clinic_id: int | None = None, actor: str = "cli"
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the only copy of the plain key."""
    try:
        api_role = ApiRole(role)
    except ValueError:
        raise InvalidApiKeyRequest(f"unknown role {role!r}: use admin, clinic or viewer") from None
    name = (name or "").strip()
    if not name:
        raise InvalidApiKeyRequest("a key needs a name")
    if api_role is ApiRole.clinic:
        if clinic_id is None:
            raise InvalidApiKeyRequest("a clinic key needs --clinic ID")
        if clinics.clinic_by_id(session, clinic_id) is None:
            raise NotFound(f"clinic {clinic_id} not found")
    elif clinic_id is not None:
        raise InvalidApiKeyRequest("only a clinic key is bound to a clinic")
    plain = KEY_PREFIX + secrets.token_urlsafe(24)
    row = ApiKey(
        name=name,
        role=api_role,
        clinic_id=clinic_id,
        prefix=plain[: len(KEY_PREFIX) + 4],
        key_hash=hash_key(plain),
        created_at=clock.now(),
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
    )
    return row, plain


def find_api_key(session: Session, plain: str) -> ApiKey | None:
    """The active key matching `plain`, or None."""
    if not plain or not plain.startswith(KEY_PREFIX) or len(plain) > 100:
        return None
    row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(plain))).first()
    if row is None or not row.active:
        return None
    return row
