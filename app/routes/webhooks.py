"""Africa's Talking SMS callbacks: token, body, fields, then one call.

- `POST /webhooks/africastalking/sms`: an incoming SMS. Stored (once per
  gateway `id`) and answered by `app.channels.sms`, in batches
  (`app.channels.sms_inbox`); its replies are in the outbox, claimed for
  sending, when we answer 200, and are sent right after.
- `POST /webhooks/africastalking/delivery`: a delivery report, recorded on
  the outbound message by its gateway id.

Bad input (a body over 64 KB, not UTF-8 form data, a missing field, a phone
that is not one, an unknown shortcode) is a 4xx JSON answer, logged, with
nothing stored."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from app.domain.errors import InvalidPhone
from app.domain.phones import mask_phone, normalize_phone
from app.routes.deps import require_webhook_token
from app.sending.africastalking import apply_delivery_report

log = logging.getLogger("hen.webhooks")
router = APIRouter(
    prefix="/webhooks/africastalking", tags=["webhooks"], dependencies=[Depends(require_webhook_token)]
)

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 64

# name -> (required, max length): what each callback must carry
SMS_FIELDS = {
    "from": (True, 40),
    "to": (True, 32),
    "text": (True, 10_000),
    "id": (True, 128),
    "date": (False, 64),
    "linkId": (False, 128),
    "networkCode": (False, 16),
}
DELIVERY_FIELDS = {
    "id": (True, 128),
    "status": (True, 32),
    "phoneNumber": (False, 40),
    "networkCode": (False, 16),
    "failureReason": (False, 200),
    "retryCount": (False, 8),
}


def _refuse(code: int, detail: str, path: str) -> HTTPException:
    log.warning("webhook refused", extra={"path": path, "status": code, "reason": detail})
    return HTTPException(code, detail)


async def read_form(request: Request, spec: dict[str, tuple[bool, int]]) -> dict[str, str]:
    """The callback's fields, checked against `spec`. Raises 413 for a body
    over MAX_BODY_BYTES (before parsing it), 415 for another content type,
    400 for a body that is not UTF-8 form data or lacks a required field."""
    path = request.url.path
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise _refuse(status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {MAX_BODY_BYTES} bytes", path)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded"):
        raise _refuse(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "expected application/x-www-form-urlencoded", path
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _refuse(status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {MAX_BODY_BYTES} bytes", path)
    try:
        pairs = parse_qsl(
            bytes(body).decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict"
        )
    except ValueError:  # UnicodeDecodeError included
        raise _refuse(status.HTTP_400_BAD_REQUEST, "body is not UTF-8 form data", path) from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in spec and name not in form:
            form[name] = value.replace("\x00", "")
    for name, (required, max_length) in spec.items():
        value = form.get(name)
        if value is None:
            if required:
                raise _refuse(status.HTTP_400_BAD_REQUEST, f"{name}: field required", path)
            continue
        if len(value) > max_length:
            raise _refuse(status.HTTP_400_BAD_REQUEST, f"{name}: longer than {max_length} characters", path)
        if name != "text":
            form[name] = value.strip()
    return form


def _known_shortcode(settings, to: str) -> bool:
    allowed = {s.strip() for s in settings.sms_shortcodes.split(",") if s.strip()}
    return not allowed or to in allowed


@router.post("/sms", summary="Africa's Talking incoming SMS")
async def incoming_sms(request: Request) -> JSONResponse:
    form = await read_form(request, SMS_FIELDS)
    settings = request.app.state.settings
    path = request.url.path
    if not form["id"]:
        raise _refuse(status.HTTP_400_BAD_REQUEST, "id: must not be empty", path)
    try:
        phone = normalize_phone(form["from"], settings.default_region)
    except InvalidPhone:
        raise _refuse(status.HTTP_400_BAD_REQUEST, "from: not a valid phone number", path) from None
    if not _known_shortcode(settings, form["to"]):
        raise _refuse(status.HTTP_400_BAD_REQUEST, f"to: unknown shortcode {form['to'][:32]!r}", path)

    try:
        result = await request.app.state.sms_inbox.handle(
            phone=phone,
            text=form["text"],
            external_id=form["id"],
            shortcode=form["to"],
            link_id=form.get("linkId") or None,
            network_code=form.get("networkCode") or None,
        )
    except OperationalError:
        log.exception("database unavailable for an inbound sms", extra={"phone": mask_phone(phone)})
        return JSONResponse({"detail": "database unavailable, try again"}, status_code=503)
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

    def store():
        with request.app.state.session_factory() as session:
            message = apply_delivery_report(
                session,
                gateway_id=form["id"],
                status=form["status"],
                failure_reason=form.get("failureReason"),
            )
            session.commit()
            return message

    try:
        message = await run_in_threadpool(store)
    except OperationalError:
        log.exception("database unavailable for a delivery report", extra={"gateway_id": form["id"]})
        return JSONResponse({"detail": "database unavailable, try again"}, status_code=503)
    # 200 even when ignored: the gateway retries a report it gets no 200 for
    return JSONResponse({"status": "ok" if message is not None else "ignored"})
