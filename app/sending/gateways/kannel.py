"""Kannel, all of it: the fields of its callbacks (incoming SMS through an
`sms-service` get-url, delivery reports through the dlr-url of each send),
the meaning of its delivery-report types (a table), and outbound SMS through
smsbox's sendsms HTTP interface. Sample configurations are in
`deploy/kannel/`.

Incoming SMS: the `sms-service` get-url carries the fields in the query
string, not in a body:
    /webhooks/kannel/sms?token=...&from=%p&to=%P&text=%a&id=%I
`%I` is Kannel's id of the message (a UUID), unique per message; `%a` is
the text with runs of spaces squeezed to one; with `mo-recode = true` in the
smsbox group, a UCS-2 message (Vietnamese with diacritics) arrives recoded
as UTF-8. smsbox tries a get-url or dlr-url again (`http-request-retry`)
unless it answers 200 or 202.

Sending: GET `sendsms?username&password&to&text&charset=UTF-8&coding=...`.
`coding=0` (GSM-7) when every character is in the GSM-7 alphabet, else
`coding=2` (UCS-2); Kannel converts from UTF-8 itself. Kannel answers
    202 "0: Accepted for delivery"    handed to an SMSC driver
    202 "3: Queued for later delivery" stored, no SMSC connected right now
    403 "Authorization failed for sendsms"   wrong username or password
    400 "Missing receiver number, rejected", "... denied by white- and/or
        black-lists.", "Sender missing and no global set, rejected" (no
        `from` and no global-sender) and other refusals of the request
    503 "Temporal failure, try again later."
Kannel gives no message id of its own, so the delivery report is matched by
ours: when `dlr_url` is set and the caller passes `message_id`, the send asks
for every report type (`dlr-mask=31`) at
    <dlr_url>&id=<message_id>&status=%d&answer=%A
and the SendResult's `gateway_id` is `str(message_id)`, the same text the
report's `id` carries. Reports come in no set order (a 1, delivered, may
come before the 8, accepted by the SMSC), and the fake SMSC's come within
milliseconds of `send` returning: before the result may be stored.

The sendsms URL holds the password in its query string: errors name the
exception's type and Kannel's answer, never the URL.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode

import requests

from app.domain.phones import mask_phone
from app.messages import count_segments
from app.models import MessageStatus
from app.sending.gateways.base import GatewayError, SendResult

log = logging.getLogger("hen.kannel")

# ---------------------------------------------------------------- callbacks

# name -> (required, max length): what each callback must carry. `token`
# (the shared secret in the configured URLs) is the route's business.
SMS_FIELDS = {
    "from": (True, 40),  # %p: the sender's number, as the SMSC gives it
    "to": (False, 32),  # %P: our number or short code; a modem may leave it empty
    "text": (True, 10_000),  # %a: may be the empty string, but is always there
    "id": (True, 128),  # %I: Kannel's id of the message (UUID), for duplicates
}
DELIVERY_FIELDS = {
    "id": (True, 32),  # our message id, put into the dlr-url when sending
    "status": (True, 8),  # %d: the report type, see DELIVERY_STATUS
    "answer": (False, 1_000),  # %A: the SMSC's own words, if any (e.g. SMPP "stat:UNDELIV err:...")
}

# Delivery report type (%d) -> our message status.
DELIVERY_STATUS: dict[int, MessageStatus] = {
    1: MessageStatus.delivered,  # delivered to the phone
    2: MessageStatus.failed,  # not delivered to the phone
    # queued at the SMSC (phone off or out of reach): not final, a later
    # report says delivered or failed; `buffered` is the status that means
    # exactly that ("queued at the operator")
    4: MessageStatus.buffered,
    8: MessageStatus.sent,  # accepted by the SMSC
    # refused by the SMSC (unknown subscriber, bad number, no credit):
    # final, like Africa's Talking's "Rejected"
    16: MessageStatus.rejected,
}


def delivery_status(text: str | None) -> MessageStatus | None:
    """The status a report's `status` field (Kannel's %d) means; None for
    anything that is not one of the five report types."""
    value = (text or "").strip()
    if not value or len(value) > 3 or not value.isascii() or not value.isdigit():
        return None
    return DELIVERY_STATUS.get(int(value))


# ---------------------------------------------------------------- sending

DLR_MASK = 31  # every report type: 1 + 2 + 4 + 8 + 16
_KANNEL_ESCAPE = re.compile(r"%(?![0-9])")  # `%d`, `%A`, ...: Kannel fills these in


def coding_for(text: str) -> int:
    """Kannel's `coding`: 0 (GSM-7) or 2 (UCS-2), as the segment count has it."""
    return 0 if count_segments(text).encoding == "GSM-7" else 2


class KannelGateway:
    name = "kannel"

    def __init__(
        self,
        sendsms_url: str,
        username: str,
        password: str,
        sender: str | None = None,
        dlr_url: str | None = None,
        timeout: float = 15.0,
    ):
        """`sendsms_url`: smsbox's sendsms, e.g. http://127.0.0.1:13013/cgi-bin/sendsms.
        `dlr_url`: where Kannel reports delivery, e.g.
        http://127.0.0.1:8000/webhooks/kannel/delivery?token=...; the send
        appends our id and the escape codes. Kannel reads `%` and a letter
        as an escape code (`%d`, `%A`), so the URL may hold no such pair of
        its own; a percent-encoded ASCII character (`%2B`: a digit first)
        passes through unchanged."""
        if dlr_url and _KANNEL_ESCAPE.search(dlr_url):
            raise ValueError("dlr_url: '%' and a letter is a Kannel escape code; percent-encode as %25")
        self.sendsms_url = sendsms_url
        self.username = username
        self.password = password
        self.sender = sender or None
        self.dlr_url = dlr_url or None
        self.timeout = timeout

    def delivery_url(self, message_id: int) -> str:
        """The dlr-url for one message: ours plus its id and Kannel's escape codes."""
        if self.dlr_url is None:
            raise ValueError("delivery_url: no dlr_url configured")
        joiner = "&" if "?" in self.dlr_url else "?"
        if self.dlr_url.endswith(("?", "&")):
            joiner = ""
        return f"{self.dlr_url}{joiner}{urlencode({'id': int(message_id)})}&status=%d&answer=%A"

    def params(self, phone: str, text: str, message_id: int | None = None) -> dict[str, str | int]:
        """The sendsms query for one message."""
        params: dict[str, str | int] = {
            "username": self.username,
            "password": self.password,
            "to": phone,
            "text": text,
            "charset": "UTF-8",
            "coding": coding_for(text),
        }
        if self.sender:
            params["from"] = self.sender
        if self.dlr_url and message_id is not None:
            params["dlr-mask"] = DLR_MASK
            params["dlr-url"] = self.delivery_url(message_id)
        return params

    def send(self, phone: str, text: str, message_id: int | None = None) -> SendResult:
        try:
            answer = requests.get(
                self.sendsms_url,
                params=self.params(phone, text, message_id),
                timeout=(min(3.05, self.timeout), self.timeout),
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            # `from None`: a requests exception's text holds the URL, and with it the password
            raise GatewayError(f"kannel: timeout ({type(exc).__name__})", retryable=True) from None
        except requests.RequestException as exc:  # refused, reset, DNS: Kannel down or restarting
            raise GatewayError(f"kannel: {type(exc).__name__}", retryable=True) from None
        body = (answer.text or "").strip()[:200]
        code = answer.status_code
        if 200 <= code < 300:
            if body.startswith("3:"):
                log.info("kannel queued a message for later", extra={"phone": mask_phone(phone)})
            return SendResult(
                gateway_id=str(message_id) if message_id is not None else None, status=MessageStatus.sent
            )
        retryable = code >= 500
        log.warning(
            "kannel refused a message",
            extra={"phone": mask_phone(phone), "status_code": code, "answer": body, "retryable": retryable},
        )
        if code == 403:
            raise GatewayError(f"kannel: HTTP 403 (username or password wrong): {body}", retryable=False)
        raise GatewayError(f"kannel: HTTP {code}: {body or 'no answer'}", retryable=retryable)
