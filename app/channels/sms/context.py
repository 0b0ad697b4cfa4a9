"""What an SMS keyword handler gets (`SmsContext`) and what handling one
inbound SMS gives back (`InboundResult`).

A handler replies through `SmsContext.reply`, which renders a catalogue key
in the caller's language and applies the auto-reply cap, and raises
DomainError for a refusal: the router answers with the error's catalogue
key and keeps what the domain wrote (e.g. the audit of a wrong code)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlmodel import Session

from app import clock
from app.channels.keywords import KeywordMatch
from app.config import Settings
from app.domain import audit, guesses, message_log
from app.domain.errors import DomainError, MalformedCode, Throttled, UnknownCode
from app.domain.message_log import QueuedMessage
from app.domain.people import Caller
from app.domain.phones import mask_phone
from app.messages import UnknownMessageKey, render
from app.models import MessageKind, MessageStatus, Role

log = logging.getLogger("hen.sms")

REPLY_CAP_ERROR = "reply_cap"
DATE_FORMAT = "%d/%m/%Y"


@dataclass
class InboundResult:
    message_id: int  # the stored inbound message (the first copy's, for a duplicate)
    reply_ids: list[int]
    duplicate: bool


@dataclass
class SmsContext:
    """The caller, the text after the keyword and ways to answer."""

    session: Session
    settings: Settings
    caller: Caller
    args: str
    inbound_id: int  # the stored inbound message
    keyword: str | None = None
    match: KeywordMatch | None = None
    reply_ids: list[int] = field(default_factory=list)
    _recent_replies: int | None = None

    @property
    def language(self) -> str:
        return self.caller.language

    @property
    def actor(self) -> str:
        """The caller as the audit log names them."""
        return audit.phone_actor(self.caller.phone)

    def today(self):
        return clock.now().astimezone(self.settings.tz).date()

    def reply(self, key: str, *, force: bool = False, capped: bool = True, **values) -> QueuedMessage:
        """Queue the catalogue text `key` to the caller, in their language."""
        return self.reply_text(render(key, self.language, **values), force=force, capped=capped)

    def reply_text(self, text: str, *, force: bool = False, capped: bool = True) -> QueuedMessage:
        """Queue an already rendered reply (subject to opt-out unless `force`,
        and to the auto-reply cap unless `capped=False`). The cap guards
        against loops with unknown robots: it applies to clients only, since
        a registered worker or clinic desk needs every answer (a capped REF
        reply would leave the worker without the code just issued)."""
        # a worker or desk that sent STOP still gets the answers to its own
        # keywords (the code just issued, the visit just confirmed): STOP
        # stops what we send unasked
        force = force or self.caller.role != Role.client
        capped = capped and self.caller.role == Role.client and (force or not self.caller.opted_out)
        over_cap = capped and self._over_cap()
        message = message_log.queue(
            self.session,
            phone=self.caller.phone,
            text=text,
            kind=MessageKind.reply,
            language=self.language,
            in_reply_to=self.inbound_id,
            force=force,
            opted_out=self.caller.opted_out,
            skip_reason=REPLY_CAP_ERROR if over_cap else None,
        )
        if over_cap:
            log.warning("auto-reply cap reached", extra={"phone": mask_phone(self.caller.phone)})
            if self._recent_replies == self.settings.auto_reply_limit_per_hour:
                # the first answer over the cap: one notice instead, then silence
                self.reply("sms.reply_cap", capped=False)
        if message.status == MessageStatus.queued:
            self.reply_ids.append(message.id)
            self._recent_replies = (self._recent_replies or 0) + 1
        return message

    def reply_help(self) -> QueuedMessage:
        """The keywords of the caller's role."""
        return self.reply(f"sms.help_{self.caller.role.value}")

    def throttled(self) -> bool:
        """True when this phone sent too many wrong codes: one notice, then silence."""
        try:
            guesses.check_wrong_code_throttle(self.session, self.settings, self.caller.phone)
        except Throttled as exc:
            if exc.values.get("notify"):
                self.reply(exc.key)
            return True
        return False

    @contextmanager
    def counting_wrong_codes(self) -> Iterator[None]:
        """Around a staff keyword that looks a code up (RED, APPT, VOID):
        the domain audits each wrong code; over the wrong-code limit a wrong
        code is answered with the limit's notice (Throttled) instead of what
        was wrong. A valid code always goes through (the client is at the
        counter), until the phone reaches the staff ceiling (three times the
        limit): then no code is looked up for the rest of the hour."""
        guesses.check_staff_ceiling(self.session, self.settings, self.caller.phone)
        try:
            yield
        except (MalformedCode, UnknownCode):
            guesses.check_wrong_code_throttle(self.session, self.settings, self.caller.phone)
            raise

    def reply_error(self, exc: DomainError) -> QueuedMessage:
        try:
            return self.reply(exc.key, **exc.values)
        except (UnknownMessageKey, KeyError, IndexError, ValueError):
            log.warning("no catalogue text for a domain error", extra={"key": exc.key})
            return self.reply("error.generic")

    def _over_cap(self) -> bool:
        if self._recent_replies is None:
            self._recent_replies = message_log.replies_last_hour(self.session, self.caller.phone)
        return self._recent_replies >= self.settings.auto_reply_limit_per_hour


Handler = Callable[[SmsContext], None]
