"""CSV exports: `GET /export/codes.csv`, `GET /export/redemptions.csv`.

UTF-8 with a header row, streamed: rows are fetched in batches (a
server-side cursor on PostgreSQL) by a session of their own that lives as
long as the response body, so nothing is loaded whole in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.domain import listings
from app.models import CodeState
from app.routes.codes import code_public, redemption_public
from app.routes.deps import MAX_ID, AnyKey, ReaderKey, SettingsDep, clinic_scope, sees_phones
from app.schemas import IsoDate

router = APIRouter(prefix="/export", tags=["export"])

CODE_COLUMNS = [
    "code", "display", "state", "service", "worker_id", "clinic_id", "client_phone", "channel",
    "issued_at", "expires_at", "voided_at", "redeemed_at", "redeemed_clinic_id",
]  # fmt: skip
REDEMPTION_COLUMNS = [
    "id", "code", "display", "service", "clinic_id", "worker_id", "issued_at", "redeemed_at", "channel", "actor",
]  # fmt: skip
CSV_RESPONSE = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV, UTF-8, header row"}
}


def _csv_lines(columns: list[str], rows: Iterable[dict]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for count, row in enumerate(rows, start=1):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        if count % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _stream(request: Request, filename: str, columns: list[str], rows: Callable[..., Iterable[dict]]):
    factory = request.app.state.session_factory

    def body() -> Iterator[bytes]:
        with factory() as session:
            yield from _csv_lines(columns, rows(session))

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/codes.csv",
    summary="Export codes as CSV",
    description="Same filters as `GET /codes`; client phones masked unless admin.",
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

    def rows(session):
        for row in codes(session):
            yield code_public(row, full_phone=full_phone).model_dump(mode="json")

    return _stream(request, "codes.csv", CODE_COLUMNS, rows)


@router.get(
    "/redemptions.csv",
    summary="Export redemptions as CSV",
    description="Same filters as `GET /redemptions`; a clinic key gets its own clinic's only.",
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

    def rows(session):
        for row in redemptions(session):
            yield redemption_public(row).model_dump(mode="json")

    return _stream(request, "redemptions.csv", REDEMPTION_COLUMNS, rows)
