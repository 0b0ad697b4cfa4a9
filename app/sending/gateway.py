"""Outbound SMS gateways behind one small interface.

`send` is synchronous (the Africa's Talking SDK is): the dispatcher runs it
in worker threads, never on the event loop. A gateway either returns a
SendResult or raises GatewayError; `retryable` says whether trying again
later may succeed (timeouts, 429, 5xx) or not (a rejected number)."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from app.config import Settings


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

    def send(self, phone: str, text: str) -> SendResult: ...


class ConsoleGateway:
    """Prints each message; the default for local runs."""

    name = "console"

    def __init__(self, stream=None):
        self.stream = stream
        self._lock = threading.Lock()

    def send(self, phone: str, text: str) -> SendResult:
        gateway_id = f"console-{uuid.uuid4().hex[:12]}"
        with self._lock:
            print(f"[sms to {phone}] {text}", file=self.stream or sys.stdout, flush=True)
        return SendResult(gateway_id=gateway_id)


@dataclass
class SentMessage:
    phone: str
    text: str
    gateway_id: str
    at: float


@dataclass
class MemoryGateway:
    """Keeps messages in a list, for tests and benchmarks. `latency` (seconds)
    simulates a slow gateway; `fail_next` makes the next N calls raise."""

    latency: float = 0.0
    fail_next: int = 0
    fail_retryable: bool = True
    sent: list[SentMessage] = field(default_factory=list)
    name: str = "memory"

    def __post_init__(self):
        self._lock = threading.Lock()
        self._counter = 0

    def send(self, phone: str, text: str) -> SendResult:
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                raise GatewayError("memory gateway: injected failure", retryable=self.fail_retryable)
            self._counter += 1
            gateway_id = f"mem-{self._counter}"
            self.sent.append(SentMessage(phone, text, gateway_id, time.monotonic()))
        return SendResult(gateway_id=gateway_id)

    def to(self, phone: str) -> list[str]:
        """Texts sent to `phone`, oldest first."""
        with self._lock:
            return [m.text for m in self.sent if m.phone == phone]

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()


def build_gateway(settings: Settings) -> Gateway:
    if settings.sms_gateway == "memory":
        return MemoryGateway()
    if settings.sms_gateway == "africastalking":
        from app.sending.africastalking import AfricasTalkingGateway

        return AfricasTalkingGateway(
            username=settings.at_username,
            api_key=settings.at_api_key,
            sender_id=settings.at_sender_id or None,
            timeout=settings.gateway_timeout_seconds,
        )
    return ConsoleGateway()
