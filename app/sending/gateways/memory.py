"""The memory gateway: keeps what it sends in a list, for tests and benchmarks."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from app.sending.gateways.base import GatewayError, SendResult


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

    def send(self, phone: str, text: str, message_id: int | None = None) -> SendResult:
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
