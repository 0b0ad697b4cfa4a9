"""The DHIS2 export: `GET /export/dhis2?period=YYYYMM`, the month's figures
as a DHIS2 `dataValueSet` (the body `hen dhis2 push` posts to
`/api/dataValueSets`), built with the mapping file `DHIS2_MAPPING`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session

from app.config import Settings
from app.domain import dhis2
from app.routes.deps import ReaderKey, SessionDep, SettingsDep
from app.schemas import ErrorDetail

router = APIRouter(prefix="/export", tags=["export"])

Period = Annotated[
    str, Query(min_length=6, max_length=6, description="the month as DHIS2 writes it, YYYYMM, e.g. 202611")
]


class DataValuePublic(BaseModel):
    dataElement: str
    categoryOptionCombo: str | None = Field(None, description="absent: DHIS2's default combination")
    orgUnit: str
    value: str = Field(description="the figure, a whole number written as a string")


class DataValueSetPublic(BaseModel):
    dataSet: str
    period: str = Field(description="YYYYMM")
    dataValues: list[DataValuePublic]


@router.get(
    "/dhis2",
    summary="The month's figures as a DHIS2 dataValueSet",
    description="Every mapped indicator for every mapped organisation unit (zeros included), the same "
    "figures as the monthly report: a clinic's row to the clinic, a district's own row (outreach, codes "
    "without a clinic) to the district; with districts only mapped, each district's row. The mapping and "
    "its format are in the README (DHIS2).",
    response_model=DataValueSetPublic,
    response_model_exclude_none=True,
    responses={
        404: {"model": ErrorDetail, "description": "the DHIS2 export is off: DHIS2_MAPPING is not set"},
        409: {
            "model": ErrorDetail,
            "description": "the mapping gives no organisation unit to a clinic or district with figures "
            "(one line each), or names a clinic the database does not have",
        },
    },
)
def dhis2_export(
    period: Period, request: Request, session: SessionDep, settings: SettingsDep, key: ReaderKey
):
    return data_value_set_public(request, session, settings, period)


def data_value_set_public(
    request: Request, session: Session, settings: Settings, period: str
) -> DataValueSetPublic:
    """The dataValueSet of `period` (YYYYMM) as the API and the console
    serve it. Raises dhis2.ExportOff (no mapping), reports.InvalidMonth,
    dhis2.MappingIncomplete."""
    return DataValueSetPublic.model_validate(
        dhis2.data_value_set(session, mapping=request.app.state.dhis2_mapping, period=period, tz=settings.tz)
    )
