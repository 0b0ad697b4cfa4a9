"""Play an SMS conversation or a USSD session from the terminal, through the
same webhook code path the gateway uses (token check, form parsing, phone
normalisation, router), against the configured database.

Outbound messages are handed to an in-memory gateway, so the simulator
prints exactly what each phone would receive, with its encoding and
segment count, and marks those messages sent in the log. Only the
messages the simulated SMS or USSD session caused are sent: the simulator
never runs a dispatcher round, so other people's due reminders wait for the
real dispatcher and its real gateway."""

from __future__ import annotations

import itertools
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import select

from app.config import Settings
from app.main import create_app
from app.models import Direction, Message
from app.sending.gateways.memory import MemoryGateway

with warnings.catch_warnings():
    # Starlette's in-process client: the simulator plays HTTP without a socket.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SMS_PATH = "/webhooks/africastalking/sms"
USSD_PATH = "/webhooks/africastalking/ussd"


@dataclass(frozen=True)
class Outbound:
    phone: str
    text: str
    status: str
    encoding: str
    segments: int
    error: str | None

    def show(self) -> str:
        plural = "" if self.segments == 1 else "s"
        head = f"-> {self.phone} [{self.encoding}, {self.segments} segment{plural}, {self.status}"
        head += f": {self.error}]" if self.error else "]"
        return f"{head}\n   {self.text}"


class Simulator:
    def __init__(self, settings: Settings):
        self.settings = settings.model_copy(update={"dispatch_in_process": False})
        self.gateway = MemoryGateway()
        self.app = create_app(self.settings, gateway=self.gateway)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self._seq = itertools.count(1)

    def __enter__(self) -> Simulator:
        self.client.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.client.__exit__(*exc)

    def _last_message_id(self) -> int:
        with self.app.state.session_factory() as s:
            return s.exec(select(func.coalesce(func.max(Message.id), 0))).one()

    def _outbound_since(self, last_id: int) -> list[Outbound]:
        with self.app.state.session_factory() as s:
            rows = s.exec(
                select(Message)
                .where(Message.id > last_id, Message.direction == Direction.outbound)
                .order_by(Message.id)
            ).all()
        return [Outbound(m.phone, m.text, m.status, m.encoding, m.segments, m.error) for m in rows]

    def sms(self, phone: str, text: str) -> tuple[int, list[Outbound], str]:
        """Send one SMS from `phone`; returns the HTTP status, the messages it
        caused (to any phone) and the error detail, if any."""
        before = self._last_message_id()
        form = {
            "from": phone,
            "to": (self.settings.sms_shortcodes.split(",")[0].strip() or "8080"),
            "text": text,
            "date": "",
            "id": f"sim-{uuid.uuid4().hex}",
            "linkId": "",
            "networkCode": "45204",
        }
        r = self.client.post(SMS_PATH, data=form, headers={"X-Webhook-Token": self.settings.webhook_token})
        # the messages this SMS caused, handed over by its commit; never a
        # dispatcher round, which would take other people's due reminders
        self.app.state.dispatcher.wait_idle()
        detail = "" if r.status_code == 200 else r.json().get("detail", r.text)
        return r.status_code, self._outbound_since(before), detail

    def ussd_step(self, session_id: str, phone: str, answers: list[str]) -> str:
        service_code = self.settings.ussd_service_codes.split(",")[0].strip() or "*384*123#"
        form = {
            "sessionId": session_id,
            "serviceCode": service_code,
            "phoneNumber": phone,
            "text": "*".join(answers),
            "networkCode": "45204",
        }
        r = self.client.post(USSD_PATH, data=form, headers={"X-Webhook-Token": self.settings.webhook_token})
        if r.status_code != 200:
            return "END " + (
                r.json().get("detail", "error")
                if r.headers.get("content-type", "").startswith("application/json")
                else r.text
            )
        return r.text

    def ussd_session(
        self, phone: str, answers: Iterable[str], out: Callable[[str], None], echo_answers: bool = True
    ) -> list[Outbound]:
        """Play a USSD session: print each screen, take the next answer, stop at END."""
        before = self._last_message_id()
        session_id = f"sim-{uuid.uuid4().hex[:12]}"
        given: list[str] = []
        screen = self.ussd_step(session_id, phone, given)
        out(screen)
        feed = iter(answers)
        while screen.startswith("CON "):
            try:
                answer = next(feed)
            except StopIteration:
                out("(session left open)")
                break
            if echo_answers:
                out(f"> {answer}")
            given.append(answer.strip())
            screen = self.ussd_step(session_id, phone, given)
            out(screen)
        self.app.state.dispatcher.wait_idle()
        return self._outbound_since(before)
