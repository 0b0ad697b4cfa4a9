"""medic-gateway's one endpoint, `/webhooks/medic-gateway`: HTTP Basic auth,
the body (gzip, JSON, the specs and limits of
`app.sending.gateways.medic_gateway`), then the exchange.

- `GET`: the phone's check of its settings, `{"medic-gateway": true}`.
- `POST`: a poll. Its SMS go through the one inbound pipeline
  (`app.channels.sms.inbox`, once per phone id), its updates change the
  messages they name (`message_log.record_status`), and the answer hands
  the phone the messages due now (`Dispatcher.hand_out`): the replies to
  this poll's SMS among them.

Every answer but a 2xx is `{"error": true, "message": ...}` (the phone shows
the message): 401 wrong or missing credentials (nothing read); 404 when
SMS_GATEWAY is not medic-gateway (a phone pointed at the wrong service
gets nothing, and keeps its SMS for later); 400 a body that is not gzip
or JSON, or whose top level is wrong; 413 a body over 1 MB (read or
decompressed), or more than 500 messages or updates; 503 the database
unreachable (the phone resends the poll; what was stored is not stored
twice). An SMS text is kept to its first 1,600 characters (`inbound.MAX_INBOUND_TEXT`). A bad item inside a good poll is logged and left out: the answer
is still 200, since the phone resends a poll until it gets a 2xx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import zlib

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app import clock
from app.channels.sms import inbox
from app.db import DATABASE_UNAVAILABLE, sqlite_writer
from app.domain import message_log
from app.domain.errors import InvalidPhone
from app.domain.phones import mask_phone, normalize_phone
from app.routes.webhooks.inbound import bounded_text
from app.sending.gateways import medic_gateway as spec

log = logging.getLogger("hen.webhooks")
router = APIRouter(prefix="/webhooks/medic-gateway", tags=["webhooks"])
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="medic-gateway", charset="UTF-8"'}


class _Refused(Exception):
    def __init__(self, code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers


def _error(request: Request, refused: _Refused) -> JSONResponse:
    log.warning(
        "webhook refused", extra={"path": request.url.path, "status": refused.code, "reason": refused.message}
    )
    return JSONResponse(
        {"error": True, "message": refused.message}, status_code=refused.code, headers=refused.headers
    )


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _check_access(request: Request) -> None:
    """This service uses medic-gateway, and the request carries its
    credentials (compared in constant time, length included)."""
    settings = request.app.state.settings
    if settings.sms_gateway != spec.NAME:
        raise _Refused(status.HTTP_404_NOT_FOUND, "medic-gateway is not this service's SMS gateway")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    user = password = None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            decoded = ""
        if ":" in decoded:
            user, _, password = decoded.partition(":")
    expected = settings.medic_gateway_password
    user_ok = hmac.compare_digest(_digest(user or ""), _digest(settings.medic_gateway_username))
    password_ok = hmac.compare_digest(_digest(password or ""), _digest(expected))
    if password is None or not expected or not (user_ok & password_ok):
        raise _Refused(status.HTTP_401_UNAUTHORIZED, "wrong or missing username and password", _CHALLENGE)


async def _read_body(request: Request) -> bytes:
    """The body, decompressed, within MAX_BODY_BYTES both ways."""
    limit = spec.MAX_BODY_BYTES
    too_big = _Refused(status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_big
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return bytes(body)
    if encoding not in ("gzip", "x-gzip"):
        raise _Refused(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "Content-Encoding: only gzip")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing only
    try:
        plain = inflater.decompress(bytes(body), limit + 1)
    except zlib.error:
        raise _Refused(status.HTTP_400_BAD_REQUEST, "body is not valid gzip") from None
    if len(plain) > limit:
        raise _Refused(status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {limit} bytes decompressed")
    if not inflater.eof or inflater.unused_data:
        raise _Refused(status.HTTP_400_BAD_REQUEST, "body is not valid gzip (truncated, or trailing data)")
    return plain


def _parse(body: bytes) -> spec.Poll:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise _Refused(status.HTTP_400_BAD_REQUEST, "body is not JSON") from None
    try:
        return spec.read_poll(data)
    except spec.BadPoll as exc:
        raise _Refused(exc.status, exc.message) from None


@router.get("", summary="medic-gateway: the phone's settings check")
@router.get("/", include_in_schema=False)
async def handshake(request: Request) -> JSONResponse:
    try:
        _check_access(request)
    except _Refused as refused:
        return _error(request, refused)
    return JSONResponse({"medic-gateway": True})


@router.post("", summary="medic-gateway: a poll (SMS received, status updates) answered with SMS to send")
@router.post("/", include_in_schema=False)
async def poll(request: Request) -> JSONResponse:
    try:
        _check_access(request)
        parsed = _parse(await _read_body(request))
        counts, handed = await run_in_threadpool(_exchange, request.app.state, parsed)
    except _Refused as refused:
        return _error(request, refused)
    except DATABASE_UNAVAILABLE:
        log.exception("database unavailable for a medic-gateway poll")
        return _error(
            request, _Refused(status.HTTP_503_SERVICE_UNAVAILABLE, "database unavailable, try again")
        )
    except Exception:
        log.exception("medic-gateway poll failed")
        return _error(request, _Refused(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error, try again"))
    log.info("medic-gateway poll", extra={**counts, "left_out": parsed.left_out, "handed_out": len(handed)})
    return JSONResponse({"messages": [{"id": str(m.id), "to": m.phone, "content": m.text} for m in handed]})


def _exchange(state, parsed: spec.Poll) -> tuple[dict[str, int], list]:
    """Store the poll's SMS, record its updates, take the messages due now
    (in this order: the replies to its SMS go out in its answer)."""
    counts = dict.fromkeys(("received", "duplicates", "skipped", "updates", "updates_skipped"), 0)
    settings = state.settings
    now = clock.now()
    for sms in parsed.messages:
        try:
            phone = normalize_phone(sms.sender, settings.default_region)
        except InvalidPhone:
            log.warning(
                "medic-gateway sms from a number that is not one: left out",
                extra={"phone": mask_phone(sms.sender), "id": sms.id},
            )
            counts["skipped"] += 1
            continue
        try:
            result = inbox.receive(
                state.session_factory,
                settings,
                phone=phone,
                text=bounded_text(sms.content, spec.NAME),
                external_id=sms.id,
                gateway=spec.NAME,
                received_at=spec.received_at(sms.sms_received, now),
            )
        except DATABASE_UNAVAILABLE:
            raise  # the database, not the message: the phone resends the poll
        except Exception:  # never let one message hold the phone's queue forever
            log.exception(
                "medic-gateway sms failed: left out", extra={"phone": mask_phone(phone), "id": sms.id}
            )
            counts["skipped"] += 1
            continue
        counts["duplicates" if result.duplicate else "received"] += 1
    if parsed.updates:
        with sqlite_writer(settings), state.session_factory() as session:
            for update in parsed.updates:
                outcome = _record(session, update)
                counts["updates" if outcome == "recorded" else "updates_skipped"] += 1
            session.commit()
    return counts, state.dispatcher.hand_out(settings.medic_gateway_batch)


def _record(session, update: spec.StatusUpdate) -> str:
    message_id = spec.our_id(update.id)
    new_status = spec.UPDATE_STATUS.get(update.status)
    if message_id is None or new_status is None:
        log.warning(
            "medic-gateway update we cannot use: skipped", extra={"id": update.id, "status": update.status}
        )
        return "skipped"
    return message_log.record_status(
        session, message_id=message_id, gateway=spec.NAME, status=new_status, reason=update.reason
    )
