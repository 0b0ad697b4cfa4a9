"""What every outbound SMS gateway is: `send(phone, text, message_id=None)`
returns a SendResult or raises GatewayError; `retryable` says whether trying
again later may succeed (timeouts, 429, 5xx) or not (a rejected number).
`message_id` is our id of the message, for a gateway that reports delivery
by the sender's id (Kannel); the others ignore it.

`send` is synchronous (the Africa's Talking SDK is): the dispatcher runs it
in worker threads, never on the event loop. Each gateway is one module of
this package; the application factory and the CLI build the one the
settings name (`app.main.build_gateway`).

A gateway with `pulls = True` is never called: it fetches its messages
(an Android phone running medic-gateway polls us from behind NAT). The
dispatcher then only turns due reminders into messages, and the poll takes
the due ones (`Dispatcher.hand_out`). A gateway without the attribute pushes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SendResult:
    gateway_id: str | None
    status: str = "sent"  # a MessageStatus value
    cost: str | None = None


class GatewayError(Exception):
    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class Gateway(Protocol):
    name: str
    pulls: bool  # optional: True for a gateway that fetches its messages (never `send`)

    def send(self, phone: str, text: str, message_id: int | None = None) -> SendResult: ...
