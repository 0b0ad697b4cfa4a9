"""`/console/services`: the services with the names clients read in each
language; an admin adds a service, edits one on its page
(`/console/services/{id}`) and deactivates or reactivates it (no new codes
for an inactive service).

The forms are read as the API's `ServiceCreate` / `ServiceUpdate` bodies and
handed to the registry as the API hands them: a display name naming a
sensitive word is refused here as it is there."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.domain import clinics, registry
from app.domain.errors import DomainError, NotFound
from app.messages import languages, render
from app.models import ApiRole, Service
from app.routes.console.clinics import SHOWN, form_refusal
from app.routes.console.pages import (
    READERS,
    Current,
    actor,
    changing,
    language,
    page,
    parse_id,
    reading,
    refused,
)
from app.routes.deps import SessionDep
from app.schemas import ServiceCreate, ServiceUpdate

router = APIRouter(include_in_schema=False)

# form field -> the catalogue key of its label, for refusals that name a field
LABELS = {
    "code": "console_clinics.code",
    "name": "console_clinics.internal_name",
    "display_name": "console_clinics.display_name",
    "expiry_days": "console_clinics.expiry_days",
    "retest_after_days": "console_clinics.retest_after_days",
    "peer_coupons": "console_services.peer_coupons",
    "coupon_services": "console_services.coupon_services",
    "max_waves": "console_services.max_waves",
}
COUPON_FIELDS = ("peer_coupons", "coupon_services", "max_waves")

Csrf = Annotated[str, Form(max_length=100)]


def service_form(
    code: Annotated[str, Form(max_length=100)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    display_name: Annotated[str, Form(max_length=1000)] = "",
    expiry_days: Annotated[str, Form(max_length=20)] = "",
    retest_after_days: Annotated[str, Form(max_length=20)] = "",
    peer_coupons: Annotated[str, Form(max_length=20)] = "",
    coupon_services: Annotated[str, Form(max_length=200)] = "",
    max_waves: Annotated[str, Form(max_length=20)] = "",
) -> dict[str, str]:
    """The service form as it was sent (to show it again when refused)."""
    return {
        "code": code,
        "name": name,
        "display_name": display_name,
        "expiry_days": expiry_days,
        "retest_after_days": retest_after_days,
        "peer_coupons": peer_coupons,
        "coupon_services": coupon_services,
        "max_waves": max_waves,
    }


ServiceForm = Annotated[dict[str, str], Depends(service_form)]


def _number(text: str) -> int | str | None:
    """A day count as typed: None when empty, an int when it is one, else
    the text itself (which the schema then refuses, naming the field)."""
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else text


def _body(form: dict[str, str]) -> dict[str, Any]:
    """The form as the API's service body (without the code, which never
    changes). Peer coupon fields left empty are left out (the API's defaults
    on a new service, unchanged on an edit); coupon services are codes
    separated by commas or spaces."""
    body = {
        "name": form["name"],
        "display_name": form["display_name"],
        "expiry_days": _number(form["expiry_days"]),
        "retest_after_days": _number(form["retest_after_days"]),
    }
    if form["peer_coupons"].strip():
        body["peer_coupons"] = _number(form["peer_coupons"])
    if form["max_waves"].strip():
        body["max_waves"] = _number(form["max_waves"])
    if form["coupon_services"].strip():
        body["coupon_services"] = form["coupon_services"].replace(",", " ").upper().split()
    return body


def _form_of(service) -> dict[str, str]:
    return {
        "code": service.code,
        "name": service.name,
        "display_name": service.display_name,
        "expiry_days": str(service.expiry_days),
        "retest_after_days": "" if service.retest_after_days is None else str(service.retest_after_days),
        "peer_coupons": str(service.peer_coupons),
        "coupon_services": ", ".join(service.coupon_services or []),
        "max_waves": str(service.max_waves),
    }


def _labels(service) -> list[tuple[str, str]]:
    """(language, what a client reading that language is shown for it)."""
    return [(lang, clinics.service_label(service, lang)) for lang in languages()]


def _headings(request: Request) -> dict[str, str]:
    """The column heading of each language's client-facing name, in the page's language."""
    lang = language(request)
    return {shown: render("console_clinics.client_name_in", lang, lang_code=shown) for shown in languages()}


def _list(request: Request, session, signed, *, error="", detail="", status_code=200, form=None):
    services, _ = registry.list_services(session, limit=SHOWN, offset=0)
    return page(
        request,
        "services.html",
        status_code,
        signed=signed,
        rows=[(service, _labels(service)) for service in services],
        headings=_headings(request),
        admin=signed.user.role == ApiRole.admin,
        form=form or {"expiry_days": "30"},
        error=error,
        detail=detail,
    )


def _service(request: Request, signed, service, *, error="", detail="", status_code=200, form=None):
    return page(
        request,
        "service.html",
        status_code,
        signed=signed,
        service=service,
        labels=_labels(service),
        headings=_headings(request),
        admin=signed.user.role == ApiRole.admin,
        form=form or _form_of(service),
        error=error,
        detail=detail,
    )


def _unknown(request: Request, signed) -> Response:
    return refused(request, "console_clinics.unknown_service", 404, signed)


@router.get("/console/services")
def services_page(request: Request, session: SessionDep, signed: Current) -> Response:
    if (gate := reading(request, signed, READERS)) is not None:  # as for API keys: no clinic role
        return gate
    return _list(request, session, signed)


@router.post("/console/services")
def add_service(
    request: Request, session: SessionDep, signed: Current, form: ServiceForm, csrf: Csrf = ""
) -> Response:
    refused_now = changing(request, signed, csrf)
    if refused_now is not None:
        return refused_now
    try:
        body = ServiceCreate(**{"code": form["code"], **_body(form)})
        registry.create_service(session, actor=actor(signed), **body.model_dump())
    except (ValidationError, DomainError) as exc:
        session.rollback()
        error, detail = form_refusal(request, exc, LABELS, "console_clinics.code_taken")
        return _list(request, session, signed, error=error, detail=detail, status_code=422, form=form)
    session.commit()
    return RedirectResponse("/console/services", status_code=303)


@router.get("/console/services/{service_id}")
def service_page(service_id: str, request: Request, session: SessionDep, signed: Current) -> Response:
    if (gate := reading(request, signed, READERS)) is not None:  # as for API keys: no clinic role
        return gate
    number = parse_id(service_id)
    if number is None:
        return _unknown(request, signed)
    try:
        service = registry.get_service(session, number)
    except NotFound:
        return _unknown(request, signed)
    return _service(request, signed, service)


def _update(request: Request, session, signed, csrf: str, service_id: str, values, form=None, back=""):
    """An admin's change to a service, through the API's `ServiceUpdate` and
    the registry: on to `back` (the service's page by default), or its page
    again with the refusal (422, nothing saved), or a 404 page."""
    refused_now = changing(request, signed, csrf)
    if refused_now is not None:
        return refused_now
    number = parse_id(service_id)
    if number is None or session.get(Service, number) is None:
        return _unknown(request, signed)
    try:
        body = ServiceUpdate(**values)
        registry.update_service(session, number, actor=actor(signed), **body.changes())
    except NotFound:
        session.rollback()
        return _unknown(request, signed)
    except (ValidationError, DomainError) as exc:
        session.rollback()
        error, detail = form_refusal(request, exc, LABELS, "console_clinics.code_taken")
        service = registry.get_service(session, number)
        return _service(request, signed, service, error=error, detail=detail, status_code=422, form=form)
    session.commit()
    return RedirectResponse(back or f"/console/services/{number}", status_code=303)


@router.post("/console/services/{service_id}")
def edit_service(
    service_id: str,
    request: Request,
    session: SessionDep,
    signed: Current,
    form: ServiceForm,
    csrf: Csrf = "",
) -> Response:
    return _update(request, session, signed, csrf, service_id, _body(form), form)


def _back(back: str) -> str:
    """Where an activity switch returns: the list when it was pressed there."""
    return "/console/services" if back == "list" else ""


@router.post("/console/services/{service_id}/deactivate")
def deactivate_service(
    service_id: str,
    request: Request,
    session: SessionDep,
    signed: Current,
    csrf: Csrf = "",
    back: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    return _update(request, session, signed, csrf, service_id, {"active": False}, back=_back(back))


@router.post("/console/services/{service_id}/reactivate")
def reactivate_service(
    service_id: str,
    request: Request,
    session: SessionDep,
    signed: Current,
    csrf: Csrf = "",
    back: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    return _update(request, session, signed, csrf, service_id, {"active": True}, back=_back(back))
