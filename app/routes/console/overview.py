"""`/console/`: this month's indicators and the referral funnel; a clinic
user sees the figures of its own clinic."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from app import clock
from app.domain import reports
from app.domain.console_sessions import SignedIn
from app.messages import render
from app.models import ApiRole
from app.routes.console.pages import Current, language, page, signed_out
from app.routes.deps import SessionDep, SettingsDep

router = APIRouter(include_in_schema=False)


# what a clinic has none of: the workers' outreach and the program's opt-outs
PROGRAM_ONLY = (
    "people_reached",
    "condoms_distributed",
    "group_meetings",
    "group_meeting_participants",
    "opt_outs",
)
CHART_MONTHS = 6  # the chart: this month and the five before


def _figures(session: Session, settings, signed: SignedIn, first: date, last: date) -> dict[str, int]:
    """The indicators of `first`..`last`: the program's, or a clinic user's clinic's."""
    if signed.user.role == ApiRole.clinic:
        rows = reports.figures(session, date_from=first, date_to=last, tz=settings.tz, by="site")
        own = next((r for r in rows if r.key == f"c{signed.user.clinic_id}"), reports.Row(None))
        return own.figures
    [total] = reports.figures(session, date_from=first, date_to=last, tz=settings.tz)
    return total.figures


def _months_back(first: date, count: int) -> list[tuple[date, date]]:
    """(first day, last day) of the `count` months ending with `first`'s, oldest first."""
    months, start = [], first
    for _ in range(count):
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        months.append((start, following - timedelta(days=1)))
        start = (start - timedelta(days=1)).replace(day=1)
    return months[::-1]


def _chart(session: Session, settings, signed: SignedIn, today: date) -> list[dict]:
    """Codes issued and used per month, with bar lengths in percent of the largest."""
    bars = []
    for first, last in _months_back(today.replace(day=1), CHART_MONTHS):
        figures = _figures(session, settings, signed, first, min(last, today))
        bars.append(
            {"month": first.strftime("%m/%Y"), "issued": figures["codes_issued"], "used": figures["redeemed"]}
        )
    top = max([b["issued"] for b in bars] + [b["used"] for b in bars] + [1])
    for bar in bars:
        bar["issued_pct"], bar["used_pct"] = (round(100 * bar[k] / top) for k in ("issued", "used"))
    return bars


@router.get("/console/")
def overview(request: Request, session: SessionDep, settings: SettingsDep, signed: Current) -> Response:
    if signed is None:
        return signed_out()
    today = clock.now().astimezone(settings.tz).date()
    first = today.replace(day=1)
    figures = _figures(session, settings, signed, first, today)
    clinic_only = signed.user.role == ApiRole.clinic
    lang = language(request)
    shown = [
        (name, figures[name]) for name in reports.INDICATORS if not (clinic_only and name in PROGRAM_ONLY)
    ]
    funnel = [
        ("VCT", figures["referred_to_vct"], figures["went_to_vct"]),
        ("MMT", figures["referred_to_mmt"], figures["went_to_mmt"]),
        (render("console.service_all", lang), figures["codes_issued"], figures["redeemed"]),
    ]
    return page(
        request,
        "overview.html",
        signed=signed,
        date_from=first.strftime("%d/%m/%Y"),
        date_to=today.strftime("%d/%m/%Y"),
        figures=shown,
        funnel=funnel,
        clinic_only=clinic_only,
        chart=_chart(session, settings, signed, today),
    )
