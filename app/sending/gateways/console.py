"""The console gateway: prints each message; the default for local runs."""

from __future__ import annotations

import sys
import threading
import uuid

from app.sending.gateways.base import SendResult


class ConsoleGateway:
    """Prints each message; the default for local runs."""

    name = "console"

    def __init__(self, stream=None):
        self.stream = stream
        self._lock = threading.Lock()

    def send(self, phone: str, text: str, message_id: int | None = None) -> SendResult:
        gateway_id = f"console-{uuid.uuid4().hex[:12]}"
        with self._lock:
            print(f"[sms to {phone}] {text}", file=self.stream or sys.stdout, flush=True)
        return SendResult(gateway_id=gateway_id)
