"""CSV exports: `GET /export/codes.csv`, `GET /export/redemptions.csv`,
`GET /export/coupons.csv` (peer coupons per recruiter, for incentives).

For a spreadsheet as much as for an integration: the ids and UTC instants
integrations read, and beside them the staff-facing names, the code's
district and the program's local times. Written by `csv_stream` (BOM,
header, CRLF), streamed from batches of rows that join the names in SQL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.domain import chains, listings
from app.domain.phones import mask_phone
from app.models import CodeState
from app.routes.codes import code_public, redemption_public
from app.routes.csv_stream import CSV_RESPONSE, csv_response, local_time
from app.routes.deps import MAX_ID, AnyKey, ReaderKey, SessionDep, SettingsDep, clinic_scope, sees_phones
from app.schemas import IsoDate

router = APIRouter(prefix="/export", tags=["export"])

CODE_COLUMNS = [
    "code", "display", "state", "service", "service_name", "worker_id", "worker_name",
    "clinic_id", "clinic_name", "client_phone", "channel", "population_group",
    "issued_at", "issued_local", "expires_at", "expires_local", "voided_at", "voided_local",
    "redeemed_at", "redeemed_local", "redeemed_clinic_id", "redeemed_clinic_name", "district",
]  # fmt: skip
REDEMPTION_COLUMNS = [
    "id", "code", "display", "service", "service_name", "clinic_id", "clinic_name",
    "referred_clinic_id", "referred_clinic_name", "worker_id", "worker_name", "district", "population_group",
    "issued_at", "issued_local", "redeemed_at", "redeemed_local", "channel", "actor",
]  # fmt: skip
COUPON_COLUMNS = ["recruiter_phone", "worker_id", "worker_name", "coupons_given", "coupons_returned"]
NAMES_NOTE = (
    " Beside the ids: internal names of service, clinics and worker, the code's district (the "
    "redeeming clinic's, else the referred clinic's, else the worker's) and `*_local` times in "
    "the program's time zone. UTF-8 with a byte-order mark."
)


@router.get(
    "/codes.csv",
    summary="Export codes as CSV",
    description="Same filters as `GET /codes`; client phones masked unless admin." + NAMES_NOTE,
    response_class=StreamingResponse,
    responses=CSV_RESPONSE,
)
def export_codes(
    request: Request,
    settings: SettingsDep,
    key: ReaderKey,
    state: CodeState | None = None,
    service: Annotated[str | None, Query(max_length=16)] = None,
    worker_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    clinic_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    issued_from: IsoDate | None = None,
    issued_to: IsoDate | None = None,
):
    full_phone = sees_phones(key)
    filters = dict(
        state=state, service=service, worker_id=worker_id, clinic_id=clinic_id,
        issued_from=issued_from, issued_to=issued_to,
    )  # fmt: skip

    codes = listings.codes_export(tz=settings.tz, **filters)
    tz = settings.tz

    def rows(session):
        for row in codes(session):
            c, names = row.code, row.names
            public = code_public(row, full_phone=full_phone)
            yield public.model_dump(mode="json") | {
                "service_name": names.service_name,
                "worker_name": names.worker_name,
                "clinic_name": names.clinic_name,
                "population_group": c.population_group,
                "issued_local": local_time(c.issued_at, tz),
                "expires_local": local_time(c.expires_at, tz),
                "voided_local": local_time(c.voided_at, tz),
                "redeemed_local": local_time(public.redeemed_at, tz),
                "redeemed_clinic_name": names.redeemed_clinic_name,
                "district": names.district,
            }

    return csv_response(request, "codes.csv", CODE_COLUMNS, rows)


@router.get(
    "/redemptions.csv",
    summary="Export redemptions as CSV",
    description="Same filters as `GET /redemptions`; a clinic key gets its own clinic's only." + NAMES_NOTE,
    response_class=StreamingResponse,
    responses=CSV_RESPONSE,
)
def export_redemptions(
    request: Request,
    settings: SettingsDep,
    key: AnyKey,
    clinic_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    worker_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    service: Annotated[str | None, Query(max_length=16)] = None,
    date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
):
    filters = dict(
        clinic_id=clinic_scope(key, clinic_id), worker_id=worker_id, service=service,
        date_from=date_from, date_to=date_to,
    )  # fmt: skip

    redemptions = listings.redemptions_export(tz=settings.tz, **filters)
    tz, full_phone = settings.tz, sees_phones(key)

    def rows(session):
        for row in redemptions(session):
            r, c, names = row.redemption, row.code, row.names
            yield redemption_public(row, full_phone=full_phone).model_dump(mode="json") | {
                "service_name": names.service_name,
                "clinic_name": names.redeemed_clinic_name,
                "referred_clinic_id": c.clinic_id,
                "referred_clinic_name": names.clinic_name,
                "worker_name": names.worker_name,
                "district": names.district,
                "population_group": c.population_group,
                "issued_local": local_time(c.issued_at, tz),
                "redeemed_local": local_time(r.redeemed_at, tz),
            }

    return csv_response(request, "redemptions.csv", REDEMPTION_COLUMNS, rows)


@router.get(
    "/coupons.csv",
    summary="Export peer coupons per recruiter as CSV",
    description="For incentive payments: per recruiter (the client who passed the coupons on; phone masked "
    "unless admin) and the worker whose chain it is, the coupons given and those returned (redeemed) in the "
    "period, each counted in the period it happened. UTF-8 with a byte-order mark.",
    response_class=StreamingResponse,
    responses=CSV_RESPONSE,
)
def export_coupons(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    key: ReaderKey,
    date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
):
    full_phone = sees_phones(key)
    # a few rows per recruiter: computed before the body starts, so a wrong period is a 422
    found = chains.recruiter_figures(session, date_from=date_from, date_to=date_to, tz=settings.tz)
    rows = [
        {
            "recruiter_phone": row.phone if full_phone else mask_phone(row.phone),
            "worker_id": row.worker_id,
            "worker_name": row.worker_name,
            "coupons_given": row.coupons_given,
            "coupons_returned": row.coupons_returned,
        }
        for row in found
    ]
    return csv_response(request, "coupons.csv", COUPON_COLUMNS, lambda _session: rows)
