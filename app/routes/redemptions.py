"""Redemptions: `GET /redemptions` (a clinic key sees its own clinic's only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.domain import listings
from app.routes.codes import redemption_public
from app.routes.deps import MAX_ID, AnyKey, PagingDep, SessionDep, SettingsDep, clinic_scope, sees_phones
from app.schemas import IsoDate, Page, RedemptionPublic

router = APIRouter(prefix="/redemptions", tags=["codes"])


@router.get(
    "",
    summary="List redemptions",
    description="Newest first; dates are the local days of redemption, both included. "
    "A clinic key sees its own clinic's redemptions only.",
    response_model=Page[RedemptionPublic],
)
def list_redemptions(
    session: SessionDep,
    settings: SettingsDep,
    key: AnyKey,
    page: PagingDep,
    clinic_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    worker_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    service: Annotated[str | None, Query(max_length=16)] = None,
    date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
):
    rows, total = listings.list_redemptions(
        session,
        tz=settings.tz,
        limit=page.limit,
        offset=page.offset,
        clinic_id=clinic_scope(key, clinic_id),
        worker_id=worker_id,
        service=service,
        date_from=date_from,
        date_to=date_to,
    )
    return Page(items=[redemption_public(r, full_phone=sees_phones(key)) for r in rows], total=total)
