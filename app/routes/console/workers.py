"""`/console/workers`: the outreach workers with this month's figures; an
admin adds a worker (who is sent a welcome SMS with the keywords) and
deactivates one who left. Phones are masked for every role but admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app import clock
from app.domain import onboarding, outreach, registry
from app.domain.errors import DomainError, NotFound
from app.domain.phones import mask_phone
from app.routes.console.pages import (
    READERS,
    Current,
    actor,
    changing,
    page,
    parse_id,
    reading,
    refusal,
    refused,
    sees_phones,
)
from app.routes.deps import SessionDep, SettingsDep

router = APIRouter(include_in_schema=False)
SHOWN = 500  # workers on the page


def _list(request: Request, session, settings, signed, *, error: str = "", status_code: int = 200, form=None):
    workers, _ = registry.list_workers(session, limit=SHOWN, offset=0)
    today = clock.now().astimezone(settings.tz).date()
    admin = sees_phones(signed)
    rows = []
    for worker in workers:
        month = outreach.worker_month_stats(session, worker, today, tz=settings.tz)
        rows.append((worker, worker.phone if admin else mask_phone(worker.phone), month))
    return page(
        request,
        "workers.html",
        status_code,
        rows=rows,
        admin=admin,
        signed=signed,
        error=error,
        form=form or {},
    )


@router.get("/console/workers")
def workers(request: Request, session: SessionDep, settings: SettingsDep, signed: Current) -> Response:
    if (gate := reading(request, signed, READERS)) is not None:  # as for API keys: no clinic role
        return gate
    return _list(request, session, settings, signed)


@router.post("/console/workers")
def add_worker(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    name: Annotated[str, Form(max_length=120)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    district: Annotated[str, Form(max_length=80)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    refused = changing(request, signed, csrf)
    if refused is not None:
        return refused
    try:
        onboarding.register_worker(
            session,
            settings,
            actor=actor(signed),
            name=name,
            phone=phone,
            district=district,
        )
    except DomainError as exc:
        session.rollback()
        form = {"name": name, "phone": phone, "district": district}
        return _list(
            request, session, settings, signed, error=refusal(request, exc), status_code=422, form=form
        )
    session.commit()
    return RedirectResponse("/console/workers", status_code=303)


@router.post("/console/workers/{worker_id}/{change}")
def change_worker(
    worker_id: str,
    change: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Deactivate a worker who left, or reactivate one who came back (the
    registry checks the phone again: it may meanwhile be a desk's)."""
    if change not in ("deactivate", "reactivate"):
        return refused(request, "error.not_found", 404, signed)
    not_allowed = changing(request, signed, csrf)
    if not_allowed is not None:
        return not_allowed
    if (number := parse_id(worker_id)) is None:
        return refused(request, "error.not_found", 404, signed)
    try:
        registry.update_worker(
            session,
            number,
            actor=actor(signed),
            region=settings.default_region,
            active=change == "reactivate",
        )
    except DomainError as exc:
        session.rollback()
        status_code = 404 if isinstance(exc, NotFound) else 409
        return _list(request, session, settings, signed, error=refusal(request, exc), status_code=status_code)
    session.commit()
    return RedirectResponse("/console/workers", status_code=303)
