"""Africa's Talking, all of it: the fields of its callbacks (incoming SMS,
delivery report, USSD step), the meaning of its delivery-report words (a
table), and outbound SMS through the official SDK. The webhook routes
(`app.routes.webhooks.africastalking`) read callbacks with these specs.

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

from app.domain.phones import mask_phone
from app.models import MessageStatus
from app.sending.gateways.base import GatewayError, SendResult

log = logging.getLogger("hen.africastalking")

ACCEPTED_CODES = frozenset({100, 101, 102})  # processed, sent, queued: accepted by the gateway
RETRYABLE_CODES = frozenset({405, 500, 501, 502})  # 405: out of credit, fixed by topping up

# ---------------------------------------------------------------- callbacks

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
USSD_FIELDS = ("sessionId", "serviceCode", "phoneNumber", "text", "networkCode")

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

_HTTP_STATUS_IN_TEXT = re.compile(r"\b(4\d\d|5\d\d)\b")


# ---------------------------------------------------------------- sending


class AfricasTalkingGateway:
    name = "africastalking"

    def __init__(self, username: str, api_key: str, sender_id: str | None = None, timeout: float = 15.0):
        self.username = username
        self.sender_id = sender_id or None
        self.timeout = timeout
        self._sms = SMSService(username, api_key)

    def send(self, phone: str, text: str, message_id: int | None = None) -> SendResult:
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
