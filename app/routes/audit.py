"""The audit log: `GET /audit` (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.domain import listings
from app.routes.deps import AdminKey, PagingDep, SessionDep
from app.schemas import AuditPublic, Page

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get(
    "",
    summary="The audit log",
    description="Every change and every redemption attempt: who (actor), what (action, entity, detail), when.",
    response_model=Page[AuditPublic],
)
def list_audit(
    session: SessionDep,
    key: AdminKey,
    page: PagingDep,
    actor: Annotated[str | None, Query(max_length=120)] = None,
    action: Annotated[str | None, Query(max_length=48)] = None,
    entity: Annotated[str | None, Query(max_length=32)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
):
    rows, total = listings.list_audit(
        session,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(items=[AuditPublic.model_validate(r, from_attributes=True) for r in rows], total=total)
