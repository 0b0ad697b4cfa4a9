"""The outbox: every outbound SMS is a Message row (status `queued`) before
any gateway call. Opt-out is enforced here, once, for every kind of message:
a phone that sent STOP gets nothing but the STOP confirmation (`force=True`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert
from sqlmodel import Session

from app import clock
from app.domain.people import is_opted_out
from app.messages import count_segments, render
from app.models import Channel, Direction, Message, MessageKind, MessageStatus


@dataclass(frozen=True)
class QueuedMessage:
    """What the outbox stored: the row's id and whether it will be sent
    (`queued`) or not (`skipped`, with the reason in `error`)."""

    id: int
    phone: str
    status: str
    error: str | None


_INSERT = insert(Message.__table__).returning(Message.__table__.c.id)


def queue_message(
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
) -> QueuedMessage:
    """Store one outbound message. Returns what was stored: status `queued`, or
    `skipped` (error `opted_out`) when the phone opted out and `force` is
    not set, or `skipped` with `skip_reason` when the caller decided so
    (the auto-reply cap). `opted_out`: the phone's opt-out when the caller
    has just read it (saves the look-up). The caller's transaction commits it."""
    info = count_segments(text)
    now = clock.now()
    if force:
        error = None
    elif opted_out if opted_out is not None else is_opted_out(session, phone):
        error = "opted_out"
    else:
        error = skip_reason
    values = dict(
        direction=Direction.outbound.value,
        kind=kind.value if isinstance(kind, MessageKind) else kind,
        phone=phone,
        text=text,
        status=(MessageStatus.skipped if error else MessageStatus.queued).value,
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
    return QueuedMessage(new_id, phone, values["status"], error)


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
    """`queue_message` with the text rendered from the catalogue."""
    return queue_message(
        session,
        phone=phone,
        text=render(key, language, **values),
        kind=kind,
        language=language,
        in_reply_to=in_reply_to,
        force=force,
    )
