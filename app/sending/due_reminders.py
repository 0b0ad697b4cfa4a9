"""Due reminders become outbound messages.

A batch of claimed reminders is settled in one transaction, each in its own
savepoint (atomic on its own; a failing one never takes the others down):
invalid phone or unknown text key -> `failed`; opted out -> `skipped`; no
longer relevant (code redeemed, appointment cancelled or past) -> `skipped`;
inside quiet hours -> back to `pending`, due when they end; otherwise the
text is rendered in the person's language and queued in the message log,
and the reminder is `sent`. Every write is conditional on the claim still
being ours, so a reminder cancelled meanwhile queues nothing. If the
process dies before the commit, the batch stays claimed and is taken again
after the lease: nothing was queued, nothing is lost."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from app import clock
from app.config import Settings
from app.domain import message_log
from app.domain import reminders as reminder_rules
from app.domain.phones import mask_phone, try_normalize_phone
from app.messages import UnknownMessageKey
from app.models import MessageKind, MessageStatus, Person, Reminder, ReminderStatus
from app.sending.claims import Claims, finish_reminder, release_reminders
from app.sending.pacing import quiet_until

log = logging.getLogger("hen.dispatcher")


class _Lost(Exception):
    """The claim on a row is no longer ours (cancelled or re-claimed)."""


class DueReminders:
    def __init__(
        self, factory: sessionmaker[Session], settings: Settings, claims: Claims, stop: threading.Event
    ):
        self.factory = factory
        self.settings = settings
        self.claims = claims
        self.stop = stop

    def convert(self, limit: int) -> int:
        """Claim up to `limit` due reminders and settle them. Returns how
        many were claimed."""
        rows = self.claims.due_reminders(limit)
        if rows:
            self.settle(rows)
        return len(rows)

    def settle(self, rows: list) -> None:
        """Settle claimed reminders (their rows as claimed), in one transaction."""
        region = self.settings.default_region
        numbers = {r.id: try_normalize_phone(r.phone, region) for r in rows}
        outcomes: list[tuple[object, str, str | None]] = []
        with self.factory() as session:
            wanted = {n for n in numbers.values() if n}
            # language and opt-out of the whole batch in one query (people.resolve_caller's rule)
            people = {p.phone: p for p in session.scalars(select(Person).where(Person.phone.in_(wanted)))}
            for n, row in enumerate(rows):
                if self.stop.is_set():
                    release_reminders(session, rows[n:])
                    break
                phone = numbers[row.id]
                try:
                    with session.begin_nested():
                        if self.settings.is_sqlite and not finish_reminder(session, row, keep_claim=True):
                            # the write lock first (a read-then-write transaction in WAL can
                            # only fail with `database is locked` if a writer slipped in)
                            raise _Lost
                        outcome, detail = self._settle_one(session, row, phone, people.get(phone))
                except _Lost:
                    outcome, detail = "lost", "cancelled or re-claimed meanwhile"
                except Exception as exc:  # never let one row block the queue
                    log.exception("reminder failed", extra={"reminder_id": row.id})
                    outcome, detail = "failed", f"error: {type(exc).__name__}"
                    with session.begin_nested():
                        finish_reminder(session, row, status=ReminderStatus.failed, last_error=detail)
                outcomes.append((row, outcome, detail))
            session.commit()
        for row, outcome, detail in outcomes:
            level = logging.INFO if outcome in ("sent", "pending") else logging.WARNING
            log.log(
                level,
                f"reminder {outcome}",
                extra={
                    "reminder_id": row.id,
                    "kind": row.kind,
                    "phone": mask_phone(row.phone),
                    "detail": detail,
                },
            )

    def _settle_one(
        self, session: Session, r, phone: str | None, person: Person | None
    ) -> tuple[str, str | None]:
        """Decide one claimed reminder (`r`: its row as claimed) and write the
        decision, conditional on the claim still being ours (else `_Lost`,
        which rolls the savepoint back). Returns (outcome, detail) for the log."""
        now = clock.now()
        s = self.settings

        def finish(status: ReminderStatus, reason: str | None, **values) -> tuple[str, str | None]:
            if not finish_reminder(session, r, status=status, last_error=reason, **values):
                raise _Lost
            return str(status), reason

        if phone is None:
            return finish(ReminderStatus.failed, "invalid_phone")
        language = (person.language if person and person.language else None) or s.default_language
        if person is not None and person.opted_out:
            return finish(ReminderStatus.skipped, "opted_out")
        stale = reminder_rules.stale_reason(session, r, now, s)
        if stale:
            return finish(ReminderStatus.skipped, stale)
        try:
            text = reminder_rules.render_reminder(r, language)
        except UnknownMessageKey:
            return finish(ReminderStatus.failed, f"unknown_text_key: {r.text_key}")
        except (KeyError, IndexError, ValueError) as exc:
            return finish(ReminderStatus.failed, f"bad_params: {exc}")
        until = quiet_until(now, s.quiet_window, s.tz)
        if until is not None:  # not an attempt: back to pending, due when the quiet hours end
            return finish(ReminderStatus.pending, None, due_at=until, attempts=Reminder.attempts - 1)
        message = message_log.queue(
            session,
            phone=phone,
            text=text,
            kind=MessageKind.reminder,
            language=language,
            reminder_id=r.id,
            hand_over=False,  # the tick that queued it sends it
        )
        if message.status == MessageStatus.skipped:  # opted out a moment ago: the log said no
            return finish(ReminderStatus.skipped, message.error or "opted_out")
        return finish(ReminderStatus.sent, None, sent_at=now)
