"""`/console/`: this month's indicators and the referral funnel; a clinic
user sees the figures of its own clinic."""

from __future__ import annotations

from datetime import date

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


def _month_figures(session: Session, settings, signed: SignedIn) -> tuple[date, date, dict[str, int], bool]:
    """This local month so far: the program's figures, or a clinic user's clinic."""
    today = clock.now().astimezone(settings.tz).date()
    first = today.replace(day=1)
    if signed.user.role == ApiRole.clinic:
        rows = reports.figures(session, date_from=first, date_to=today, tz=settings.tz, by="site")
        own = next((r for r in rows if r.key == f"c{signed.user.clinic_id}"), reports.Row(None))
        return first, today, own.figures, True
    [total] = reports.figures(session, date_from=first, date_to=today, tz=settings.tz)
    return first, today, total.figures, False


@router.get("/console/")
def overview(request: Request, session: SessionDep, settings: SettingsDep, signed: Current) -> Response:
    if signed is None:
        return signed_out()
    first, today, figures, clinic_only = _month_figures(session, settings, signed)
    lang = language(request)
    shown = [(name, figures[name]) for name in reports.INDICATORS if not (clinic_only and name == "opt_outs")]
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
    )
