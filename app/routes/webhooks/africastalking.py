"""Africa's Talking callbacks: token, body, fields (the specs of
`app.sending.gateways.africastalking`), then one call.

- `POST /webhooks/africastalking/sms`: an incoming SMS. Stored (once per
  gateway `id`) and answered by the SMS channel in its own transaction; its
  replies are in the message log when we answer 200, and are sent right
  after the commit.
- `POST /webhooks/africastalking/delivery`: a delivery report, recorded on
  the outbound message by its gateway id.
- `POST /webhooks/africastalking/ussd`: one USSD step, answered `CON ...` /
  `END ...` in `text/plain`; never a 500 (the handset shows what we answer).
  Its database work runs in a worker thread, off the event loop.

Bad input (a body over 64 KB, or over 16 KB for a USSD step, not UTF-8 form
data, a missing field, a phone that is not one, an unknown shortcode) is a
4xx JSON answer, logged, with nothing stored (a USSD step with a field
missing is answered `END` with the bad-request screen)."""

from __future__ import annotations

import contextlib
import logging
import time

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from app.channels.ussd import engine as ussd
from app.db import sqlite_writer
from app.domain.phones import mask_phone
from app.routes.deps import require_webhook_token
from app.routes.webhooks.forms import (
    declared_too_big,
    parse_form,
    read_capped_body,
    read_form,
    refuse,
    too_big,
)
from app.routes.webhooks.inbound import receive_sms, record_report, sender_phone
from app.sending.gateways.africastalking import DELIVERY_FIELDS, DELIVERY_STATUS, SMS_FIELDS, USSD_FIELDS

log = logging.getLogger("hen.webhooks")
ussd_log = logging.getLogger("hen.ussd")
router = APIRouter(
    prefix="/webhooks/africastalking", tags=["webhooks"], dependencies=[Depends(require_webhook_token)]
)
MAX_USSD_BODY = 16_384  # a real step is a few hundred bytes


def _known_shortcode(settings, to: str) -> bool:
    allowed = {s.strip() for s in settings.sms_shortcodes.split(",") if s.strip()}
    return not allowed or to in allowed


@router.post("/sms", summary="Africa's Talking incoming SMS")
async def incoming_sms(request: Request) -> JSONResponse:
    form = await read_form(request, SMS_FIELDS)
    settings = request.app.state.settings
    path = request.url.path
    if not form["id"]:
        raise refuse(status.HTTP_400_BAD_REQUEST, "id: must not be empty", path)
    phone = sender_phone(request, form["from"])
    if not _known_shortcode(settings, form["to"]):
        raise refuse(status.HTTP_400_BAD_REQUEST, f"to: unknown shortcode {form['to'][:32]!r}", path)

    result = await receive_sms(
        request,
        phone=phone,
        text=form["text"],
        external_id=form["id"],
        gateway="africastalking",
        shortcode=form["to"],
        link_id=form.get("linkId") or None,
        network_code=form.get("networkCode") or None,
    )
    if isinstance(result, JSONResponse):
        return result
    return JSONResponse(
        {
            "status": "duplicate" if result.duplicate else "ok",
            "message_id": result.message_id,
            "replies": len(result.reply_ids),
        }
    )


@router.post("/delivery", summary="Africa's Talking SMS delivery report")
async def delivery_report(request: Request) -> JSONResponse:
    form = await read_form(request, DELIVERY_FIELDS)

    new_status = DELIVERY_STATUS.get(form["status"])
    if new_status is None:
        log.warning(
            "unknown delivery status", extra={"status": form["status"][:40], "gateway_id": form["id"]}
        )
        return JSONResponse({"status": "ignored"})

    return await record_report(
        request,
        gateway_id=form["id"],
        status=new_status,
        failure_reason=form.get("failureReason"),
        phone=form.get("phoneNumber"),
    )


# ---------------------------------------------------------------- USSD


async def _ussd_fields(request: Request) -> dict[str, str | None]:
    """The callback's fields; a field missing, or a body that is not UTF-8
    form data, counts as missing. A body over MAX_USSD_BODY (declared, or
    as it arrives, chunked or not) is a 413, the rest of it left unread."""
    path = request.url.path
    if declared_too_big(request, MAX_USSD_BODY):
        raise too_big(MAX_USSD_BODY, path)
    body = await read_capped_body(request, MAX_USSD_BODY)
    if body is None:
        raise too_big(MAX_USSD_BODY, path)
    empty: dict[str, str | None] = dict.fromkeys(USSD_FIELDS)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded"):
        return empty
    try:
        form = dict(parse_form(body))
    except ValueError:  # malformed body or encoding: answered as a bad request
        return empty
    return {name: form.get(name) for name in USSD_FIELDS}


def _answer(
    request: Request, fields: dict[str, str | None], actions: bool
) -> tuple[ussd.UssdReply | None, str | None]:
    """The step's reply and the caller's phone. With `actions=False` the
    step only reads, in a read session, and the reply is None when the step
    confirms an action; with `actions=True` it is committed."""
    state = request.app.state
    settings = state.settings
    writer = sqlite_writer(settings) if actions else contextlib.nullcontext()
    with writer, (state.session_factory if actions else state.read_session_factory)() as session:
        try:
            reply, phone = ussd.answer_step(
                session,
                settings,
                session_id=fields["sessionId"],
                service_code=fields["serviceCode"],
                phone_number=fields["phoneNumber"],
                text=fields["text"],
                actions=actions,
            )
            if actions:
                session.commit()
            return reply, phone
        except Exception:
            session.rollback()
            ussd_log.exception("ussd step failed", extra={"session_id": fields["sessionId"]})
            return ussd.UssdReply(ussd.refusal(settings, "ussd.error"), "error"), None


def _step(request: Request, fields: dict[str, str | None]) -> tuple[ussd.UssdReply, str | None]:
    """Nearly every step only reads (a menu, a list, a wrong choice): two or
    three short indexed reads in a read session, nothing to commit. The step
    that confirms an action is answered again, in a committed transaction."""
    reply, phone = _answer(request, fields, False)
    if reply is None:
        reply, phone = _answer(request, fields, True)
    return reply, phone


@router.post("/ussd", summary="Africa's Talking USSD session step", response_class=PlainTextResponse)
async def ussd_step(request: Request) -> PlainTextResponse:
    started = time.perf_counter()
    fields = await _ussd_fields(request)
    # every database call of the step runs in a worker thread: a slow or
    # unreachable database holds that thread, never the event loop
    reply, phone = await run_in_threadpool(_step, request, fields)
    if ussd_log.isEnabledFor(logging.INFO):
        ussd_log.info(
            "ussd step",
            extra={
                "session_id": (fields["sessionId"] or "")[:64],
                "phone": mask_phone(phone or ""),
                "answers": len(fields["text"].split("*")) if fields["text"] else 0,
                "screen": reply.screen,
                "end": reply.ended,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
    return PlainTextResponse(reply.text)
