"""Audit log: every change and every redemption attempt, who, what, when."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app import clock
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


def user_actor(email: str) -> str:
    """How a console user appears in the audit log."""
    return f"user:{email}"
