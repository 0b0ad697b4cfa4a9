"""Sign-in and sign-out (`/` leads to the console). The session cookie is
HttpOnly and SameSite=Lax, and Secure when APP_ENV=production; the sign-in
form's CSRF token is paired with a cookie, every later form carries the
session's own token."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.domain import console_sessions
from app.messages import render
from app.routes.console.pages import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Current,
    language,
    page,
    refused,
    secure,
)
from app.routes.deps import SessionDep

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
    console_sessions.sign_out(session, request.cookies.get(SESSION_COOKIE), signed.user if signed else None)
    session.commit()
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
