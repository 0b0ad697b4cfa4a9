"""Outbox dispatcher (first cut: single process, messages only).

Interface used by the rest of the service:
- `tick()`: one pass: send every due outbound message.
- `send_now(ids)`: send these queued messages right away (webhook replies).
- `start_background()` / `stop_background()`: the periodic tick inside the
  web process (APScheduler drives the tick only).
"""

from __future__ import annotations

import logging
import uuid

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import or_, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, select

from app import clock
from app.config import Settings
from app.domain.phones import mask_phone
from app.models import Direction, Message, MessageStatus
from app.sending.gateway import Gateway, GatewayError

log = logging.getLogger("hen.dispatcher")


class Dispatcher:
    def __init__(self, factory: sessionmaker[Session], gateway: Gateway, settings: Settings):
        self.factory = factory
        self.gateway = gateway
        self.settings = settings
        self.worker_id = f"d-{uuid.uuid4().hex[:10]}"
        self._scheduler: BackgroundScheduler | None = None

    def tick(self) -> int:
        with self.factory() as session:
            ids = session.exec(
                select(Message.id).where(
                    Message.direction == Direction.outbound,
                    Message.status == MessageStatus.queued,
                    or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= clock.now()),
                )
            ).all()
        return self.send_now(list(ids))

    def send_now(self, ids: list[int]) -> int:
        sent = 0
        for message_id in ids:
            sent += self._send_one(message_id)
        return sent

    def _send_one(self, message_id: int) -> int:
        with self.factory() as session:
            claimed = session.exec(
                update(Message)
                .where(Message.id == message_id, Message.status == MessageStatus.queued)
                .values(status=MessageStatus.sending, claimed_by=self.worker_id, attempts=Message.attempts + 1)
            ).rowcount
            session.commit()
            if not claimed:
                return 0
            message = session.get(Message, message_id)
            try:
                result = self.gateway.send(message.phone, message.text)
            except GatewayError as exc:
                message.status = MessageStatus.failed
                message.error = str(exc)[:500]
                log.warning("send failed", extra={"phone": mask_phone(message.phone), "error": str(exc)})
            else:
                message.status = result.status
                message.gateway_id = result.gateway_id
                message.sent_at = clock.now()
            message.updated_at = clock.now()
            session.add(message)
            session.commit()
            return 1 if message.status == MessageStatus.sent else 0

    def start_background(self) -> None:
        if self._scheduler is not None:
            return
        self._scheduler = BackgroundScheduler(daemon=True)
        self._scheduler.add_job(
            self.tick, "interval", seconds=self.settings.dispatch_interval_seconds,
            max_instances=1, coalesce=True, id="dispatch-tick",
        )
        self._scheduler.start()

    def stop_background(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
