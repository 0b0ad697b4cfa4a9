"""The web console, rendered on the server (`/console/`; `/` leads there):
sign-in, sign-out and the overview of this month's figures. Vietnamese by
default, English with `?lang=en` (kept in a cookie), every word from the
catalogues' `[console]` tables.

The session cookie is HttpOnly and SameSite=Lax, and Secure when
APP_ENV=production; every form carries a CSRF token (the sign-in form's
is paired with a cookie, the others are the session's own). A clinic user
sees the figures of its own clinic."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app import clock
from app.domain import console_sessions, reports
from app.domain.console_sessions import SignedIn
from app.messages import render
from app.models import ApiRole
from app.routes.console import workers
from app.routes.console.pages import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Current,
    language,
    page,
    refused,
    secure,
    signed_out,
)
from app.routes.deps import SessionDep, SettingsDep

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=303)


@router.get("/console/login")
def login_form(request: Request) -> HTMLResponse:
    return _loginpage(request)


def _loginpage(request: Request, error: str = "", email: str = "", status_code: int = 200) -> HTMLResponse:
    """The sign-in form, with a fresh CSRF token paired with its cookie."""
    csrf = secrets.token_urlsafe(32)
    response = page(request, "login.html", status_code, csrf=csrf, error=error, email=email)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="lax", secure=secure(request), path="/console"
    )
    return response


@router.post("/console/login")
def login(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    lang = language(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not (csrf and expected and secrets.compare_digest(csrf, expected)):
        return _loginpage(request, render("console.form_expired", lang), email, 403)
    try:
        signed = console_sessions.sign_in(session, email, password)
    except console_sessions.SignInThrottled:
        session.commit()
        return _loginpage(request, render("console.sign_in_throttled", lang), email, 429)
    session.commit()
    if signed is None:
        return _loginpage(request, render("console.wrong_sign_in", lang), email, 401)
    token, _ = signed
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(console_sessions.LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return response


@router.post("/console/logout")
def logout(
    request: Request, session: SessionDep, signed: Current, csrf: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    if signed is not None and not console_sessions.csrf_matches(signed, csrf):
        return refused(request, "console.form_expired", 403, signed)
    console_sessions.sign_out(session, request.cookies.get(SESSION_COOKIE))
    session.commit()
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


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


router.include_router(workers.router)
