"""Outreach workers: `GET|POST /workers`, `GET|PATCH /workers/{id}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.domain import registry
from app.routes.deps import (
    CONFLICT,
    NOT_FOUND,
    AdminKey,
    IdPath,
    PagingDep,
    ReaderKey,
    SessionDep,
    SettingsDep,
    actor_of,
)
from app.schemas import Page, WorkerCreate, WorkerPublic, WorkerUpdate

router = APIRouter(prefix="/workers", tags=["workers"])


@router.get("", summary="List outreach workers", response_model=Page[WorkerPublic])
def list_workers(
    session: SessionDep,
    key: ReaderKey,
    page: PagingDep,
    active: bool | None = None,
    district: Annotated[str | None, Query(max_length=80)] = None,
):
    rows, total = registry.list_workers(
        session, active=active, district=district, limit=page.limit, offset=page.offset
    )
    return Page(items=[WorkerPublic.model_validate(r, from_attributes=True) for r in rows], total=total)


@router.post(
    "",
    summary="Register an outreach worker",
    description="A phone is either a worker's or a clinic's: another worker's or an active clinic staff phone "
    "is a 409.",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkerPublic,
    responses=CONFLICT,
)
def create_worker(body: WorkerCreate, session: SessionDep, settings: SettingsDep, key: AdminKey):
    row = registry.create_worker(
        session, actor=actor_of(key), region=settings.default_region, **body.model_dump()
    )
    session.commit()
    return WorkerPublic.model_validate(row, from_attributes=True)


@router.get("/{worker_id}", summary="Show a worker", response_model=WorkerPublic, responses=NOT_FOUND)
def show_worker(worker_id: IdPath, session: SessionDep, key: ReaderKey):
    return WorkerPublic.model_validate(registry.get_worker(session, worker_id), from_attributes=True)


@router.patch(
    "/{worker_id}",
    summary="Update or deactivate a worker",
    description="Only the fields sent change; `active: false` deactivates (the phone can no longer issue codes). "
    "Moving to, or reactivating on, another worker's or an active clinic staff phone is a 409.",
    response_model=WorkerPublic,
    responses={**NOT_FOUND, **CONFLICT},
)
def update_worker(
    worker_id: IdPath, body: WorkerUpdate, session: SessionDep, settings: SettingsDep, key: AdminKey
):
    row = registry.update_worker(
        session, worker_id, actor=actor_of(key), region=settings.default_region, **body.changes()
    )
    session.commit()
    return WorkerPublic.model_validate(row, from_attributes=True)
