"""`/console/api-keys` (admins only): the API keys with their role, clinic
and dates, never a key or its hash; an admin creates one (the plain key is
on the page answering the form, once, never stored or shown again) and
revokes one at once. The same domain functions as `/api/v1/api-keys`.

Also what the admin pages share (`users` imports it): the gate of their
GET pages, local times, the clinics to choose from, a domain refusal in
the page's words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app import clock
from app.config import Settings
from app.domain import apikeys, clinics, registry
from app.domain.console_sessions import SignedIn
from app.domain.errors import DomainError, NotFound
from app.messages import render
from app.models import MAX_ID
from app.routes.console.pages import (
    ADMIN,
    Current,
    actor,
    changing,
    language,
    local_minute,
    page,
    parse_id,
    reading,
    refusal,
    refused,
)
from app.routes.deps import SessionDep, SettingsDep

router = APIRouter(include_in_schema=False)
ROLES = ("viewer", "clinic", "admin")  # the least power first: the default
CHOOSABLE_CLINICS = 500
# what a redirect after an action tells (`?done=`), by a word the page knows
DONE = {"revoked": "console_admin.key_revoked"}


class BadDays(DomainError):
    key = "console_admin.bad_days"
    status = 422


class BadClinic(DomainError):
    key = "console_admin.bad_clinic"
    status = 422


def whole_number(text: str, error: type[DomainError]) -> int | None:
    """A form's optional whole number: None when empty. Raises `error`."""
    text = (text or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > MAX_ID:
        raise error(f"not a whole number of at most {MAX_ID}: {text[:20]!r}")
    return int(text)


def local_time(settings: Settings):
    """A formatter of stored UTC times as local ones ("" for none), for the templates."""
    return lambda at: local_minute(at, settings)


def clinic_choices(session) -> list:
    """The active clinics a key or a user may be bound to."""
    views, _ = registry.list_clinics(session, active=True, limit=CHOOSABLE_CLINICS, offset=0)
    return [view.clinic for view in views]


def clinic_names(session, clinic_ids) -> dict[int, str]:
    """The names of the clinics of `clinic_ids`, closed ones too."""
    named = {}
    for clinic_id in {c for c in clinic_ids if c is not None}:
        clinic = clinics.clinic_by_id(session, clinic_id)
        named[clinic_id] = clinic.name if clinic else str(clinic_id)
    return named


def says(request: Request, exc: DomainError, words: Mapping[type, str]) -> str:
    """A domain refusal in the page's words: the key `words` gives its
    class (or a parent's), else the refusal's own key."""
    for kind in type(exc).__mro__:
        if kind in words:
            return render(words[kind], language(request))
    return refusal(request, exc)


def failure(request: Request, session, exc: DomainError, words: Mapping[type, str], form=None) -> dict:
    """What an admin page shows of a refused form, once nothing it began is
    kept (the session rolled back): the refusal in the page's words, the
    domain's own reason, and the form as it was sent."""
    session.rollback()
    return {"error": says(request, exc, words), "reason": str(exc), "form": form or {}}


_CREATE_WORDS = {
    apikeys.ApiKeyNameTaken: "console_admin.key_name_taken",
    apikeys.InvalidApiKeyRequest: "console_admin.key_refused",
    NotFound: "console_admin.bad_clinic",  # the only row a new key names
}
_REVOKE_WORDS = {apikeys.ApiKeyRevoked: "console_admin.key_revoked_already"}


def _page(
    request: Request,
    session,
    settings: Settings,
    signed: SignedIn,
    status_code: int = 200,
    **values,
) -> Response:
    keys = apikeys.list_api_keys(session)
    now = clock.now()
    rows = [(key, apikeys.usable(session, key, now)) for key in keys]
    done = DONE.get(request.query_params.get("done", ""))
    return page(
        request,
        "apikeys.html",
        status_code,
        signed=signed,
        rows=rows,
        roles=ROLES,
        clinics=clinic_choices(session),
        clinic_names=clinic_names(session, [k.clinic_id for k in keys]),
        local=local_time(settings),
        notice=render(done, language(request)) if done else "",
        **values,
    )


def _failed(request, session, settings, signed, exc: DomainError, words, status_code: int, form=None):
    return _page(
        request, session, settings, signed, status_code, **failure(request, session, exc, words, form)
    )


@router.get("/console/api-keys")
def api_keys(request: Request, session: SessionDep, settings: SettingsDep, signed: Current) -> Response:
    if (gate := reading(request, signed, ADMIN)) is not None:
        return gate
    return _page(request, session, settings, signed, form={})


@router.post("/console/api-keys")
def create_key(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    clinic: Annotated[str, Form(max_length=20)] = "",
    expires_in_days: Annotated[str, Form(max_length=20)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    gate = changing(request, signed, csrf)
    if gate is not None:
        return gate
    form = {"name": name, "role": role, "clinic": clinic, "expires_in_days": expires_in_days}
    try:
        row, plain = apikeys.create_api_key(
            session,
            role=role,
            name=name,
            clinic_id=whole_number(clinic, BadClinic),
            expires_in_days=whole_number(expires_in_days, BadDays),
            actor=actor(signed),
        )
    except DomainError as exc:
        return _failed(request, session, settings, signed, exc, _CREATE_WORDS, 422, form)
    session.commit()
    response = _page(request, session, settings, signed, created=row, plain=plain, form={})
    response.headers["Cache-Control"] = "no-store"  # the only copy of the key
    return response


@router.post("/console/api-keys/{key_id}/revoke")
def revoke_key(
    key_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    gate = changing(request, signed, csrf)
    if gate is not None:
        return gate
    if (number := parse_id(key_id)) is None:
        return refused(request, "error.not_found", 404, signed)
    try:
        apikeys.revoke_api_key(session, number, actor=actor(signed))
    except DomainError as exc:
        return _failed(request, session, settings, signed, exc, _REVOKE_WORDS, exc.status)
    session.commit()
    return RedirectResponse("/console/api-keys?done=revoked", status_code=303)
