"""Delivering one claimed message: the gateway call and its result.

A message runs in a pool thread: a reminder that fell into the quiet hours
(a retry at night) goes back to the queue until they end; otherwise the
call waits for a grant from the rate limiter, and starts only while the
call and its result still fit in the lease. Retryable gateway errors (429,
timeouts, 5xx) go back to `queued` with exponential back-off and jitter
until `MAX_SEND_ATTEMPTS`, then `failed`; a non-retryable error is `failed`
at once. Every result is stored through the message log, conditional on
the claim still being the row's. The call's start is stored (committed)
before it is made, so a process killed between the gateway taking a
message and its result being stored never has it sent again."""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from app import clock
from app.config import Settings
from app.db import sqlite_writer
from app.domain import message_log
from app.domain.phones import mask_phone
from app.models import Message, MessageKind, MessageStatus
from app.sending.claims import ClaimedMessage, Claims
from app.sending.gateways.base import Gateway, GatewayError, SendResult
from app.sending.pacing import RateLimiter, backoff_seconds, quiet_until

log = logging.getLogger("hen.dispatcher")


class Delivery:
    def __init__(
        self,
        factory: sessionmaker[Session],
        gateway: Gateway,
        settings: Settings,
        claims: Claims,
        stop: threading.Event,
    ):
        self.factory = factory
        self.gateway = gateway
        self.settings = settings
        self.claims = claims
        self.stop = stop
        # one limiter per dispatcher, and one dispatcher per process
        self.limiter = RateLimiter(settings.send_rate_per_second)
        self._rng = random.Random()

    def deliver(self, row: ClaimedMessage) -> int:
        """Send one claimed message. 1 when the gateway took it."""
        try:
            if row.kind == MessageKind.reminder:
                until = quiet_until(clock.now(), self.settings.quiet_window, self.settings.tz)
                if until is not None:  # e.g. a retry that fell into the night
                    self.release(row, next_attempt_at=until)
                    return 0
            # noted before the wait for a rate slot, so that nothing but the
            # limiter stands between a grant and the call it paces
            if self.stop.is_set():
                self.release(row)
                return 0
            if not self._submit(row):
                return 0
            if not self.limiter.acquire(self.stop) or self.stop.is_set():
                self.release(row)
                return 0
            if clock.now() >= self.claims.send_by(row):  # waited too long for a rate slot (a burst)
                log.warning("lease nearly over before sending: handed back", extra={"message_id": row.id})
                self.release(row)
                return 0
            try:
                result = self.gateway.send(row.phone, row.text, message_id=row.id)
            except GatewayError as exc:
                self._failed(row, str(exc), exc.retryable)
                return 0
            except Exception as exc:  # timeouts and connection errors from an SDK: try again later
                self._failed(row, f"{type(exc).__name__}: {exc}", True)
                return 0
            self._sent(row, result)
            return 1
        except Exception:
            log.exception("delivery bookkeeping failed", extra={"message_id": row.id})
            return 0

    def release(self, row: ClaimedMessage, next_attempt_at: datetime | None = None) -> None:
        """Hand a claimed, unsent message back (not counted as an attempt)."""
        values = {"status": MessageStatus.queued, "attempts": Message.attempts - 1}
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        self._store(row, **values)

    def _submit(self, row: ClaimedMessage) -> bool:
        """Note, committed, that the gateway call is about to begin: a process
        that dies from here until the result (or a release) is stored never
        has the row sent again."""
        with sqlite_writer(self.settings), self.factory() as session:
            submitted = message_log.mark_submitted(session, row.id, row.claim, gateway=self.gateway.name)
            session.commit()
        if not submitted:
            log.warning("lease lost before sending: not sent", extra={"message_id": row.id})
        return submitted

    def _store(self, row: ClaimedMessage, **values) -> bool:
        with sqlite_writer(self.settings), self.factory() as session:
            stored = message_log.settle_claimed(session, row.id, row.claim, **values)
            session.commit()
        if not stored:
            log.warning("lease lost before the result was stored", extra={"message_id": row.id})
        return stored

    def _sent(self, row: ClaimedMessage, result: SendResult) -> None:
        status = result.status if result.status in MessageStatus.__members__ else MessageStatus.sent
        self._store(
            row,
            status=status,
            gateway=self.gateway.name,
            gateway_id=result.gateway_id,
            cost=result.cost,
            sent_at=clock.now(),
            error=None,
        )
        log.info(
            "sms sent",
            extra={
                "message_id": row.id,
                "phone": mask_phone(row.phone),
                "kind": row.kind,
                "attempt": row.attempts,
            },
        )

    def _failed(self, row: ClaimedMessage, reason: str, retryable: bool) -> None:
        reason = reason[:500]
        extra = {
            "message_id": row.id,
            "phone": mask_phone(row.phone),
            "attempt": row.attempts,
            "error": reason,
        }
        if retryable and row.attempts < self.settings.max_send_attempts:
            delay = backoff_seconds(row.attempts, self.settings.retry_base_seconds, self._rng)
            self._store(
                row,
                status=MessageStatus.queued,
                gateway=self.gateway.name,
                error=reason,
                next_attempt_at=clock.now() + timedelta(seconds=delay),
            )
            log.warning("sms retry later", extra={**extra, "retry_in": round(delay, 1)})
        else:
            self._store(row, status=MessageStatus.failed, gateway=self.gateway.name, error=reason)
            log.error("sms failed", extra={**extra, "retryable": retryable})
