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

from app.models import MAX_ID
from app.routes.deps import require_webhook_token
from app.routes.webhooks.forms import read_query, refuse
from app.routes.webhooks.inbound import receive_sms, record_report, sender_phone
from app.sending.gateways.kannel import DELIVERY_FIELDS, SMS_FIELDS, delivery_status

GATEWAY = "kannel"
log = logging.getLogger("hen.webhooks")
router = APIRouter(
    prefix="/webhooks/kannel", tags=["webhooks"], dependencies=[Depends(require_webhook_token)]
)


@router.get("/sms", summary="Kannel incoming SMS (sms-service get-url)", operation_id="kannel_sms_get")
@router.post("/sms", summary="Kannel incoming SMS (post-url, same query)", operation_id="kannel_sms_post")
async def incoming_sms(request: Request) -> Response:
    fields = read_query(request, SMS_FIELDS)
    path = request.url.path
    if not fields["id"]:
        raise refuse(status.HTTP_400_BAD_REQUEST, "id: must not be empty", path)
    result = await receive_sms(
        request,
        phone=sender_phone(request, fields["from"]),
        text=fields["text"],
        external_id=fields["id"],
        gateway=GATEWAY,
        shortcode=fields.get("to") or None,
    )
    if isinstance(result, JSONResponse):
        return result
    return Response(status_code=200)  # empty: Kannel sends no SMS of its own


@router.get("/delivery", summary="Kannel delivery report (dlr-url)", operation_id="kannel_delivery_get")
@router.post("/delivery", summary="Kannel delivery report (same query)", operation_id="kannel_delivery_post")
async def delivery_report(request: Request) -> JSONResponse:
    fields = read_query(request, DELIVERY_FIELDS)
    path = request.url.path
    if not (fields["id"].isascii() and fields["id"].isdigit() and len(fields["id"]) <= 10):
        raise refuse(status.HTTP_400_BAD_REQUEST, "id: not one of our message ids", path)
    if int(fields["id"]) > MAX_ID:  # a number, but no message of ours has it
        log.warning("kannel report for an id we never gave", extra={"message_id": fields["id"]})
        return JSONResponse({"status": "ignored"})
    new_status = delivery_status(fields["status"])
    if new_status is None:
        log.warning(
            "unknown kannel report type", extra={"status": fields["status"], "message_id": fields["id"]}
        )
        return JSONResponse({"status": "ignored"})
    return await record_report(
        request,
        message_id=int(fields["id"]),
        gateway=GATEWAY,
        status=new_status,
        failure_reason=fields.get("answer"),
    )
