"""`/console/users` (admins only): the console accounts; an admin adds one
(the password typed twice), deactivates or reactivates one (never their
own: `users.set_active` refuses) and resets a password, which ends the
user's open sessions. Passwords are never put back on a page, in the log
or in the audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.config import Settings
from app.domain import users
from app.domain.console_sessions import SignedIn
from app.domain.errors import DomainError, NotFound
from app.messages import render
from app.routes.console.apikeys import (
    ROLES,
    BadClinic,
    clinic_choices,
    clinic_names,
    failure,
    local_time,
    whole_number,
)
from app.routes.console.pages import (
    ADMIN,
    Current,
    actor,
    changing,
    language,
    page,
    parse_id,
    reading,
    refused,
)
from app.routes.deps import SessionDep, SettingsDep

router = APIRouter(include_in_schema=False)
DONE = {
    "created": "console_admin.user_created",
    "password": "console_admin.password_changed",
    "deactivated": "console_admin.user_deactivated",
    "reactivated": "console_admin.user_reactivated",
}
_WORDS = {
    users.EmailTaken: "console_admin.email_taken",
    users.InvalidUser: "console_admin.user_refused",
}
_CREATE_WORDS = {**_WORDS, NotFound: "console_admin.bad_clinic"}  # the only row a new user names
_PASSWORD_WORDS = {users.InvalidUser: "console_admin.password_refused"}


class PasswordsDiffer(DomainError):
    """The two copies of a typed password differ (a form's check, no rule)."""

    key = "console_admin.passwords_differ"
    status = 422


def _same(password: str, again: str) -> str:
    if password != again:
        raise PasswordsDiffer("the two passwords differ")
    return password


def _page(request: Request, session, settings: Settings, signed: SignedIn, status_code: int = 200, **values):
    accounts = users.list_users(session)
    done = DONE.get(request.query_params.get("done", ""))
    values.setdefault("form", {})
    return page(
        request,
        "users.html",
        status_code,
        signed=signed,
        accounts=accounts,
        roles=ROLES,
        clinics=clinic_choices(session),
        clinic_names=clinic_names(session, [u.clinic_id for u in accounts]),
        local=local_time(settings),
        notice=render(done, language(request)) if done else "",
        **values,
    )


def _failed(request, session, settings, signed, exc: DomainError, words, status_code: int, form=None):
    return _page(
        request, session, settings, signed, status_code, **failure(request, session, exc, words, form)
    )


@router.get("/console/users")
def accounts(request: Request, session: SessionDep, settings: SettingsDep, signed: Current) -> Response:
    if (gate := reading(request, signed, ADMIN)) is not None:
        return gate
    return _page(request, session, settings, signed)


@router.post("/console/users")
def add_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=300)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    clinic: Annotated[str, Form(max_length=20)] = "",
    # no length limit here: a refused field's value would be echoed back
    password: Annotated[str, Form()] = "",
    password_again: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    gate = changing(request, signed, csrf)
    if gate is not None:
        return gate
    form = {"name": name, "email": email, "role": role, "clinic": clinic}  # never the password
    try:
        users.create_user(
            session,
            role=role,
            name=name,
            email=email,
            password=_same(password, password_again),
            clinic_id=whole_number(clinic, BadClinic),
            actor=actor(signed),
        )
    except DomainError as exc:
        return _failed(request, session, settings, signed, exc, _CREATE_WORDS, 422, form)
    session.commit()
    return RedirectResponse("/console/users?done=created", status_code=303)


def _set_active(request, session, settings, signed, user_id: str, active: bool, csrf: str) -> Response:
    gate = changing(request, signed, csrf)
    if gate is not None:
        return gate
    if (number := parse_id(user_id)) is None:
        return refused(request, "error.not_found", 404, signed)
    try:
        users.set_active(session, number, active, actor=actor(signed), by_user_id=signed.user.id)
    except DomainError as exc:
        return _failed(request, session, settings, signed, exc, {}, exc.status)
    session.commit()
    done = "reactivated" if active else "deactivated"
    return RedirectResponse(f"/console/users?done={done}", status_code=303)


@router.post("/console/users/{user_id}/password")
def reset_password(
    user_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    password: Annotated[str, Form()] = "",
    password_again: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    gate = changing(request, signed, csrf)
    if gate is not None:
        return gate
    if (number := parse_id(user_id)) is None:
        return refused(request, "error.not_found", 404, signed)
    try:
        users.set_password(session, number, _same(password, password_again), actor=actor(signed))
    except DomainError as exc:
        status_code = 404 if isinstance(exc, NotFound) else 422
        return _failed(request, session, settings, signed, exc, _PASSWORD_WORDS, status_code)
    session.commit()
    return RedirectResponse("/console/users?done=password", status_code=303)


@router.post("/console/users/{user_id}/{change}")
def change_user(
    user_id: str,
    change: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Deactivate or reactivate a user (after the password route: `password`
    is not a change of this one)."""
    if change not in ("deactivate", "reactivate"):
        return refused(request, "error.not_found", 404, signed)
    return _set_active(request, session, settings, signed, user_id, change == "reactivate", csrf)
