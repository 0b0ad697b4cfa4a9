"""What every gateway's callbacks do once their fields are read: an
incoming SMS is stored and answered through the one inbound path
(`app.channels.sms.inbox.receive`), a delivery report is recorded in the
message log. The database work runs off the event loop; a database that
cannot be reached is a 503 (the gateway tries again), never a lost SMS.

An inbound text is kept to its first MAX_INBOUND_TEXT characters, stored
and handled: ten concatenated segments, more than any phone sends as one
SMS and far more than any keyword message, so what is cut is never part of
a real message; the cut is logged with the length received."""

from __future__ import annotations

import logging

from fastapi import Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.channels.sms import inbox
from app.channels.sms.context import InboundResult
from app.db import DATABASE_UNAVAILABLE
from app.domain import message_log
from app.domain.errors import InvalidPhone
from app.domain.phones import mask_phone, normalize_phone
from app.routes.webhooks.forms import refuse

log = logging.getLogger("hen.webhooks")

UNAVAILABLE = {"detail": "database unavailable, try again"}
RETRY_AFTER = {"Retry-After": "5"}
MAX_INBOUND_TEXT = 1_600  # 10 segments of 160 characters


def bounded_text(text: str, gateway: str) -> str:
    """`text` cut to MAX_INBOUND_TEXT characters (logged when cut)."""
    if len(text) <= MAX_INBOUND_TEXT:
        return text
    log.warning(
        "inbound sms text cut", extra={"gateway": gateway, "length": len(text), "kept": MAX_INBOUND_TEXT}
    )
    return text[:MAX_INBOUND_TEXT]


def sender_phone(request: Request, raw: str, field: str = "from") -> str:
    """The sender in E.164; a 400 when it is not a phone number."""
    try:
        return normalize_phone(raw, request.app.state.settings.default_region)
    except InvalidPhone:
        raise refuse(
            status.HTTP_400_BAD_REQUEST, f"{field}: not a valid phone number", request.url.path
        ) from None


async def receive_sms(request: Request, **fields) -> InboundResult | JSONResponse:
    """Store and answer one incoming SMS (`inbox.receive`'s fields): its
    result, or the 503 to answer when the database cannot be reached."""
    state = request.app.state
    fields["text"] = bounded_text(fields["text"], fields["gateway"])
    try:
        return await run_in_threadpool(inbox.receive, state.session_factory, state.settings, **fields)
    except DATABASE_UNAVAILABLE:
        log.exception(
            "database unavailable for an inbound sms", extra={"phone": mask_phone(fields.get("phone"))}
        )
        return JSONResponse(UNAVAILABLE, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers=RETRY_AFTER)


async def record_report(request: Request, **report) -> JSONResponse:
    """Record one delivery report (`message_log.record_delivery_report`'s
    fields). 200 even for a message we do not know: a gateway retries any
    report it gets no 200 for."""

    def store():
        with request.app.state.session_factory() as session:
            message = message_log.record_delivery_report(session, **report)
            session.commit()
            return message

    try:
        message = await run_in_threadpool(store)
    except DATABASE_UNAVAILABLE:
        log.exception("database unavailable for a delivery report")
        return JSONResponse(UNAVAILABLE, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers=RETRY_AFTER)
    return JSONResponse({"status": "ok" if message is not None else "ignored"})
