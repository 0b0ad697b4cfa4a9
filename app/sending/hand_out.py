"""Handing due messages to a gateway that fetches them (a phone that polls:
`app.sending.gateways.medic_gateway`), by the same rules as a push: what
the dispatcher would send now, the phone gets in the answer to its poll.

A poll claims due messages like the dispatcher does (`Claims.due_messages`:
opted-out phones skipped, expired leases first), then, in one transaction:
- a message claimed more than MAX_SEND_ATTEMPTS times is `failed` (handed
  out that often and never confirmed: the phone cannot take it);
- a reminder inside the quiet hours goes back to the queue until they end;
- the send rate holds on average (`BatchAllowance`: SEND_RATE_PER_SECOND
  accrues between polls, up to one batch, MEDIC_GATEWAY_BATCH); a poll
  claims no more than has accrued, and a row beyond the grants (taken
  meanwhile by another poll) goes back to the queue, due at once;
- the rest are handed out: `gateway` and `gateway_id` (our id, as text: the
  phone reports by it) written, still `sending` under the claim's lease.
  The phone's first update ends the claim (`message_log.record_status`);
  one that never comes (the answer was lost) leaves the lease to run out,
  and the message is claimed and offered again.
Going back to the queue is not an attempt (`attempts - 1`). A poll takes at
most `limit` messages, and at most DISPATCH_BATCH_SIZE (one claim)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import String, cast, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from app import clock
from app.config import Settings
from app.db import sqlite_writer
from app.domain import message_log
from app.domain.phones import mask_phone
from app.models import Message, MessageKind, MessageStatus
from app.sending.claims import ClaimedMessage, Claims
from app.sending.pacing import BatchAllowance, quiet_until

log = logging.getLogger("hen.dispatcher")

_c = Message.__table__.c


class HandOut:
    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        claims: Claims,
        gateway: str,
    ):
        self.factory = factory
        self.settings = settings
        self.claims = claims
        self.gateway = gateway
        # one batch deep: the one gateway that polls is medic-gateway
        self.allowance = BatchAllowance(settings.send_rate_per_second, settings.medic_gateway_batch)

    def hand_out(self, limit: int) -> list[ClaimedMessage]:
        """Claim up to `limit` due messages and return the ones to hand over
        now, marked as handed to the gateway (expired leases first, then by
        due time)."""
        limit = min(limit, self.allowance.available())
        rows = self.claims.due_messages(limit) if limit > 0 else []
        if not rows:
            return []
        now = clock.now()
        quiet = quiet_until(now, self.settings.quiet_window, self.settings.tz)
        exhausted: list[ClaimedMessage] = []
        night: list[ClaimedMessage] = []
        ready: list[ClaimedMessage] = []
        for row in rows:
            if row.attempts > self.settings.max_send_attempts:
                exhausted.append(row)
            elif quiet is not None and row.kind == MessageKind.reminder:
                night.append(row)
            else:
                ready.append(row)
        granted = self.allowance.try_acquire(len(ready))
        ready, later = ready[:granted], ready[granted:]
        with sqlite_writer(self.settings), self.factory() as session:
            for row in exhausted:
                self._settle(
                    session,
                    row,
                    status=MessageStatus.failed,
                    error=f"{self.gateway}: handed out {row.attempts - 1} times, never confirmed",
                )
            for row in night:
                self._settle(session, row, **_back_to_queue(quiet))
            for row in later:
                self._settle(session, row, **_back_to_queue(None))
            handed = self._mark(session, ready, now)
            session.commit()
        out = [r for r in ready if r.id in handed]
        for row in exhausted:
            log.error("never confirmed: failed", extra={"message_id": row.id, "phone": mask_phone(row.phone)})
        for row in out:
            log.info(
                "sms handed out",
                extra={
                    "message_id": row.id,
                    "phone": mask_phone(row.phone),
                    "kind": row.kind,
                    "attempt": row.attempts,
                    "gateway": self.gateway,
                },
            )
        if night or later:
            log.info("handed back", extra={"quiet_hours": len(night), "rate": len(later)})
        return out

    def _settle(self, session: Session, row: ClaimedMessage, **values) -> None:
        if not message_log.settle_claimed(session, row.id, row.claim, **values):
            log.warning("lease lost before the hand-out was stored", extra={"message_id": row.id})

    def _mark(self, session: Session, rows: list[ClaimedMessage], now: datetime) -> set[int]:
        """Mark claimed rows as handed to the gateway, keeping the claim; the
        ids of those still ours."""
        if not rows:
            return set()
        result = session.execute(
            update(Message.__table__)
            .where(
                _c.id.in_([r.id for r in rows]),
                _c.status == MessageStatus.sending,
                _c.claimed_by.in_(sorted({r.claim for r in rows})),
            )
            .values(gateway=self.gateway, gateway_id=cast(_c.id, String), updated_at=now)
            .returning(_c.id)
        )
        return set(result.scalars().all())


def _back_to_queue(due: datetime | None) -> dict:
    values: dict = {"status": MessageStatus.queued, "attempts": Message.attempts - 1}
    if due is not None:
        values["next_attempt_at"] = due
    return values
