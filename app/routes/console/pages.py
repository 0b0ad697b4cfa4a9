"""What every console page shares: the templates, the language, the
signed-in user and the rule of who may change things."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.domain import console_sessions
from app.domain.console_sessions import SignedIn
from app.messages import render
from app.routes.deps import SessionDep

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
SESSION_COOKIE = "hen_session"
LOGIN_CSRF_COOKIE = "hen_login_csrf"
LANG_COOKIE = "hen_lang"
LANGUAGES = ("vi", "en")


def language(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return asked if asked in LANGUAGES else "vi"


def page(request: Request, template: str, status_code: int = 200, **values) -> HTMLResponse:
    lang = language(request)
    html = _templates.get_template(template).render(
        lang=lang, t=lambda key, **v: render(key, lang, **v), **values
    )
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax")
    return response


def secure(request: Request) -> bool:
    return request.app.state.settings.app_env == "production"


def current(request: Request, session: SessionDep) -> SignedIn | None:
    return console_sessions.signed_in(session, request.cookies.get(SESSION_COOKIE))


Current = Annotated[SignedIn | None, Depends(current)]
