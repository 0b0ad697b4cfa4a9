"""medic-gateway (cht-gateway), all of it: an Android phone with a local SIM
that polls us, behind NAT (nothing ever connects to the phone). What its
poll carries (the item specs), what its status words mean (a table), the
limits of a poll, and the gateway object, which pulls: the dispatcher never
calls it, the poll takes the due messages (`Dispatcher.hand_out`). The
route is `app.routes.webhooks.medic_gateway`.

One endpoint, HTTP Basic auth (MEDIC_GATEWAY_USERNAME, MEDIC_GATEWAY_PASSWORD),
JSON both ways, requests possibly gzipped (`Content-Encoding: gzip`):
    GET  -> {"medic-gateway": true}
    POST {"messages": [{"id", "from", "content", "sms_sent", "sms_received"}],
          "updates": [{"id", "status", "reason"}]}
         -> 200 {"messages": [{"id", "to", "content"}]}
    4xx/5xx -> {"error": true, "message": "..."}
`messages` are SMS the phone received (`id`: the phone's, for duplicates;
times in ms since the epoch); `updates` are statuses of messages we handed
it (`id`: ours, `str(message.id)`). A list may be null or left out; extra
fields are ignored. The phone forwards up to 10 messages and 20 updates a
poll, and resends a batch it got no 2xx for, so the answer is 200 whenever
the body is well formed: an item that is not (a field missing, of the wrong
type, a phone that is not one) is logged and left out, and an update the
log cannot use (an id we do not know, a status the message already has)
is logged and skipped.

Once the phone stores a message it reports `UNSENT`; a message we hand it
twice it never sends twice (the id decides), it reports its status again. A
handed-out message with no update within CLAIM_LEASE_SECONDS is offered
again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.domain.phones import mask_phone
from app.models import MAX_ID, MessageStatus
from app.sending.gateways.base import GatewayError, SendResult

log = logging.getLogger("hen.medic_gateway")

NAME = "medic-gateway"

# ---------------------------------------------------------------- a poll's limits

# The phone sends at most 10 messages and 20 updates a poll, a few KB: these
# are far above that and far below what would hold a worker for long. Over
# them the poll is a 413 and nothing is stored.
MAX_BODY_BYTES = 1_000_000  # the body as read, and again once decompressed
MAX_MESSAGES = 500
MAX_UPDATES = 500

# ---------------------------------------------------------------- what a poll carries


def _storable(text: str) -> str:
    """An id as the database can hold it: no NUL, no lone surrogate."""
    if "\x00" in text:
        raise ValueError("contains NUL")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not UTF-8 text") from None
    return text


Id = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_storable)]


class PhoneMessage(BaseModel):
    """One SMS the phone received. Strict: a number where text belongs (or
    text where a number belongs) is the wrong type, not converted."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore", populate_by_name=True)

    id: Id  # the phone's (a UUID): duplicates share it
    sender: str = Field(alias="from", min_length=1, max_length=40)
    content: str = Field(max_length=10_000)
    sms_sent: int | None = None  # ms since the epoch
    sms_received: int | None = None  # ms since the epoch; 0 from an old version of the app


class StatusUpdate(BaseModel):
    """The status of one message we handed the phone, by our id."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    id: Id
    status: str = Field(max_length=32)
    reason: str | None = None  # only with FAILED

    @field_validator("reason")
    @classmethod
    def _clean_reason(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value[:500].replace("\x00", "").encode("utf-8", "replace").decode("utf-8") or None


# The phone's status word -> our message status. UNSENT (it stored the
# message), PENDING (it handed it to its own network) and SENT (the
# recipient's network took it) all mean it left our hands: `sent`, which
# ends the claim, so it is never offered again (a later word of the three is
# the status it already has: skipped). DELIVERED and FAILED are final.
UPDATE_STATUS: dict[str, MessageStatus] = {
    "UNSENT": MessageStatus.sent,
    "PENDING": MessageStatus.sent,
    "SENT": MessageStatus.sent,
    "DELIVERED": MessageStatus.delivered,
    "FAILED": MessageStatus.failed,
}


class BadPoll(Exception):
    """A poll body we cannot take at all: 400 (not a JSON object, a list
    that is not one) or 413 (over a limit). Nothing is stored."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Poll:
    messages: list[PhoneMessage] = field(default_factory=list)
    updates: list[StatusUpdate] = field(default_factory=list)
    left_out: int = 0  # items that were not well formed


def read_poll(data: object) -> Poll:
    """The poll in a parsed JSON body: BadPoll for a body we cannot take;
    each item checked on its own, a bad one logged and left out."""
    if not isinstance(data, dict):
        raise BadPoll(400, "expected a JSON object with messages and updates")
    lists = {}
    for name, limit in (("messages", MAX_MESSAGES), ("updates", MAX_UPDATES)):
        items = data.get(name)
        if items is None:
            items = []
        if not isinstance(items, list):
            raise BadPoll(400, f"{name}: expected a list")
        if len(items) > limit:
            raise BadPoll(413, f"{name}: more than {limit} in one poll")
        lists[name] = items
    poll = Poll()
    for name, model, kept in (
        ("messages", PhoneMessage, poll.messages),
        ("updates", StatusUpdate, poll.updates),
    ):
        for n, item in enumerate(lists[name]):
            try:
                kept.append(model.model_validate(item))
            except ValidationError as exc:
                poll.left_out += 1
                _log_bad_item(name, n, item, exc)
    return poll


def _log_bad_item(name: str, n: int, item: object, exc: ValidationError) -> None:
    """Which item and why, never its text; a phone masked."""
    err = exc.errors(include_url=False, include_input=False)[0]
    extra = {
        "item": f"{name}[{n}]",
        "field": ".".join(str(p) for p in err.get("loc", ())) or None,
        "error": err.get("type"),
    }
    if isinstance(item, dict):
        sender = item.get("from")
        extra["phone"] = mask_phone(sender[:40]) if isinstance(sender, str) else None
        extra["id"] = item["id"][:128] if isinstance(item.get("id"), str) else None
    log.warning("medic-gateway item left out", extra=extra)


def our_id(text: str) -> int | None:
    """Our message id in an update's `id` (`str(message.id)`), or None."""
    if not text or len(text) > 10 or not text.isascii() or not text.isdigit() or int(text) > MAX_ID:
        return None
    return int(text)


def received_at(ms: int | None, now: datetime) -> datetime | None:
    """When the phone received an SMS (aware UTC), or None to use our time:
    no time, 0 (an old version of the app), or one the phone's clock cannot
    have meant (before 2000, after now)."""
    if not ms or ms < 946_684_800_000:
        return None
    try:
        at = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return at if at <= now else None


# ---------------------------------------------------------------- the gateway


class MedicGateway:
    """The phone fetches its messages: `pulls`, so the dispatcher never
    calls `send`, and a message goes out in a poll's answer under our id."""

    name = NAME
    pulls = True

    def send(self, phone: str, text: str, message_id: int | None = None) -> SendResult:
        # never called by the dispatcher; a caller that does gets the row back in the queue
        raise GatewayError("medic-gateway: the phone fetches its messages, nothing is pushed", retryable=True)
