"""Clinics, with the services they offer and their staff phones:
`GET|POST /clinics`, `GET|PATCH /clinics/{id}`."""

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
from app.schemas import ClinicCreate, ClinicPublic, ClinicUpdate, ClinicUpdated, Page, StaffPublic

router = APIRouter(prefix="/clinics", tags=["clinics"])


def _public(view: registry.ClinicView) -> ClinicPublic:
    return ClinicPublic(
        **view.clinic.model_dump(exclude={"services", "staff"}),
        services=view.services,
        staff=[StaffPublic.model_validate(s, from_attributes=True) for s in view.staff],
    )


@router.get("", summary="List clinics", response_model=Page[ClinicPublic])
def list_clinics(
    session: SessionDep,
    key: ReaderKey,
    page: PagingDep,
    active: bool | None = None,
    district: Annotated[str | None, Query(max_length=80)] = None,
):
    views, total = registry.list_clinics(
        session, active=active, district=district, limit=page.limit, offset=page.offset
    )
    return Page(items=[_public(v) for v in views], total=total)


@router.post(
    "",
    summary="Create a clinic",
    description="With the codes of the services it offers and the staff phones that redeem by SMS or USSD. "
    "An active worker's phone as staff is a 409. `display_name`, `district`, `address` and `hours` are what "
    "clients read: naming HIV, AIDS, drugs, methadone, testing, PrEP or a result is a 422 (also on PATCH).",
    status_code=status.HTTP_201_CREATED,
    response_model=ClinicPublic,
    responses=CONFLICT,
)
def create_clinic(body: ClinicCreate, session: SessionDep, settings: SettingsDep, key: AdminKey):
    view = registry.create_clinic(
        session, actor=actor_of(key), region=settings.default_region, **body.model_dump()
    )
    session.commit()
    return _public(view)


@router.get("/{clinic_id}", summary="Show a clinic", response_model=ClinicPublic, responses=NOT_FOUND)
def show_clinic(clinic_id: IdPath, session: SessionDep, key: ReaderKey):
    return _public(registry.get_clinic(session, clinic_id))


@router.patch(
    "/{clinic_id}",
    summary="Update or deactivate a clinic",
    description=(
        "Only the fields sent change; `services` replaces the offered services. Staff: `add_staff` adds (or "
        "reactivates) the phones it lists and `remove_staff` deactivates the phones it lists, the others are "
        "kept; `staff` is the whole list, every active phone not in it is deactivated. The answer lists the "
        "staff phones added and removed (`staff_added`, `staff_removed`), and so does the audit log. "
        "A phone is either a worker's or a clinic's: an active worker's phone as staff is a 409. "
        "`active: false` deactivates: the clinic no longer shows in CLINIC and cannot redeem."
    ),
    response_model=ClinicUpdated,
    responses={**NOT_FOUND, **CONFLICT},
)
def update_clinic(
    clinic_id: IdPath, body: ClinicUpdate, session: SessionDep, settings: SettingsDep, key: AdminKey
):
    change = registry.update_clinic(
        session, clinic_id, actor=actor_of(key), region=settings.default_region, **body.changes()
    )
    session.commit()
    return ClinicUpdated(
        **_public(change.view).model_dump(),
        staff_added=change.staff_added,
        staff_removed=change.staff_removed,
    )
