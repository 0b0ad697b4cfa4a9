"""What every console page shares: the templates, the language, the
signed-in user, the menu, and the rule of who may change things.

A page handler takes `signed: Current`; `signed_out()` is its answer when
nobody is signed in, `reading(...)` the first step of a page that not every role may open,
`changing(...)` the first step on every form it
accepts (the session's CSRF token, then the role), `refused(...)` a 403 or
404 page in the user's language, `refusal(...)` a domain refusal's text."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.config import Settings
from app.domain import audit, console_sessions
from app.domain.console_sessions import SignedIn
from app.domain.errors import DomainError
from app.messages import UnknownMessageKey, render
from app.models import MAX_ID, ApiRole
from app.routes.deps import SessionDep

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
SESSION_COOKIE = "hen_session"
LOGIN_CSRF_COOKIE = "hen_login_csrf"
LANG_COOKIE = "hen_lang"
LANGUAGES = ("vi", "en")
ADMIN = (ApiRole.admin,)
EVERYONE = (ApiRole.admin, ApiRole.clinic, ApiRole.viewer)
READERS = (ApiRole.admin, ApiRole.viewer)  # the program-wide logs and reports, as for API keys

# The menu: (path, catalogue key, roles that see it).
MENU = (
    ("/console/", "console.overview", EVERYONE),
    ("/console/workers", "console.workers", READERS),
    ("/console/clinics", "console.menu_clinics", EVERYONE),
    ("/console/services", "console.menu_services", READERS),
    ("/console/codes", "console.menu_codes", EVERYONE),
    ("/console/redemptions", "console.menu_redemptions", EVERYONE),
    ("/console/reminders", "console.menu_reminders", READERS),
    ("/console/messages", "console.menu_messages", READERS),
    ("/console/reports", "console.menu_reports", READERS),
    ("/console/api-keys", "console.menu_api_keys", ADMIN),
    ("/console/users", "console.menu_users", ADMIN),
)


def language(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return asked if asked in LANGUAGES else "vi"


def page(
    request: Request, template: str, status_code: int = 200, *, signed: SignedIn | None = None, **values
) -> HTMLResponse:
    """`template` rendered in the request's language; with `signed`, the
    page carries the menu of the user's role, the user and the CSRF token."""
    lang = language(request)
    if signed is not None:
        values.setdefault("user", signed.user)
        values.setdefault("csrf", signed.csrf)
        values["menu"] = [(path, key) for path, key, roles in MENU if signed.user.role in roles]
        values["here"] = request.url.path
    html = _templates.get_template(template).render(
        lang=lang, t=lambda key, **v: render(key, lang, **v), **values
    )
    response = HTMLResponse(html, status_code=status_code)
    if signed is not None:  # names and phones: kept by no browser cache on a shared computer
        response.headers["Cache-Control"] = "no-store"
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax")
    return response


def secure(request: Request) -> bool:
    return request.app.state.settings.app_env == "production"


def current(request: Request, session: SessionDep) -> SignedIn | None:
    return console_sessions.signed_in(session, request.cookies.get(SESSION_COOKIE))


Current = Annotated[SignedIn | None, Depends(current)]


def signed_out() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


def refused(
    request: Request, key: str, status_code: int = 403, signed: SignedIn | None = None
) -> HTMLResponse:
    """A page that says why not (`key` from the catalogues), with the menu."""
    return page(request, "refused.html", status_code, signed=signed, message=render(key, language(request)))


def reading(
    request: Request, signed: SignedIn | None, roles: Iterable[ApiRole] = EVERYONE
) -> Response | None:
    """None when a user of `roles` is signed in; else the answer: the
    sign-in page, or 403 for a role that may not open this page."""
    if signed is None:
        return signed_out()
    if signed.user.role not in tuple(roles):
        return refused(
            request, "console.admins_only" if tuple(roles) == ADMIN else "console.not_yours", 403, signed
        )
    return None


def changing(
    request: Request, signed: SignedIn | None, csrf: str, roles: Iterable[ApiRole] = ADMIN
) -> Response | None:
    """None when a user of `roles` sent the page's own form; else the answer:
    the sign-in page, or 403 for a form without its token or a role that
    may not change this."""
    if signed is not None and not console_sessions.csrf_matches(signed, csrf):
        return refused(request, "console.form_expired", 403, signed)
    return reading(request, signed, roles)


def refusal(request: Request, exc: DomainError) -> str:
    """A domain refusal in the page's language (its message when no text fits)."""
    try:
        return render(exc.key, language(request), **exc.values)
    except (UnknownMessageKey, KeyError, ValueError):
        return str(exc)


def parse_id(text: str) -> int | None:
    """The row id a path or form names, or None for anything that is not one
    (not ASCII digits, 0, or beyond what the database holds)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


MINUTE = "%d/%m/%Y %H:%M"  # a local date and time as staff read it in tables


def local_minute(moment: datetime | None, settings: Settings) -> str:
    """`moment` as a local date and time (`23/11/2026 14:00`), '' for None."""
    return moment.astimezone(settings.tz).strftime(MINUTE) if moment else ""


def actor(signed: SignedIn) -> str:
    """The audit actor of the signed-in user."""
    return audit.user_actor(signed.user.email)


def sees_phones(signed: SignedIn) -> bool:
    """Only an admin sees whole phone numbers."""
    return signed.user.role == ApiRole.admin
