"""The claim and lease protocol of the two queues the dispatcher works:
due reminders and due outbound messages.

A claim is one atomic UPDATE that marks rows as taken (`claimed_by`,
`claimed_until`) and returns them, so several dispatcher processes never
take the same row, and a row whose process died is taken again once its
lease has run out:
- PostgreSQL: `UPDATE … WHERE id IN (SELECT id … ORDER BY … LIMIT n FOR
  UPDATE SKIP LOCKED) RETURNING …`;
- SQLite: the same single `UPDATE … RETURNING` (SQLite has one writer at a
  time, so the statement is atomic; FOR UPDATE is not rendered).
`claimed_by` names the claim, not only the process (`Claims.token`): every
later write is conditional on it (`message_log.settle_claimed`,
`finish_reminder`), so a claim that lost its lease, even to this same
process, changes nothing any more."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from app import clock
from app.config import Settings
from app.db import sqlite_writer
from app.domain import message_log
from app.models import Message, MessageStatus, Person, Reminder, ReminderStatus

log = logging.getLogger("hen.dispatcher")

_reminders = Reminder.__table__
_messages = Message.__table__
_c = _messages.c


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    phone: str
    text: str
    kind: str
    attempts: int  # including this one
    claim: str  # `claimed_by` of this claim: the row is ours while it still says so
    claimed_until: datetime


def _due(table, condition, order_by, limit: int):
    """`id IN (SELECT id … ORDER BY … LIMIT n FOR UPDATE SKIP LOCKED)`."""
    return table.c.id.in_(
        select(table.c.id).where(condition).order_by(order_by).limit(limit).with_for_update(skip_locked=True)
    )


def _claiming(where):
    """The UPDATE that claims the messages matching `where` (`claim_token`,
    `claim_lease`, `claim_now` bound when run)."""
    return (
        update(_messages)
        .where(where)
        .values(
            status=MessageStatus.sending,
            claimed_by=bindparam("claim_token"),
            claimed_until=bindparam("claim_lease"),
            attempts=_c.attempts + 1,
            updated_at=bindparam("claim_now"),
        )
        .returning(_c.id, _c.phone, _c.text, _c.kind, _c.attempts, _c.created_at)
    )


# these ids, if still queued and due (never ahead of a back-off); `:ids` expands to a list
_CLAIM_QUEUED_IDS = _claiming(
    and_(
        _c.id.in_(bindparam("ids", expanding=True)),
        _c.status == MessageStatus.queued,
        or_(_c.next_attempt_at.is_(None), _c.next_attempt_at <= bindparam("claim_now")),
    )
)
_SKIP_OPTED_OUT = (
    update(_messages)
    .where(_c.id.in_(bindparam("ids", expanding=True)), _c.claimed_by == bindparam("claim_token"))
    .values(
        status=MessageStatus.skipped,
        error="opted_out",
        claimed_by=None,
        claimed_until=None,
        attempts=_c.attempts - 1,  # not an attempt
    )
)
_OPTED_OUT_AT = select(Person.phone, Person.opted_out_at).where(
    Person.phone.in_(bindparam("phones", expanding=True)), Person.opted_out.is_(True)
)


def _opted_out_since_queued(conn, rows) -> set[int]:
    """Ids of the claimed message rows whose phone opted out after the row
    was queued. A row queued later (the STOP confirmation) still goes."""
    phones = sorted({r.phone for r in rows})
    if not phones:
        return set()
    since = dict(conn.execute(_OPTED_OUT_AT, {"phones": phones}).all())
    return {
        r.id for r in rows if r.phone in since and (since[r.phone] is None or r.created_at < since[r.phone])
    }


class Claims:
    """Claims of one dispatcher process (`worker_id`), each with its own token."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings):
        self.factory = factory
        self.settings = settings
        self.worker_id = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._count = itertools.count(1)

    def token(self) -> str:
        """`claimed_by` for one claiming statement: the process, and which of
        its claims. A row re-claimed after its lease ran out (even by this
        process) is then no longer the old claim's, so the old claim's late
        result or release changes nothing."""
        return f"{self.worker_id}.{next(self._count)}"

    def lease(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.claim_lease_seconds)

    def send_by(self, row: ClaimedMessage) -> datetime:
        """The last moment to start the gateway call for a claimed row: the
        call (at most GATEWAY_TIMEOUT_SECONDS) and its result must fit in the
        lease, or another claim could send the row a second time."""
        s = self.settings
        margin = min(s.gateway_timeout_seconds + 5, s.claim_lease_seconds / 2)
        return row.claimed_until - timedelta(seconds=margin)

    # ------------------------------------------------------------ messages

    def queued(self, ids: list[int]) -> list[ClaimedMessage]:
        """Claim these messages if they are still queued and due."""
        return self._claim(_CLAIM_QUEUED_IDS, clock.now(), ids=ids)

    def due_messages(self, limit: int) -> list[ClaimedMessage]:
        """Claim up to `limit` due messages: leases of dead processes (and
        queued rows without a time) first, then by due time. A dead
        process's row whose gateway call had begun is settled instead
        (`message_log.settle_interrupted`)."""
        limit = min(limit, self.settings.dispatch_batch_size)
        now = clock.now()
        with sqlite_writer(self.settings), self.factory() as session:
            message_log.settle_interrupted(session, now)  # died during the call: never sent twice
            session.commit()
        stale = or_(
            and_(_c.status == MessageStatus.sending, _c.claimed_until < now),
            and_(_c.status == MessageStatus.queued, _c.next_attempt_at.is_(None)),
        )
        rows = self._claim(_claiming(_due(_messages, stale, _c.id, limit)), now)
        if len(rows) < limit:
            due = and_(_c.status == MessageStatus.queued, _c.next_attempt_at <= now)
            rows += self._claim(_claiming(_due(_messages, due, _c.next_attempt_at, limit - len(rows))), now)
        return rows

    def _claim(self, claiming, now: datetime, **params) -> list[ClaimedMessage]:
        """Run one claiming UPDATE in a transaction of its own and, in the
        same transaction, skip the claimed rows whose phone opted out after
        they were queued (STOP came while a reminder waited for the morning
        or a retry for its back-off). Returns the rows to send."""
        token, lease = self.token(), self.lease(now)
        with sqlite_writer(self.settings), self.factory() as session:
            conn = session.connection()
            rows = conn.execute(
                claiming, {**params, "claim_token": token, "claim_lease": lease, "claim_now": now}
            ).all()
            opted_out = _opted_out_since_queued(conn, rows)
            if opted_out:
                conn.execute(_SKIP_OPTED_OUT, {"ids": sorted(opted_out), "claim_token": token})
                log.info("opted out after queueing: skipped", extra={"count": len(opted_out)})
            session.commit()
        return [
            ClaimedMessage(r.id, r.phone, r.text, r.kind, r.attempts, token, lease)
            for r in rows
            if r.id not in opted_out
        ]

    # ------------------------------------------------------------ reminders

    def due_reminders(self, limit: int) -> list:
        """Claim up to `limit` due reminders (expired leases first); returns
        their rows as claimed."""
        now = clock.now()
        c = _reminders.c
        values = dict(
            status=ReminderStatus.claimed,
            claimed_by=self.token(),
            claimed_until=self.lease(now),
            attempts=c.attempts + 1,
        )
        rows: list = []
        with self.factory() as session:
            conn = session.connection()
            for condition, order_by in (
                (and_(c.status == ReminderStatus.claimed, c.claimed_until < now), c.id),
                (and_(c.status == ReminderStatus.pending, c.due_at <= now), c.due_at),
            ):
                if len(rows) >= limit:
                    break
                stmt = (
                    update(_reminders)
                    .where(_due(_reminders, condition, order_by, limit - len(rows)))
                    .values(**values)
                    .returning(*_reminders.c)
                )
                rows += conn.execute(stmt).all()
            session.commit()
        return rows


def finish_reminder(session: Session, r, keep_claim: bool = False, **values) -> bool:
    """Write `values` on the claimed reminder `r` (its row as claimed) and
    end the claim, conditional on the claim still being ours: True when it
    was. `keep_claim`: only check (and lock) the row, change nothing."""
    c = _reminders.c
    values = (
        {"claimed_until": c.claimed_until}
        if keep_claim
        else dict(claimed_by=None, claimed_until=None, **values)
    )
    result = session.connection().execute(
        update(_reminders)
        .where(c.id == r.id, c.status == ReminderStatus.claimed, c.claimed_by == r.claimed_by)
        .values(**values)
    )
    return result.rowcount == 1


def release_reminders(session: Session, rows: list) -> None:
    """Hand claimed, unsettled reminders back (not counted as an attempt)."""
    c = _reminders.c
    session.connection().execute(
        update(_reminders)
        .where(
            c.id.in_([r.id for r in rows]),
            c.status == ReminderStatus.claimed,
            c.claimed_by.in_(sorted({r.claimed_by for r in rows})),
        )
        .values(status=ReminderStatus.pending, claimed_by=None, claimed_until=None, attempts=c.attempts - 1)
    )
    log.info("reminders released", extra={"count": len(rows)})
