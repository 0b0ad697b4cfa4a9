"""Africa's Talking: outbound SMS through the official SDK, and the meaning
of its delivery reports.

The SDK's `africastalking.initialize` is process-global; each gateway builds
its own `SMSService(username, api_key)` instead, so two gateways (tests,
sandbox and live) never share credentials. `send` is synchronous: the
dispatcher calls it from worker threads, never on the event loop.

What the SDK answers (HTTP 201):
    {"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: KES 0.8000",
      "Recipients": [{"statusCode": 101, "number": "+2547...", "status": "Success",
                      "cost": "KES 0.8000", "messageId": "ATXid_..."}]}}
Per-recipient `statusCode`: 100 Processed, 101 Sent, 102 Queued (accepted);
401 RiskHold, 402 InvalidSenderId, 403 InvalidPhoneNumber, 404
UnsupportedNumberType, 405 InsufficientBalance, 406 UserInBlacklist, 407
CouldNotRoute, 409 DoNotDisturbRejection (refused, retrying will not help);
500 InternalServerError, 501 GatewayError, 502 RejectedByGateway (the
gateway's trouble: retry later). A non-2xx HTTP answer raises
AfricasTalkingException with the body only, so the HTTP status is read from
the exception chain when there, else guessed from the text.
"""

from __future__ import annotations

import logging
import re

import requests
from africastalking.Service import AfricasTalkingException
from africastalking.SMS import SMSService
from sqlalchemy import update
from sqlmodel import Session, select

from app import clock
from app.domain.phones import mask_phone
from app.models import Direction, Message, MessageStatus
from app.sending.gateway import GatewayError, SendResult

log = logging.getLogger("hen.africastalking")

ACCEPTED_CODES = frozenset({100, 101, 102})  # processed, sent, queued: accepted by the gateway
RETRYABLE_CODES = frozenset({405, 500, 501, 502})  # 405: out of credit, fixed by topping up

# Delivery report `status` (the gateway's word) -> our message status.
DELIVERY_STATUS: dict[str, MessageStatus] = {
    "Success": MessageStatus.delivered,
    "Sent": MessageStatus.sent,
    "Submitted": MessageStatus.sent,
    "Buffered": MessageStatus.buffered,
    "Rejected": MessageStatus.rejected,
    "Failed": MessageStatus.failed,
    "Expired": MessageStatus.expired,
}
FINAL_STATUSES = frozenset(
    {MessageStatus.delivered, MessageStatus.rejected, MessageStatus.failed, MessageStatus.expired}
)

_HTTP_STATUS_IN_TEXT = re.compile(r"\b(4\d\d|5\d\d)\b")


class AfricasTalkingGateway:
    name = "africastalking"

    def __init__(self, username: str, api_key: str, sender_id: str | None = None, timeout: float = 15.0):
        self.username = username
        self.sender_id = sender_id or None
        self.timeout = timeout
        self._sms = SMSService(username, api_key)

    def send(self, phone: str, text: str) -> SendResult:
        try:
            answer = self._sms.send(
                text, [phone], sender_id=self.sender_id, timeout=(min(3.05, self.timeout), self.timeout)
            )
        except ValueError as exc:  # the SDK refuses a malformed number before any request
            raise GatewayError(f"africastalking: {exc}", retryable=False) from exc
        except requests.Timeout as exc:
            raise GatewayError("africastalking: timeout", retryable=True) from exc
        except requests.RequestException as exc:
            raise GatewayError(f"africastalking: {type(exc).__name__}", retryable=True) from exc
        except AfricasTalkingException as exc:
            raise self._http_error(str(exc)) from exc
        return self._result(answer, phone)

    @staticmethod
    def _http_error(body: str) -> GatewayError:
        """A non-2xx answer. The SDK keeps only the body: 429 and 5xx say so in
        it ("Too Many Requests", "Internal Server Error") or not at all; an
        answer we cannot read is retried, a clear refusal is not."""
        text = (body or "").strip()
        lowered = text.lower()
        m = _HTTP_STATUS_IN_TEXT.search(text)
        code = int(m.group(1)) if m else None
        if "invalid phone" in lowered or "invalidphonenumber" in lowered:
            return GatewayError(f"africastalking: {text[:200]}", retryable=False)
        if code is not None and 400 <= code < 500 and code not in (408, 429):
            return GatewayError(f"africastalking: HTTP {code}: {text[:200]}", retryable=False)
        if any(w in lowered for w in ("authentication", "unauthori", "forbidden", "invalid api key")):
            return GatewayError(f"africastalking: {text[:200]}", retryable=False)
        return GatewayError(f"africastalking: {text[:200] or 'error without a body'}", retryable=True)

    def _result(self, answer, phone: str) -> SendResult:
        try:
            recipient = answer["SMSMessageData"]["Recipients"][0]
            code = int(recipient.get("statusCode"))
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            message = answer.get("SMSMessageData", {}).get("Message") if isinstance(answer, dict) else None
            hint = str(message or answer)[:200]
            if "invalid" in hint.lower() and "phone" in hint.lower():
                raise GatewayError(f"africastalking: {hint}", retryable=False) from exc
            raise GatewayError(f"africastalking: unexpected answer: {hint}", retryable=True) from exc
        status = recipient.get("status", "")
        if code in ACCEPTED_CODES:
            return SendResult(
                gateway_id=recipient.get("messageId") or None,
                status=MessageStatus.sent,
                cost=str(recipient.get("cost")) if recipient.get("cost") is not None else None,
            )
        retryable = code in RETRYABLE_CODES or code >= 500
        log.warning(
            "africastalking refused a message",
            extra={"phone": mask_phone(phone), "status_code": code, "status": status, "retryable": retryable},
        )
        raise GatewayError(f"africastalking: {code} {status}", retryable=retryable)


# ---------------------------------------------------------------- delivery reports


def apply_delivery_report(
    session: Session, *, gateway_id: str, status: str, failure_reason: str | None = None
) -> Message | None:
    """Record a delivery report on the outbound message with `gateway_id`.

    Returns the message, or None when no message has that id or the status
    word is unknown (both logged: the gateway retries reports it does not get
    a 200 for, so the caller still answers 200). A late intermediate report
    (`Sent` after `Success`) never overwrites a final status."""
    new_status = DELIVERY_STATUS.get(status)
    if new_status is None:
        log.warning("unknown delivery status", extra={"status": status[:40], "gateway_id": gateway_id[:128]})
        return None
    message = session.exec(
        select(Message).where(Message.gateway_id == gateway_id, Message.direction == Direction.outbound)
    ).first()
    if message is None:
        log.warning(
            "delivery report for an unknown message", extra={"gateway_id": gateway_id[:128], "status": status}
        )
        return None
    conditions = [Message.id == message.id]
    if new_status not in FINAL_STATUSES:
        conditions.append(Message.status.not_in([s.value for s in FINAL_STATUSES]))
    values = {"status": new_status.value, "updated_at": clock.now()}
    if failure_reason and new_status in (MessageStatus.rejected, MessageStatus.failed, MessageStatus.expired):
        values["error"] = failure_reason[:500]
    session.exec(update(Message).where(*conditions).values(**values))
    session.refresh(message)
    log.info(
        "delivery report",
        extra={"phone": mask_phone(message.phone), "gateway_id": gateway_id[:128], "status": message.status},
    )
    return message
