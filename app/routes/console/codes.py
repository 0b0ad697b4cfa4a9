"""`/console/codes`: find a code as it is typed (spaces or dashes allowed)
and see its state, service, worker, suggested clinic and dates in local
time; a clinic user confirms that the client came, through the same
redemption as SMS, USSD and the API (`codes.redeem_code`, channel `web`).

Every look-up and every confirmation is audited with the user as actor,
and wrong codes count in the user's wrong-code throttle, as for an API
key (`codes.look_up`); the audit rows of refusals are committed like the
API's (`committing_refusals`). A clinic user sees where and when a code
was used only when it was used at its own clinic. Phones are masked for
every role but admin."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from app import clock
from app.config import Settings
from app.domain import clinics, code_text, codes, listings, registry
from app.domain.console_sessions import SignedIn
from app.domain.errors import DomainError
from app.domain.phones import mask_phone
from app.models import ApiRole, Channel, CodeState, ReferralCode
from app.routes.console.pages import (
    EVERYONE,
    Current,
    actor,
    changing,
    local_minute,
    page,
    refusal,
    refused,
    sees_phones,
    signed_out,
)
from app.routes.deps import SessionDep, SettingsDep, committing_refusals

router = APIRouter(include_in_schema=False)


def _clinic_name(session: Session, clinic_id: int | None) -> str:
    clinic = clinics.clinic_by_id(session, clinic_id)
    return clinic.display_name if clinic else ""


def _worker_name(session: Session, worker_id: int | None) -> str:
    return registry.get_worker(session, worker_id).name if worker_id else ""


def _shown(session: Session, settings: Settings, signed: SignedIn, row: ReferralCode) -> dict:
    """What the page shows of a code for `signed`; for a clinic user, also
    whether it can confirm the code now (`confirmable`) or the domain's
    refusal (`why_not`)."""
    found = listings.code_row(session, row)
    code, redemption = found.code, found.redemption
    now = clock.now()
    clinic_user = signed.user.role == ApiRole.clinic
    service = clinics.service_by_id(session, code.service_id)
    shown = {
        "digits": code.code,
        "display": code_text.format_code(code.code),
        "state": str(code_text.effective_state(code, now)),
        "service": found.service,
        "service_name": service.name if service else "",
        "worker": _worker_name(session, code.worker_id),
        "clinic": _clinic_name(session, code.clinic_id),
        "issued_at": local_minute(code.issued_at, settings),
        "valid_until": code_text.valid_until_text(code, settings.tz),
        "voided_at": local_minute(code.voided_at, settings),
        "client_phone": (code.client_phone if sees_phones(signed) else mask_phone(code.client_phone))
        if code.client_phone
        else "",
        "redeemed": redemption is not None,
        "phone_unknown": not code.client_phone,
        "wave": code.wave,
        "where": None,
        "confirmable": False,
        "why_not": None,
    }
    if redemption is not None and (not clinic_user or redemption.clinic_id == signed.user.clinic_id):
        shown["where"] = {
            "clinic": _clinic_name(session, redemption.clinic_id),
            "at": local_minute(redemption.redeemed_at, settings),
            "channel": redemption.channel,
        }
    if clinic_user:
        clinic = clinics.clinic_by_id(session, signed.user.clinic_id)
        failure = codes.redeem_refusal(session, code, clinic, now) if clinic else None
        shown["confirmable"] = clinic is not None and failure is None
        shown["why_not"] = failure
    return shown


def _page(request: Request, signed: SignedIn, status_code: int = 200, **values) -> Response:
    values.setdefault("typed", "")
    values.setdefault("found", None)
    values.setdefault("error", "")
    values.setdefault("notice", "")
    return page(request, "codes.html", status_code, signed=signed, **values)


@router.get("/console/codes")
def find_code(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    code: str = "",
    redeemed: str = "",
) -> Response:
    if signed is None:
        return signed_out()
    if not code.strip():
        return _page(request, signed)
    try:
        with committing_refusals(session):  # the look-up's audit row, refused or not
            row = codes.look_up(session, settings, code, actor=actor(signed))
    except DomainError as exc:  # throttled (429), unknown (404), malformed or mistyped (422)
        return _page(request, signed, exc.status, typed=code, error=refusal(request, exc))
    found = _shown(session, settings, signed, row)
    if found["why_not"] is not None:
        found["why_not"] = refusal(request, found["why_not"])
    # the confirmation's notice only for a code this user's clinic did use
    confirmed = redeemed == "1" and found["state"] == CodeState.redeemed and found["where"] is not None
    return _page(request, signed, typed=found["display"], found=found, notice=confirmed)


@router.post("/console/codes/{code}/redeem")
def confirm_code(
    code: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signed: Current,
    csrf: Annotated[str, Form(max_length=100)] = "",
    client_phone: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    not_allowed = changing(request, signed, csrf, roles=EVERYONE)
    if not_allowed is not None:
        return not_allowed
    if signed.user.role != ApiRole.clinic:  # admins and viewers do not confirm visits
        return refused(request, "console_codes.clinic_only", 403, signed)
    try:
        clinic = registry.clinic_for_redemption(session, signed.user.clinic_id)
        with committing_refusals(session):  # every attempt's audit row, refused or not
            redemption = codes.redeem_code(
                session,
                settings,
                code,
                clinic=clinic,
                channel=Channel.web,
                actor=actor(signed),
                throttle_first=True,
                client_phone=client_phone.strip() or None,
            )
    except DomainError as exc:
        session.rollback()  # nothing but the committed audit rows is kept
        return _page(request, signed, exc.status, typed=code, error=refusal(request, exc))
    shown = code_text.format_code(codes.code_by_id(session, redemption.code_id).code)
    return RedirectResponse("/console/codes?" + urlencode({"code": shown, "redeemed": "1"}), status_code=303)
