"""`/console/reports?month=YYYY-MM` (by default the last full month): the
monthly report as tables (per district and site, the total, the population
groups) and its downloads, served with the console's session: the monthly
CSV, the month's codes and redemptions CSV exports, the DHIS2 dataValueSet.

Each answer is the API's own: the same functions build the report, the CSV
files and the DHIS2 payload (`app/routes/reports.py`, `export.py`,
`dhis2.py`), and the same roles read them: admin and viewer, and for the
redemptions CSV also a clinic user, who gets its own clinic's only."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app import clock
from app.domain import reports, stats
from app.domain.console_sessions import SignedIn
from app.messages import render
from app.models import ApiRole
from app.routes import export
from app.routes.console.pages import READERS, Current, language, page, reading
from app.routes.deps import SessionDep, SettingsDep
from app.routes.dhis2 import data_value_set_public
from app.routes.reports import monthly_csv_response, monthly_public

router = APIRouter(include_in_schema=False)

REDEMPTION_READERS = (*READERS, ApiRole.clinic)  # /export/redemptions.csv (AnyKey, clinic-scoped)


def _month(day: date) -> str:
    return day.strftime("%Y-%m")


def _today(settings) -> date:
    return clock.now().astimezone(settings.tz).date()


def _asked(month: str | None, settings) -> str:
    """The month asked, or the last full month."""
    return month or _month(_today(settings).replace(day=1) - timedelta(days=1))


def _number(value: float | None, lang: str, *, percent: bool = False) -> str:
    if value is None:
        return "–"
    text = f"{value * 100:.1f} %" if percent else f"{value:g}"
    return text if lang == "en" else text.replace(".", ",")


def _lines(rows, lang: str) -> list[dict]:
    return [
        {
            "district": row.district,
            "site": row.site,
            "group": row.population_group,
            "figures": [(name, getattr(row, name)) for name in reports.INDICATORS],
            "rate": _number(row.redemption_rate, lang, percent=True),
            "median": _number(row.median_days_to_redeem, lang),
        }
        for row in rows
    ]


def _bad_month(request: Request, signed: SignedIn, month: str, *, settings) -> Response:
    """The reports page, or for a clinic user a plain page, saying that
    `month` has no report."""
    message = render("console_logs.bad_month", language(request), month=month[:20])
    if signed.user.role not in READERS:
        return page(request, "refused.html", 422, signed=signed, message=message)
    return _page(request, signed, settings, month, report=None, error=message, status=422)


def _page(request: Request, signed: SignedIn, settings, month: str, *, report, error="", status=200):
    today, lang = _today(settings), language(request)
    values = {"month": month[:20], "this_month": _month(today), "error": error}
    if report is not None:
        previous = report.date_from - timedelta(days=1)
        values |= {
            "report": report,
            "lines": _lines(report.rows, lang),
            "total": _lines([report.total], lang)[0],
            "groups": _lines(report.groups, lang),
            "indicators": reports.INDICATORS,
            "shown": report.date_from.strftime("%m/%Y"),
            "date_from": report.date_from.strftime("%d/%m/%Y"),
            "date_to": report.date_to.strftime("%d/%m/%Y"),
            "previous": _month(previous),
            "period": report.month.replace("-", ""),
            "dhis2_on": request.app.state.dhis2_mapping is not None,
        }
    return page(request, "reports.html", status, signed=signed, **values)


@router.get("/console/reports")
def reports_page(
    request: Request, session: SessionDep, settings: SettingsDep, signed: Current, month: str | None = None
) -> Response:
    if (gate := reading(request, signed, READERS)) is not None:
        return gate
    month = _asked(month, settings)
    try:
        report = monthly_public(session, settings, month)
    except stats.InvalidPeriod:
        return _bad_month(request, signed, month, settings=settings)
    return _page(request, signed, settings, month, report=report)


@router.get("/console/reports/monthly.csv")
def monthly_csv(
    request: Request, session: SessionDep, settings: SettingsDep, signed: Current, month: str | None = None
) -> Response:
    if (gate := reading(request, signed, READERS)) is not None:
        return gate
    month = _asked(month, settings)
    try:
        return monthly_csv_response(request, session, settings, month)
    except stats.InvalidPeriod:
        return _bad_month(request, signed, month, settings=settings)


def _month_export(request: Request, signed, settings, month: str | None, roles, export_month) -> Response:
    """A CSV export of the API for one local month: `export_month(first,
    last)` answers it; a bad month is the page saying so. The export routes
    read of their caller only its role and clinic (`sees_phones`,
    `clinic_scope`), which a console user has as a key does."""
    if (gate := reading(request, signed, roles)) is not None:
        return gate
    month = _asked(month, settings)
    try:
        first, last = reports.month_period(month, _today(settings))
        return export_month(first, last)
    except stats.InvalidPeriod:
        return _bad_month(request, signed, month, settings=settings)


@router.get("/console/reports/codes.csv")
def codes_csv(request: Request, settings: SettingsDep, signed: Current, month: str | None = None) -> Response:
    return _month_export(
        request, signed, settings, month, READERS,
        lambda first, last: export.export_codes(
            request, settings, signed.user, state=None, service=None, worker_id=None, clinic_id=None,
            issued_from=first, issued_to=last,
        ),
    )  # fmt: skip


@router.get("/console/reports/redemptions.csv")
def redemptions_csv(
    request: Request, settings: SettingsDep, signed: Current, month: str | None = None
) -> Response:
    return _month_export(
        request, signed, settings, month, REDEMPTION_READERS,
        lambda first, last: export.export_redemptions(
            request, settings, signed.user, clinic_id=None, worker_id=None, service=None,
            date_from=first, date_to=last,
        ),
    )  # fmt: skip


@router.get("/console/reports/coupons.csv")
def coupons_csv(
    request: Request, session: SessionDep, settings: SettingsDep, signed: Current, month: str | None = None
) -> Response:
    """The peer coupons per recruiter of the month (`GET /api/v1/export/coupons.csv`), for incentives."""
    return _month_export(
        request, signed, settings, month, READERS,
        lambda first, last: export.export_coupons(
            request, session, settings, signed.user, date_from=first, date_to=last
        ),
    )  # fmt: skip


@router.get("/console/reports/dhis2.json")
def dhis2_json(
    request: Request, session: SessionDep, settings: SettingsDep, signed: Current, period: str | None = None
) -> Response:
    """The body of `GET /api/v1/export/dhis2`; its refusals (export off,
    bad period, incomplete mapping) answer as the API's do."""
    if (gate := reading(request, signed, READERS)) is not None:
        return gate
    period = period or _asked(None, settings).replace("-", "")
    payload = data_value_set_public(request, session, settings, period)
    return JSONResponse(
        payload.model_dump(mode="json", exclude_none=True),
        headers={"Content-Disposition": f'attachment; filename="hen-dhis2-{period}.json"'},
    )
