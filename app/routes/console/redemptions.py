"""`/console/redemptions`: who came where, the latest visits first: the
code, its service, the clinic, the worker who referred, the local date and
time, the channel of the confirmation (sms, ussd, api, web) and the
client's phone (masked for every role but admin). `?clinic=ID` shows one
clinic's; a clinic user sees its own clinic's only (another clinic: 403).
The same listing as the API's `GET /redemptions` (`listings.list_redemptions`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.domain import code_text, listings, registry
from app.domain.console_sessions import SignedIn
from app.domain.phones import mask_phone
from app.messages import render
from app.models import ApiRole
from app.routes.console.pages import (
    Current,
    language,
    local_minute,
    page,
    parse_id,
    refused,
    sees_phones,
    signed_out,
)
from app.routes.deps import SessionDep, SettingsDep

router = APIRouter(include_in_schema=False)
SHOWN = 200  # the latest redemptions on the page
CLINICS = 500  # clinics offered in the filter


def _chosen(text: str) -> int | None:
    """The clinic id of `?clinic=`, None when none is asked; raises ValueError."""
    text = text.strip()
    if not text:
        return None
    number = parse_id(text)
    if number is None:
        raise ValueError(text)
    return number


@router.get("/console/redemptions")
def redemptions(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    clinic: str = "",
) -> Response:
    if signed is None:
        return signed_out()
    views, _ = registry.list_clinics(session, limit=CLINICS, offset=0)
    names = {v.clinic.id: v.clinic.display_name for v in views}
    own = signed.user.clinic_id if signed.user.role == ApiRole.clinic else None
    try:
        chosen = _chosen(clinic)
    except ValueError:
        return _page(request, signed, views, 422, error="console_codes.bad_clinic", chosen=None)
    if own is not None and chosen is not None and chosen != own:
        return refused(request, "console.not_yours", 403, signed)
    if chosen is not None and chosen not in names:
        return _page(request, signed, views, 404, error="console_codes.no_clinic", chosen=None)
    rows, total = listings.list_redemptions(
        session,
        tz=settings.tz,
        limit=SHOWN,
        offset=0,
        clinic_id=own or chosen,  # a clinic user: its own clinic, whatever it asks
        worker_id=None,
        service=None,
        date_from=None,
        date_to=None,
    )
    admin = sees_phones(signed)
    shown = []
    for row in rows:
        r, c = row.redemption, row.code
        shown.append(
            {
                "id": r.id,
                "digits": c.code,
                "display": code_text.format_code(c.code),
                "service": row.service,
                "clinic": names.get(r.clinic_id, ""),
                "worker": registry.get_worker(session, c.worker_id).name if c.worker_id else "",
                "at": local_minute(r.redeemed_at, settings),
                "channel": r.channel,
                "phone": (c.client_phone if admin else mask_phone(c.client_phone)) if c.client_phone else "",
            }
        )
    return _page(request, signed, views, rows=shown, total=total, chosen=own or chosen)


def _page(
    request: Request,
    signed: SignedIn,
    views,
    status_code: int = 200,
    *,
    error: str = "",
    chosen: int | None,
    rows=(),
    total: int = 0,
) -> Response:
    own_only = signed.user.role == ApiRole.clinic
    return page(
        request,
        "redemptions.html",
        status_code,
        signed=signed,
        rows=rows,
        total=total,
        shown_count=len(rows),
        clinics=[(v.clinic.id, v.clinic.display_name, v.clinic.district) for v in views],
        chosen=chosen,
        own_only=own_only,
        own_name=next((v.clinic.display_name for v in views if v.clinic.id == signed.user.clinic_id), ""),
        error=render(error, language(request)) if error else "",
    )
