"""Kannel's callbacks: incoming SMS from its `sms-service` get-url and
delivery reports from the dlr-url of each send (field specs and the status
table in `app.sending.gateways.kannel`).

Both carry their fields in the query string (`GET`, or `POST` with the
same query), and the shared secret as `?token=` (WEBHOOK_TOKEN). An SMS is
answered 200 with an empty body once it is stored: the replies go out
through the dispatcher like every other message, and Kannel, configured
with `max-messages = 0`, never turns an HTTP answer into an SMS."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from app.channels.sms import inbox
from app.domain import message_log
from app.domain.errors import InvalidPhone
from app.domain.phones import mask_phone, normalize_phone
from app.routes.deps import require_webhook_token
from app.routes.webhooks.forms import read_query, refuse
from app.sending.gateways.kannel import DELIVERY_FIELDS, SMS_FIELDS, delivery_status

GATEWAY = "kannel"
log = logging.getLogger("hen.webhooks")
router = APIRouter(
    prefix="/webhooks/kannel", tags=["webhooks"], dependencies=[Depends(require_webhook_token)]
)


@router.api_route("/sms", methods=["GET", "POST"], summary="Kannel incoming SMS (sms-service get-url)")
async def incoming_sms(request: Request) -> Response:
    fields = read_query(request, SMS_FIELDS)
    settings = request.app.state.settings
    path = request.url.path
    if not fields["id"]:
        raise refuse(status.HTTP_400_BAD_REQUEST, "id: must not be empty", path)
    try:
        phone = normalize_phone(fields["from"], settings.default_region)
    except InvalidPhone:
        raise refuse(status.HTTP_400_BAD_REQUEST, "from: not a valid phone number", path) from None
    try:
        await run_in_threadpool(
            inbox.receive,
            request.app.state.session_factory,
            settings,
            phone=phone,
            text=fields["text"],
            external_id=fields["id"],
            gateway=GATEWAY,
            shortcode=fields.get("to") or None,
        )
    except OperationalError:
        log.exception("database unavailable for an inbound sms", extra={"phone": mask_phone(phone)})
        return JSONResponse({"detail": "database unavailable, try again"}, status_code=503)
    return Response(status_code=200)  # empty: Kannel sends no SMS of its own


@router.api_route("/delivery", methods=["GET", "POST"], summary="Kannel delivery report (dlr-url)")
async def delivery_report(request: Request) -> JSONResponse:
    fields = read_query(request, DELIVERY_FIELDS)
    path = request.url.path
    if not (fields["id"].isascii() and fields["id"].isdigit() and len(fields["id"]) <= 18):
        raise refuse(status.HTTP_400_BAD_REQUEST, "id: not one of our message ids", path)
    new_status = delivery_status(fields["status"])
    if new_status is None:
        log.warning(
            "unknown kannel report type", extra={"status": fields["status"], "message_id": fields["id"]}
        )
        return JSONResponse({"status": "ignored"})
    message_id = int(fields["id"])

    def store():
        with request.app.state.session_factory() as session:
            message = message_log.record_delivery_report(
                session, message_id=message_id, status=new_status, failure_reason=fields.get("answer")
            )
            session.commit()
            return message

    try:
        message = await run_in_threadpool(store)
    except OperationalError:
        log.exception("database unavailable for a delivery report", extra={"message_id": message_id})
        return JSONResponse({"detail": "database unavailable, try again"}, status_code=503)
    return JSONResponse({"status": "ok" if message is not None else "ignored"})
