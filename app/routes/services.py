"""Services: `GET|POST /services`, `GET|PATCH /services/{id}`."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.domain import registry
from app.routes.deps import CONFLICT, NOT_FOUND, AdminKey, IdPath, PagingDep, ReaderKey, SessionDep, actor_of
from app.schemas import Page, ServiceCreate, ServicePublic, ServiceUpdate

router = APIRouter(prefix="/services", tags=["services"])


@router.get("", summary="List services", response_model=Page[ServicePublic])
def list_services(session: SessionDep, key: ReaderKey, page: PagingDep, active: bool | None = None):
    rows, total = registry.list_services(session, active=active, limit=page.limit, offset=page.offset)
    return Page(items=[ServicePublic.model_validate(r, from_attributes=True) for r in rows], total=total)


@router.post(
    "",
    summary="Create a service",
    description="`display_name` is what clients read: naming HIV, AIDS, drugs, methadone, testing, PrEP or a "
    "result is a 422. The `code` and internal `name` are for staff and not checked.",
    status_code=status.HTTP_201_CREATED,
    response_model=ServicePublic,
    responses=CONFLICT,
)
def create_service(body: ServiceCreate, session: SessionDep, key: AdminKey):
    row = registry.create_service(session, actor=actor_of(key), **body.model_dump())
    session.commit()
    return ServicePublic.model_validate(row, from_attributes=True)


@router.get("/{service_id}", summary="Show a service", response_model=ServicePublic, responses=NOT_FOUND)
def show_service(service_id: IdPath, session: SessionDep, key: ReaderKey):
    return ServicePublic.model_validate(registry.get_service(session, service_id), from_attributes=True)


@router.patch(
    "/{service_id}",
    summary="Update or deactivate a service",
    description="Only the fields sent change; `active: false` deactivates (no new codes for it). "
    "`display_name` is checked as on create.",
    response_model=ServicePublic,
    responses=NOT_FOUND,
)
def update_service(service_id: IdPath, body: ServiceUpdate, session: SessionDep, key: AdminKey):
    row = registry.update_service(session, service_id, actor=actor_of(key), **body.changes())
    session.commit()
    return ServicePublic.model_validate(row, from_attributes=True)
