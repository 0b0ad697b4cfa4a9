"""The monthly report: `GET /reports/monthly?month=YYYY-MM` (JSON) and
`GET /reports/monthly.csv?month=YYYY-MM` (UTF-8 with a byte-order mark, for
a spreadsheet): one row per district and site, then the total, then the
population groups; names, not ids."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from app.config import Settings
from app.domain import reports
from app.figure_schemas import MonthlyReportPublic, ReportRowPublic
from app.routes.csv_stream import CSV_RESPONSE, csv_response
from app.routes.deps import ReaderKey, SessionDep, SettingsDep

router = APIRouter(prefix="/reports", tags=["reports"])

Month = Annotated[str, Query(min_length=7, max_length=7, description="YYYY-MM, a local month")]


def row_public(line: reports.ReportLine | None, row: reports.Row) -> ReportRowPublic:
    return ReportRowPublic(
        district=line.district if line else "",
        site=line.site if line else "",
        clinic_id=line.clinic_id if line else None,
        population_group=line.population_group if line else None,
        redemption_rate=row.redemption_rate,
        median_days_to_redeem=row.median_days_to_redeem,
        **row.figures,
    )


def report_public(report: reports.MonthlyReport) -> MonthlyReportPublic:
    return MonthlyReportPublic(
        month=report.month,
        date_from=report.date_from,
        date_to=report.date_to,
        rows=[row_public(line, line.row) for line in report.lines],
        total=row_public(None, report.total),
        groups=[row_public(line, line.row) for line in report.groups],
    )


@router.get(
    "/monthly",
    summary="The monthly report",
    description="Every indicator per district and site, the month's total (unique counts over the whole "
    "month, never the sum of the rows) and the population groups; the rules are in the README (Reports).",
    response_model=MonthlyReportPublic,
)
def monthly(month: Month, session: SessionDep, settings: SettingsDep, key: ReaderKey):
    return monthly_public(session, settings, month)


def monthly_public(session: Session, settings: Settings, month: str) -> MonthlyReportPublic:
    """The report of `month` (YYYY-MM) as the API and the console show it.
    Raises reports.InvalidMonth, stats.InvalidPeriod."""
    return report_public(
        reports.monthly_report(
            session, month=month, tz=settings.tz, group_labels=settings.population_group_labels
        )
    )


CSV_COLUMNS = [
    "month", "row", "district", "site", "population_group", *reports.INDICATORS,
    "redemption_rate", "median_days_to_redeem",
]  # fmt: skip


@router.get(
    "/monthly.csv",
    summary="The monthly report as CSV",
    description="The JSON report's rows as a spreadsheet: UTF-8 with a byte-order mark, one line per "
    "district and site, then `total`, then one per population group.",
    response_class=StreamingResponse,
    responses=CSV_RESPONSE,
)
def monthly_csv(month: Month, request: Request, session: SessionDep, settings: SettingsDep, key: ReaderKey):
    return monthly_csv_response(request, session, settings, month)


def monthly_csv_response(
    request: Request, session: Session, settings: Settings, month: str
) -> StreamingResponse:
    """The CSV download of `month`'s report, the same for the API and the
    console. Raises reports.InvalidMonth, stats.InvalidPeriod (before any
    byte is sent)."""
    body = monthly_public(session, settings, month)
    lines = (
        [("site", row) for row in body.rows] + [("total", body.total)] + [("group", g) for g in body.groups]
    )
    rows = [{"month": body.month, "row": kind, **row.model_dump()} for kind, row in lines]
    return csv_response(request, f"hen-monthly-{body.month}.csv", CSV_COLUMNS, lambda _session: rows)
