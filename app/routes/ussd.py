"""Africa's Talking USSD callback: token check, form parsing, one channel
call, a `text/plain` answer (`CON ...` / `END ...`). Never a 500: the
operator shows whatever we answer on the handset."""

from __future__ import annotations

import contextlib
import logging
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from app.channels import ussd
from app.db import sqlite_writer
from app.domain.phones import mask_phone
from app.routes.deps import require_webhook_token

log = logging.getLogger("hen.ussd")
router = APIRouter(tags=["webhooks"])

MAX_BODY = 16_384  # a real step is a few hundred bytes
FIELDS = ("sessionId", "serviceCode", "phoneNumber", "text", "networkCode")


async def _fields(request: Request) -> dict[str, str | None]:
    """The callback's fields; a field missing, not text, or a body too big
    or unreadable counts as missing."""
    empty: dict[str, str | None] = dict.fromkeys(FIELDS)
    try:
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return empty
        form = await request.form()
    except Exception:  # malformed body or encoding: answered as a bad request
        return empty
    return {name: value if isinstance(value := form.get(name), str) else None for name in FIELDS}


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
            log.exception("ussd step failed", extra={"session_id": fields["sessionId"]})
            return ussd.UssdReply(ussd.refusal(settings, "ussd.error"), "error"), None


@router.post(
    "/webhooks/africastalking/ussd",
    summary="Africa's Talking USSD session step",
    response_class=PlainTextResponse,
    dependencies=[Depends(require_webhook_token)],
)
async def ussd_step(request: Request) -> PlainTextResponse:
    started = time.perf_counter()
    fields = await _fields(request)
    # Nearly every step only reads (a menu, a list, a wrong choice): two or
    # three short indexed reads and nothing to commit, answered here on the
    # event loop, where a hop to a worker thread would cost more CPU than
    # the step itself. The step that confirms an action writes (and may
    # wait for SQLite's writer lock): a worker thread, as before.
    reply, phone = _answer(request, fields, False)
    if reply is None:
        reply, phone = await run_in_threadpool(_answer, request, fields, True)
    if reply.queued_ids:  # e.g. a code to the client: sent right after, without holding the answer
        request.app.state.dispatcher.send_soon(reply.queued_ids)
    if log.isEnabledFor(logging.INFO):
        log.info(
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
