"""Audit log: every change and every redemption attempt, who, what, when."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app import clock
from app.domain.phones import mask_phone
from app.models import AuditLog


def record(
    session: Session,
    actor: str,
    action: str,
    entity: str = "",
    entity_id: Any = None,
    **detail: Any,
) -> AuditLog:
    """Add one audit row to the caller's transaction (so it commits, or rolls
    back, with the change it describes)."""
    row = AuditLog(
        at=clock.now(),
        actor=actor[:120],
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        detail={k: v for k, v in detail.items() if v is not None},
    )
    session.add(row)
    return row


def phone_actor(phone: str) -> str:
    return f"phone:{phone}"


def masked_actor(actor: str | None) -> str | None:
    """`actor` as a reader who sees no whole phone reads it: a desk's or a
    worker's `phone:+8491****678`; keys, users and the system as they are."""
    if actor and actor.startswith("phone:"):
        return phone_actor(mask_phone(actor.removeprefix("phone:")))
    return actor


def user_actor(email: str) -> str:
    """How a console user appears in the audit log."""
    return f"user:{email}"
