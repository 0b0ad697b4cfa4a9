"""The outbox: every outbound SMS is a Message row (status `queued`) before
any gateway call. Opt-out is enforced here, once, for every kind of message:
a phone that sent STOP gets nothing but the STOP confirmation (`force=True`)."""

from __future__ import annotations

from sqlmodel import Session

from app import clock
from app.domain.people import is_opted_out
from app.messages import count_segments, render
from app.models import Channel, Direction, Message, MessageKind, MessageStatus


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
) -> Message:
    """Store one outbound message. Returns the row, with status `queued`, or
    `skipped` (error `opted_out`) when the phone opted out and `force` is
    not set. The caller's transaction commits it."""
    info = count_segments(text)
    now = clock.now()
    skipped = not force and is_opted_out(session, phone)
    message = Message(
        direction=Direction.outbound,
        kind=kind,
        phone=phone,
        text=text,
        status=MessageStatus.skipped if skipped else MessageStatus.queued,
        channel=Channel.sms,
        language=language,
        segments=info.segments,
        encoding=info.encoding,
        in_reply_to=in_reply_to,
        reminder_id=reminder_id,
        next_attempt_at=None if skipped else now,
        error="opted_out" if skipped else None,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    session.flush()
    return message


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
) -> Message:
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
