"""The message log: every write of the `message` row, inbound and outbound.

- an inbound SMS is stored once per (gateway, its message id)
  (`store_inbound`: a unique index decides, in one INSERT .. ON CONFLICT DO
  NOTHING, so two copies arriving at once store one row);
- an outbound SMS is a row queued before any gateway call (`queue`,
  `queue_rendered`); opt-out is enforced here, once, for every kind: a phone
  that sent STOP gets nothing but the STOP confirmation (`force=True`). The
  id is noted on the session, and handed over for sending right after the
  transaction commits (`app.db.hand_over_after_commit`);
- a send result is stored on the row the dispatcher claimed, only while the
  claim is still the row's (`settle_claimed`); a delivery report is
  recorded by gateway id (`record_delivery_report`), or by our id for a
  gateway that numbers messages by ours (`record_status`); queued rows of
  cancelled reminders are skipped (`cancel_queued_of_reminders`);
- and the reads the channels need: the reply-cap count, the CLINIC paging.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import bindparam, case, func, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from app import clock
from app.db import note_queued
from app.domain.people import is_opted_out
from app.domain.phones import mask_phone
from app.domain.text import strip_diacritics
from app.messages import count_segments, render
from app.models import Channel, Direction, Message, MessageKind, MessageStatus

log = logging.getLogger("hen.message_log")

FINAL_STATUSES = frozenset(
    {MessageStatus.delivered, MessageStatus.rejected, MessageStatus.failed, MessageStatus.expired}
)
_FAILED_STATUSES = frozenset({MessageStatus.rejected, MessageStatus.failed, MessageStatus.expired})
ASCII_LANGUAGES = frozenset({"vi-ascii"})  # languages sent without diacritics
_table = Message.__table__
_c = _table.c


@dataclass(frozen=True)
class QueuedMessage:
    """What the outbox stored: the row's id and whether it will be sent
    (`queued`) or not (`skipped`, with the reason in `error`)."""

    id: int
    phone: str
    status: str
    error: str | None


# ---------------------------------------------------------------- inbound


@functools.cache
def _inbound_insert(dialect: str):
    """Built once per dialect (values come as parameters)."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        dialect_insert(_table)
        .on_conflict_do_nothing(index_elements=["gateway", "external_id"])
        .returning(_c.id)
    )


def store_inbound(
    session: Session,
    *,
    phone: str,
    text: str,
    language: str,
    keyword: str | None,
    gateway: str,
    external_id: str | None,
    shortcode: str | None = None,
    link_id: str | None = None,
    network_code: str | None = None,
    received_at: datetime | None = None,
) -> int | None:
    """Store one inbound SMS that came in by `gateway`; its id, or None when
    that gateway's message id is already stored (a duplicate: nothing
    written)."""
    now = clock.now()
    info = count_segments(text)
    values = dict(
        direction=Direction.inbound.value,
        kind=MessageKind.inbound.value,
        phone=phone,
        text=text,
        status=MessageStatus.received.value,
        channel=Channel.sms.value,
        language=language,
        keyword=keyword,
        gateway=gateway,
        external_id=external_id,
        shortcode=shortcode,
        link_id=link_id,
        network_code=network_code,
        segments=info.segments,
        encoding=info.encoding,
        attempts=0,
        created_at=received_at or now,
        updated_at=now,
    )
    return session.execute(_inbound_insert(session.get_bind().dialect.name), values).scalar()


def inbound_id(session: Session, gateway: str, external_id: str | None) -> int:
    """The id of the inbound row stored for a gateway's message id."""
    return session.exec(
        select(Message.id).where(Message.gateway == gateway, Message.external_id == external_id)
    ).one()


_RECENT_REPLIES = select(func.count()).where(
    _c.phone == bindparam("phone"),
    _c.direction == Direction.outbound.value,
    _c.kind == MessageKind.reply.value,
    _c.created_at >= bindparam("since"),
    _c.status != MessageStatus.skipped.value,
)


def replies_last_hour(session: Session, phone: str) -> int:
    """Automatic replies to `phone` in the last hour that were not skipped
    (what the auto-reply cap counts)."""
    since = clock.now() - timedelta(hours=1)
    return session.execute(_RECENT_REPLIES, {"phone": phone, "since": since}).scalar_one()


def last_inbound_with_keyword(session: Session, phone: str, keyword: str, since: datetime) -> Message | None:
    """The latest inbound message of `phone` with `keyword` since `since`."""
    return session.exec(
        select(Message)
        .where(
            Message.phone == phone,
            Message.direction == Direction.inbound,
            Message.keyword == keyword,
            Message.created_at >= since,
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).first()


def count_inbound_between(session: Session, phone: str, keyword: str, after_id: int, upto_id: int) -> int:
    """Inbound messages of `phone` with `keyword` whose id is in (after_id, upto_id]."""
    return session.exec(
        select(func.count())
        .select_from(Message)
        .where(
            Message.phone == phone,
            Message.direction == Direction.inbound,
            Message.keyword == keyword,
            Message.id > after_id,
            Message.id <= upto_id,
        )
    ).one()


# ---------------------------------------------------------------- outbound


_INSERT = insert(_table).returning(_c.id)


def queue(
    session: Session,
    *,
    phone: str,
    text: str,
    kind: MessageKind,
    language: str | None = None,
    in_reply_to: int | None = None,
    reminder_id: int | None = None,
    force: bool = False,
    opted_out: bool | None = None,
    skip_reason: str | None = None,
    hand_over: bool = True,
) -> QueuedMessage:
    """Store one outbound message. Returns what was stored: status `queued`,
    or `skipped` (error `opted_out`) when the phone opted out and `force` is
    not set, or `skipped` with `skip_reason` when the caller decided so (the
    auto-reply cap). `opted_out`: the phone's opt-out when the caller has
    just read it (saves the look-up). The caller's transaction commits it; a
    queued row is then handed over for sending (`hand_over=False`: left to
    the dispatcher's tick, which queued it). A `vi-ascii` text is sent
    without diacritics whatever it holds (a clinic name typed with them),
    so it stays GSM-7 and within its segments."""
    if language in ASCII_LANGUAGES:
        text = strip_diacritics(text)
    info = count_segments(text)
    now = clock.now()
    if force:
        error = None
    elif opted_out if opted_out is not None else is_opted_out(session, phone):
        error = "opted_out"
    else:
        error = skip_reason
    status = MessageStatus.skipped if error else MessageStatus.queued
    values = dict(
        direction=Direction.outbound.value,
        kind=kind.value if isinstance(kind, MessageKind) else kind,
        phone=phone,
        text=text,
        status=status.value,
        channel=Channel.sms.value,
        language=language,
        segments=info.segments,
        encoding=info.encoding,
        in_reply_to=in_reply_to,
        reminder_id=reminder_id,
        attempts=0,
        next_attempt_at=None if error else now,
        error=error,
        created_at=now,
        updated_at=now,
    )
    # one Core statement: the model's validating constructor and the ORM's
    # flush were most of the cost of queueing a reply
    new_id = session.execute(_INSERT, values).scalar_one()
    if status == MessageStatus.queued and hand_over:
        note_queued(session, new_id)
    return QueuedMessage(new_id, phone, status.value, error)


def queue_rendered(
    session: Session,
    *,
    phone: str,
    key: str,
    language: str,
    kind: MessageKind,
    in_reply_to: int | None = None,
    force: bool = False,
    **values,
) -> QueuedMessage:
    """`queue` with the text rendered from the catalogue."""
    return queue(
        session,
        phone=phone,
        text=render(key, language, **values),
        kind=kind,
        language=language,
        in_reply_to=in_reply_to,
        force=force,
    )


def cancel_queued_of_reminders(session: Session, reminder_ids, reason: str) -> None:
    """Skip the rows still queued for these reminders (ids or a subquery)."""
    session.exec(
        update(Message)
        .where(Message.reminder_id.in_(reminder_ids), Message.status == MessageStatus.queued)
        .values(status=MessageStatus.skipped, error=f"cancelled: {reason}"[:500], updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- send results and delivery reports


def settle_claimed(session: Session, message_id: int, claim: str, **values) -> bool:
    """Store a claimed row's send result (`values`: columns, or SQL such as
    `attempts - 1`) and end the claim, only if the row is still under
    `claim`: False when the lease was lost (another claim has it). A
    delivery report that came in before the send's own answer was stored
    (Kannel's can) keeps the status it set."""
    status = values.pop("status", None)
    if status is not None:
        values["status"] = case((Message.status == MessageStatus.sending, status), else_=Message.status)
    result = session.exec(
        update(Message)
        .where(Message.id == message_id, Message.claimed_by == claim)
        .values(claimed_by=None, claimed_until=None, submitted_at=None, updated_at=clock.now(), **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def mark_submitted(session: Session, message_id: int, claim: str, *, gateway: str) -> bool:
    """Note that the gateway call for a claimed row begins now (the caller
    commits before calling), only if the row is still under `claim`: False
    when the lease was lost, and then the call must not be made. A claim
    that dies after this is never sent again (`settle_interrupted`)."""
    now = clock.now()
    result = session.exec(
        update(Message)
        .where(Message.id == message_id, Message.claimed_by == claim, Message.status == MessageStatus.sending)
        .values(submitted_at=now, gateway=gateway, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


INTERRUPTED = "unconfirmed: the sender stopped during the gateway call; not sent again"


def settle_interrupted(session: Session, now: datetime) -> int:
    """Settle the rows whose claim ran out during a gateway call (the
    process died between the call and storing its result): the gateway may
    have taken them, so they are `sent` (noted `INTERRUPTED`), never sent a
    second time; a delivery report may still follow. Returns how many."""
    stuck = sa.and_(
        Message.status == MessageStatus.sending,
        Message.claimed_until < now,
        Message.submitted_at.is_not(None),
    )
    result = session.exec(
        update(Message)
        .where(stuck)
        .values(
            status=MessageStatus.sent,
            error=INTERRUPTED,
            sent_at=Message.submitted_at,
            submitted_at=None,
            claimed_by=None,
            claimed_until=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        log.warning("interrupted sends settled without sending again", extra={"count": result.rowcount})
    return result.rowcount


def _digits(phone: str) -> str:
    return "".join(c for c in phone if c.isdigit())


def record_delivery_report(
    session: Session,
    *,
    status: MessageStatus,
    gateway_id: str | None = None,
    message_id: int | None = None,
    gateway: str | None = None,
    failure_reason: str | None = None,
    phone: str | None = None,
) -> Message | None:
    """Record a delivery report on the outbound message with `gateway_id`
    (the gateway's id), or with our `message_id` and the `gateway` that
    reports by the sender's id (Kannel: a message it took, or one still
    being handed to it, whose result is not stored yet). Returns the message, or None when there is no
    such message (logged: the gateway retries reports it does not get a 200
    for, so the caller still answers 200). A late intermediate report
    or final one (`failed` after `delivered`) never overwrites a final status.
    A report naming `phone` (the handset it reached) for a message sent to
    another number is ignored (None, logged): it is not that message's."""
    if message_id is not None:  # the gateway is noted before its call (`mark_submitted`)
        found = sa.and_(Message.id == message_id, Message.gateway == gateway)
    else:
        found = Message.gateway_id == gateway_id
    message = session.exec(select(Message).where(found, Message.direction == Direction.outbound)).first()
    if message is None:
        log.warning(
            "delivery report for an unknown message",
            extra={"gateway_id": (gateway_id or str(message_id))[:128], "status": str(status)},
        )
        return None
    if phone and _digits(phone) != _digits(message.phone):
        log.warning(
            "delivery report for another phone",
            extra={"message_id": message.id, "phone": mask_phone(phone), "status": str(status)},
        )
        return None
    conditions = [Message.id == message.id, Message.status.not_in([s.value for s in FINAL_STATUSES])]
    values = {"status": status.value, "updated_at": clock.now()}
    if failure_reason and status in _FAILED_STATUSES:
        values["error"] = failure_reason[:500]
    session.exec(update(Message).where(*conditions).values(**values))
    session.refresh(message)
    log.info(
        "delivery report",
        extra={"phone": mask_phone(message.phone), "message_id": message.id, "status": message.status},
    )
    return message


def record_status(
    session: Session, *, message_id: int, gateway: str, status: MessageStatus, reason: str | None = None
) -> str:
    """Record a status `gateway` reports for one of our outbound messages
    by our id (a gateway that numbers messages by ours: medic-gateway), and
    end any claim on it. Returns what happened: `recorded`, `unknown` (no
    outbound message of ours with that id went out through `gateway`),
    `repeated` (the status it already has) or `final` (it has a final status,
    which nothing overwrites). Only `recorded` wrote anything; the others are
    logged: a gateway resends what it gets no 200 for, so the caller still
    answers 200. A failure keeps `reason` in `error`; any other status notes
    when the message left (`sent_at`, if not yet)."""
    where = (_c.id == message_id, _c.gateway == gateway, _c.direction == Direction.outbound.value)
    current = session.execute(select(_c.status, _c.phone).where(*where)).first()
    extra = {"message_id": message_id, "gateway": gateway, "status": str(status)}
    if current is None:
        log.warning("status for an unknown message", extra=extra)
        return "unknown"
    extra["phone"] = mask_phone(current.phone)
    if current.status in FINAL_STATUSES or current.status == status:
        outcome = "final" if current.status in FINAL_STATUSES else "repeated"
        log.info(f"status {outcome}: not recorded", extra={**extra, "stored": current.status})
        return outcome
    now = clock.now()
    values: dict = {"status": status.value, "claimed_by": None, "claimed_until": None, "updated_at": now}
    if status in _FAILED_STATUSES:
        values["error"] = (reason or str(status))[:500]
    else:
        values["sent_at"] = func.coalesce(_c.sent_at, now)
    result = session.execute(
        update(_table)
        .where(*where, _c.status.not_in([s.value for s in FINAL_STATUSES]), _c.status != status.value)
        .values(**values)
    )
    if result.rowcount != 1:  # changed meanwhile, by another request of the gateway
        log.info("status changed meanwhile: not recorded", extra=extra)
        return "repeated"
    log.info("status recorded", extra=extra)
    return "recorded"
