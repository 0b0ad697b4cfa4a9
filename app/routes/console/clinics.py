"""`/console/clinics`: the clinics with the services they offer, their
hours and desk staff phones; an admin adds a clinic, edits one on its page
(`/console/clinics/{id}`) and deactivates or reactivates it. A clinic user
sees only its own clinic (another clinic's page is a 403); phones are
masked for every role but admin.

The forms are read as the API's `ClinicCreate` / `ClinicUpdate` bodies and
handed to the registry as the API hands them, so the console and the API
refuse the same things (a display name naming a sensitive word, a staff
phone of another clinic or of an active worker). `form_refusal` and
`parse_id` serve the services page too."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.domain import registry
from app.domain.discretion import Indiscreet
from app.domain.errors import DomainError, NotFound
from app.domain.phones import mask_phone
from app.domain.staff import Conflict
from app.messages import render
from app.models import ApiRole, Clinic
from app.routes.console.pages import (
    Current,
    actor,
    changing,
    language,
    page,
    parse_id,
    refusal,
    refused,
    sees_phones,
    signed_out,
)
from app.routes.deps import SessionDep, SettingsDep
from app.schemas import ClinicCreate, ClinicUpdate

router = APIRouter(include_in_schema=False)
SHOWN = 500  # clinics and services on a page
TEXT_FIELDS = ("name", "display_name", "district", "province", "address", "hours")

# form field -> the catalogue key of its label, for refusals that name a field
LABELS = {
    "name": "console_clinics.internal_name",
    "display_name": "console_clinics.display_name",
    "district": "console.district",
    "province": "console_clinics.province",
    "address": "console_clinics.address",
    "hours": "console_clinics.hours",
    "phone": "console_clinics.clinic_phone",
    "services": "console_clinics.services_offered",
    "staff": "console_clinics.staff_phones",
}

Csrf = Annotated[str, Form(max_length=100)]


def form_refusal(
    request: Request, exc: ValidationError | DomainError, labels: dict[str, str], conflict_key: str
) -> tuple[str, str]:
    """(the message, the domain's own detail or "") for a refused form: the
    field to check for input the API's schema refuses, the field a client
    would read for an indiscreet text, `conflict_key` for a Conflict, else
    the domain refusal's text."""
    lang = language(request)
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        field = str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else ""
        label = render(labels[field], lang) if field in labels else field
        return render("console_clinics.check_field", lang, field=label), ""
    detail = str(exc)
    if isinstance(exc, Indiscreet):
        field = detail.partition(" names ")[0]
        if field in labels:
            return render("console_clinics.indiscreet", lang, field=render(labels[field], lang)), detail
    if isinstance(exc, Conflict) and exc.key == Conflict.key:  # a conflict without words of its own
        return render(conflict_key, lang), detail
    message = refusal(request, exc)
    return message, "" if message == detail else detail


def clinic_form(
    name: Annotated[str, Form(max_length=1000)] = "",
    display_name: Annotated[str, Form(max_length=1000)] = "",
    district: Annotated[str, Form(max_length=1000)] = "",
    province: Annotated[str, Form(max_length=1000)] = "",
    address: Annotated[str, Form(max_length=1000)] = "",
    hours: Annotated[str, Form(max_length=1000)] = "",
    phone: Annotated[str, Form(max_length=100)] = "",
    services: Annotated[list[str] | None, Form(max_length=100)] = None,
    staff: Annotated[str, Form(max_length=10000)] = "",
) -> dict[str, Any]:
    """The clinic form as it was sent (to show it again when refused)."""
    return {
        "name": name,
        "display_name": display_name,
        "district": district,
        "province": province,
        "address": address,
        "hours": hours,
        "phone": phone,
        "services": [code.strip().upper() for code in services or ()],
        "staff": staff,
    }


ClinicForm = Annotated[dict[str, Any], Depends(clinic_form)]


def _staff_lines(text: str) -> list[dict[str, str]]:
    """`0912 345 678, Chị Lan` per line -> the API's staff entries."""
    entries = []
    for line in text.splitlines():
        phone, _, name = line.partition(",")
        if phone.strip() or name.strip():
            entries.append({"phone": phone.strip(), "name": name.strip()})
    return entries


def _body(form: dict[str, Any]) -> dict[str, Any]:
    """The form as the API's clinic body."""
    return {
        **{name: form[name] for name in TEXT_FIELDS},
        "phone": form["phone"].strip() or None,
        "services": form["services"],
        "staff": _staff_lines(form["staff"]),
    }


def _form_of(view: registry.ClinicView) -> dict[str, Any]:
    clinic = view.clinic
    return {
        **{name: getattr(clinic, name) for name in TEXT_FIELDS},
        "phone": clinic.phone or "",
        "services": view.services,
        "staff": "\n".join(f"{s.phone}, {s.name}" if s.name else s.phone for s in view.staff if s.active),
    }


def _choices(session, offered: list[str]) -> list:
    """The services a clinic may be given: the active ones, and any it
    already offers."""
    services, _ = registry.list_services(session, limit=SHOWN, offset=0)
    return [s for s in services if s.active or s.code in offered]


def _phones(signed, view: registry.ClinicView) -> list[str]:
    admin = sees_phones(signed)
    return [s.phone if admin else mask_phone(s.phone) for s in view.staff if s.active]


def _own_only(signed) -> int | None:
    """The clinic a clinic user is bound to; None for the other roles."""
    return signed.user.clinic_id if signed.user.role == ApiRole.clinic else None


def _list(request: Request, session, signed, *, error="", detail="", status_code=200, form=None):
    own = _own_only(signed)
    if signed.user.role == ApiRole.clinic:
        views = [registry.get_clinic(session, own)] if own is not None else []
    else:
        views, _ = registry.list_clinics(session, limit=SHOWN, offset=0)
    return page(
        request,
        "clinics.html",
        status_code,
        signed=signed,
        rows=[(view, _phones(signed, view)) for view in views],
        admin=signed.user.role == ApiRole.admin,
        choices=_choices(session, []),
        form=form or {"services": []},
        error=error,
        detail=detail,
    )


def _clinic(request: Request, session, signed, view, *, error="", detail="", status_code=200, form=None):
    return page(
        request,
        "clinic.html",
        status_code,
        signed=signed,
        view=view,
        clinic=view.clinic,
        phones=_phones(signed, view),
        clinic_phone=view.clinic.phone if sees_phones(signed) else mask_phone(view.clinic.phone),
        admin=signed.user.role == ApiRole.admin,
        choices=_choices(session, view.services),
        form=form or _form_of(view),
        error=error,
        detail=detail,
    )


def _unknown(request: Request, signed) -> Response:
    return refused(request, "console_clinics.unknown_clinic", 404, signed)


@router.get("/console/clinics")
def clinics_page(request: Request, session: SessionDep, signed: Current) -> Response:
    if signed is None:
        return signed_out()
    return _list(request, session, signed)


@router.post("/console/clinics")
def add_clinic(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    form: ClinicForm,
    csrf: Csrf = "",
) -> Response:
    refused_now = changing(request, signed, csrf)
    if refused_now is not None:
        return refused_now
    try:
        body = ClinicCreate(**_body(form))
        registry.create_clinic(
            session, actor=actor(signed), region=settings.default_region, **body.model_dump()
        )
    except (ValidationError, DomainError) as exc:
        session.rollback()
        error, detail = form_refusal(request, exc, LABELS, "console_clinics.staff_taken")
        return _list(request, session, signed, error=error, detail=detail, status_code=422, form=form)
    session.commit()
    return RedirectResponse("/console/clinics", status_code=303)


@router.get("/console/clinics/{clinic_id}")
def clinic_page(clinic_id: str, request: Request, session: SessionDep, signed: Current) -> Response:
    if signed is None:
        return signed_out()
    number = parse_id(clinic_id)
    if signed.user.role == ApiRole.clinic and (number is None or number != _own_only(signed)):
        return refused(request, "console.not_yours", 403, signed)
    if number is None:
        return _unknown(request, signed)
    try:
        view = registry.get_clinic(session, number)
    except NotFound:
        return _unknown(request, signed)
    return _clinic(request, session, signed, view)


def _update(request: Request, session, settings, signed, csrf: str, clinic_id: str, values, form=None):
    """An admin's change to a clinic, through the API's `ClinicUpdate` and
    the registry: back to its page, or the page again with the refusal
    (422, nothing saved), or a 404 page."""
    refused_now = changing(request, signed, csrf)
    if refused_now is not None:
        return refused_now
    number = parse_id(clinic_id)
    if number is None or session.get(Clinic, number) is None:
        return _unknown(request, signed)
    try:
        body = ClinicUpdate(**values)
        registry.update_clinic(
            session, number, actor=actor(signed), region=settings.default_region, **body.changes()
        )
    except NotFound:
        session.rollback()
        return _unknown(request, signed)
    except (ValidationError, DomainError) as exc:
        session.rollback()
        error, detail = form_refusal(request, exc, LABELS, "console_clinics.staff_taken")
        view = registry.get_clinic(session, number)
        return _clinic(request, session, signed, view, error=error, detail=detail, status_code=422, form=form)
    session.commit()
    return RedirectResponse(f"/console/clinics/{number}", status_code=303)


@router.post("/console/clinics/{clinic_id}")
def edit_clinic(
    clinic_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    form: ClinicForm,
    csrf: Csrf = "",
) -> Response:
    return _update(request, session, settings, signed, csrf, clinic_id, _body(form), form)


@router.post("/console/clinics/{clinic_id}/deactivate")
def deactivate_clinic(
    clinic_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    csrf: Csrf = "",
) -> Response:
    return _update(request, session, settings, signed, csrf, clinic_id, {"active": False})


@router.post("/console/clinics/{clinic_id}/reactivate")
def reactivate_clinic(
    clinic_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    csrf: Csrf = "",
) -> Response:
    return _update(request, session, settings, signed, csrf, clinic_id, {"active": True})
