"""The SMS keyword router: an inbound SMS in, its replies queued in the outbox.

`handle_inbound_sms` stores the inbound message (once per gateway id: the
unique index on `message.external_id` decides, in one INSERT .. ON CONFLICT
DO NOTHING), finds the keyword (`app.channels.keywords`), resolves the
caller's role and calls the handler registered with `@handles` for that
keyword and role. Handlers reply through `SmsContext.reply`, which renders a
catalogue key in the caller's language and applies the auto-reply cap.
The caller (the webhook route) commits, then sends `reply_ids`.

Nothing here keeps state in process memory: CLINIC paging is derived from
the phone's last CLINIC and the MOREs after it in the message log, the
auto-reply cap from the replies of the last hour.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from app import clock
from app.channels.keywords import ALIASES, KeywordMatch, parse_keyword
from app.config import Settings
from app.domain import appointments, audit, clinics, message_log, reminders
from app.domain.errors import DomainError
from app.domain.message_log import QueuedMessage
from app.domain.message_log import queue as queue_message
from app.domain.people import Caller, resolve_caller, set_language, set_opt_out
from app.domain.phones import mask_phone
from app.domain.text import fold
from app.messages import UnknownMessageKey, count_segments, languages, render
from app.models import Clinic, MessageKind, MessageStatus, Role

log = logging.getLogger("hen.sms")

MAX_REPLY_SEGMENTS = 2
PAGING_WINDOW = timedelta(hours=24)  # MORE continues a CLINIC listing of the last day
REPLY_CAP_ERROR = "reply_cap"


# ---------------------------------------------------------------- results and context


@dataclass
class InboundResult:
    message_id: int  # the stored inbound message (the first copy's, for a duplicate)
    reply_ids: list[int]
    duplicate: bool


@dataclass
class SmsContext:
    """What a keyword handler gets: the caller, the text after the keyword
    and ways to answer. Handlers raise DomainError for a refusal: the router
    answers with the error's catalogue key and keeps what the domain wrote
    (e.g. the audit of a wrong code); any other exception rolls the whole
    transaction back, and the inbound message is stored again with the reply
    `error.generic`."""

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

    def reply(self, key: str, *, force: bool = False, capped: bool = True, **values) -> QueuedMessage:
        """Queue the catalogue text `key` to the caller, in their language."""
        return self.reply_text(render(key, self.language, **values), force=force, capped=capped)

    def reply_text(self, text: str, *, force: bool = False, capped: bool = True) -> QueuedMessage:
        """Queue an already rendered reply (subject to opt-out unless `force`,
        and to the auto-reply cap unless `capped=False`). The cap guards
        against loops with unknown robots: it applies to clients only, since
        a registered worker or clinic desk needs every answer (a capped REF
        reply would leave the worker without the code just issued)."""
        capped = capped and self.caller.role == Role.client and (force or not self.caller.opted_out)
        over_cap = capped and self._over_cap()
        message = queue_message(
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
        if message.status == MessageStatus.queued:
            self.reply_ids.append(message.id)
            self._recent_replies = (self._recent_replies or 0) + 1
        return message

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


# ---------------------------------------------------------------- registry

Handler = Callable[[SmsContext], None]
_HANDLERS: dict[str, list[tuple[frozenset[Role] | None, Handler]]] = {}


def handles(keyword: str, roles: Iterable[Role] | None = None) -> Callable[[Handler], Handler]:
    """Register `fn(ctx)` for a canonical keyword, for `roles` (None: anyone).
    A role-specific handler wins over an anyone handler."""
    if keyword not in ALIASES:
        raise ValueError(f"unknown keyword {keyword!r}; add it to app/channels/keywords.py")
    role_set = frozenset(roles) if roles else None

    def register(fn: Handler) -> Handler:
        entries = _HANDLERS.setdefault(keyword, [])
        entries[:] = [(r, f) for r, f in entries if r != role_set]
        entries.append((role_set, fn))
        return fn

    return register


def handler_for(keyword: str, role: Role) -> Handler | None:
    entries = _HANDLERS.get(keyword, [])
    for roles, fn in entries:
        if roles is not None and role in roles:
            return fn
    for roles, fn in entries:
        if roles is None:
            return fn
    return None


# ---------------------------------------------------------------- entry point


def handle_inbound_sms(
    session: Session,
    settings: Settings,
    *,
    phone: str,
    text: str,
    external_id: str | None,
    shortcode: str | None = None,
    link_id: str | None = None,
    network_code: str | None = None,
    received_at: datetime | None = None,
    rollback_on_error: bool = True,
) -> InboundResult:
    """Store one inbound SMS of `phone` (E.164) and queue its replies, in
    `session`'s transaction, which the caller then commits (call it on a
    fresh session: after a handler bug the transaction is rolled back and
    the message stored again with a polite error reply; with
    `rollback_on_error=False` the error is raised instead, for a caller that
    handles several messages in one transaction and retries them alone).

    A gateway id already stored is a duplicate: nothing is written or
    queued, the first copy is returned."""
    # PostgreSQL text holds neither NUL nor a lone surrogate (argv of the simulator)
    text = (text or "").replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    match = parse_keyword(text)
    caller = resolve_caller(session, phone, settings.default_language)
    values = dict(
        phone=phone,
        text=text,
        language=caller.language,
        keyword=match.keyword,
        external_id=external_id,
        shortcode=shortcode,
        link_id=link_id,
        network_code=network_code,
        received_at=received_at,
    )
    inbound_id = message_log.store_inbound(session, **values)
    if inbound_id is None:
        return _duplicate(session, phone, external_id)
    ctx = SmsContext(session, settings, caller, match.args, inbound_id, match.keyword, match)
    try:
        _route(ctx)
    except Exception:
        if not rollback_on_error:
            raise
        # a bug, or a database error inside a handler: keep nothing it wrote
        log.exception("sms handler failed", extra={"keyword": match.keyword, "phone": mask_phone(phone)})
        session.rollback()
        inbound_id = message_log.store_inbound(session, **values)
        if inbound_id is None:
            return _duplicate(session, phone, external_id)
        ctx = SmsContext(session, settings, caller, match.args, inbound_id, match.keyword, match)
        ctx.reply("error.generic")
    log.info(
        "inbound sms",
        extra={
            "phone": mask_phone(phone),
            "role": caller.role.value,
            "keyword": match.keyword,
            "replies": len(ctx.reply_ids),
        },
    )
    return InboundResult(inbound_id, ctx.reply_ids, False)


def _duplicate(session: Session, phone: str, external_id: str | None) -> InboundResult:
    existing = message_log.inbound_id(session, external_id)
    log.info("duplicate inbound sms", extra={"phone": mask_phone(phone), "external_id": external_id})
    return InboundResult(existing, [], True)


def _route(ctx: SmsContext) -> None:
    keyword = ctx.keyword
    if keyword is None:
        ctx.reply("sms.unknown")
        return
    fn = handler_for(keyword, ctx.caller.role)
    if fn is None:
        # a keyword of another role (a client sending REF): the help of theirs
        reply_help(ctx)
        return
    try:
        fn(ctx)
    except DomainError as exc:
        # a refusal: keep what the domain wrote (e.g. the audit of a wrong code)
        ctx.reply_error(exc)


# ---------------------------------------------------------------- handlers for anyone


def reply_help(ctx: SmsContext) -> QueuedMessage:
    return ctx.reply(f"sms.help_{ctx.caller.role.value}")


@handles("HELP")
def _help(ctx: SmsContext) -> None:
    reply_help(ctx)


@handles("STOP")
def _stop(ctx: SmsContext) -> None:
    if ctx.caller.opted_out:
        return  # one confirmation, then nothing
    set_opt_out(ctx.session, ctx.caller.phone, True)
    audit.record(
        ctx.session, audit.phone_actor(ctx.caller.phone), "person.opt_out", "person", None, channel="sms"
    )
    ctx.caller = dataclasses.replace(ctx.caller, opted_out=True)
    # exempt from the cap: sent once per opt-out, so it cannot loop
    ctx.reply("sms.stop_confirm", force=True, capped=False)


@handles("START")
def _start(ctx: SmsContext) -> None:
    if ctx.caller.opted_out:
        set_opt_out(ctx.session, ctx.caller.phone, False)
        audit.record(
            ctx.session, audit.phone_actor(ctx.caller.phone), "person.opt_in", "person", None, channel="sms"
        )
        ctx.caller = dataclasses.replace(ctx.caller, opted_out=False)
    ctx.reply("sms.start_confirm")


def _alnum_key(text: str) -> str:
    return "".join(ch for ch in fold(text) if ch.isalnum())


def _language_named(text: str) -> str | None:
    """The shipped language `text` names: its code (`vi-ascii`, `en`) or its
    name in its own catalogue (`English`, `Tiếng Việt`, `tieng viet khong dau`)."""
    word = _alnum_key(text)
    if not word:
        return None
    for language in languages():
        names = (language, render("sms.language_name", language), render("ussd.language_name", language))
        if word in {_alnum_key(name) for name in names}:
            return language
    return None


@handles("LANG")
def _lang(ctx: SmsContext) -> None:
    language = _language_named(ctx.args)
    if language is None:
        ctx.reply("sms.lang_usage", languages=", ".join(languages()))
        return
    set_language(ctx.session, ctx.caller.phone, language)
    ctx.caller = dataclasses.replace(ctx.caller, language=language)
    ctx.reply("sms.lang_set", name=render("sms.language_name", language))


# ---------------------------------------------------------------- CLINIC and MORE


def _fits(text: str) -> bool:
    return count_segments(text).segments <= MAX_REPLY_SEGMENTS


def _shorten(entry: str, frame: Callable[[str], str]) -> str:
    """Cut one entry until `frame(entry)` fits in the reply's segments."""
    if _fits(frame(entry)):
        return entry
    lo, hi = 0, len(entry)
    while lo < hi:  # longest prefix that fits
        mid = (lo + hi + 1) // 2
        if _fits(frame(entry[:mid].rstrip() + "..")):
            lo = mid
        else:
            hi = mid - 1
    return entry[:lo].rstrip() + ".."


def _address_with_district(clinic: Clinic) -> str:
    """The address, then the district unless the address already names it
    (`108 Ton Duc Thang, Dong Da`, not `..., Dong Da, Dong Da`)."""
    if not clinic.district or fold(clinic.district) in fold(clinic.address or ""):
        return clinic.address
    return f"{clinic.address}, {clinic.district}"


def clinic_pages(found: list[Clinic], language: str) -> list[str]:
    """The listing of `found` cut into replies of at most two segments each,
    every page but the last ending with the MORE hint. Deterministic, so
    page N can be recomputed at any time."""
    header = render("sms.clinic_header", language)
    footer = render("sms.clinic_more", language)
    entries = [
        render(
            "sms.clinic_entry",
            language,
            n=i + 1,
            name=c.display_name,
            address=_address_with_district(c),
            hours=c.hours,
        )
        for i, c in enumerate(found)
    ]

    def page_text(items: list[str], more: bool) -> str:
        return "\n".join([header, *items, *([footer] if more else [])])

    pages: list[str] = []
    i = 0
    while i < len(entries):
        more_after_first = i + 1 < len(entries)
        first = _shorten(entries[i], lambda e, m=more_after_first: page_text([e], m))
        items, j = [first], i + 1
        while j < len(entries) and _fits(page_text([*items, entries[j]], j + 1 < len(entries))):
            items.append(entries[j])
            j += 1
        pages.append(page_text(items, j < len(entries)))
        i = j
    return pages


def _reply_clinic_page(ctx: SmsContext, query: str, page: int) -> None:
    found = clinics.find_clinics(ctx.session, query)
    if not found:
        names = ", ".join(clinics.districts(ctx.session))[:100]
        ctx.reply("sms.clinic_none", districts=names)
        return
    pages = clinic_pages(found, ctx.language)
    if page >= len(pages):
        ctx.reply("sms.clinic_end")
        return
    ctx.reply_text(pages[page])


@handles("CLINIC")
def _clinic(ctx: SmsContext) -> None:
    _reply_clinic_page(ctx, ctx.args, 0)


@handles("MORE")
def _more(ctx: SmsContext) -> None:
    phone = ctx.caller.phone
    last = message_log.last_inbound_with_keyword(ctx.session, phone, "CLINIC", clock.now() - PAGING_WINDOW)
    if last is None:
        ctx.reply("sms.more_none")
        return
    page = message_log.count_inbound_between(ctx.session, phone, "MORE", last.id, ctx.inbound_id)
    _reply_clinic_page(ctx, parse_keyword(last.text).args, page)


# ---------------------------------------------------------------- client APPT


@handles("APPT", roles={Role.client})
def _client_appt(ctx: SmsContext) -> None:
    tz = ctx.settings.tz
    appointment = appointments.next_appointment(ctx.session, ctx.caller.phone)
    if appointment is not None:
        clinic = ctx.session.get(Clinic, appointment.clinic_id)
        at = appointment.starts_at.astimezone(tz)
        ctx.reply(
            "sms.appt_next",
            clinic=clinic.display_name if clinic else "",
            address=clinic.address if clinic else "",
            date=at.strftime("%d/%m/%Y"),
            time=at.strftime("%H:%M"),
        )
        return
    reminder = reminders.next_for_phone(ctx.session, ctx.caller.phone)
    if reminder is not None:
        at = reminder.due_at.astimezone(tz)
        ctx.reply("sms.appt_reminder", date=at.strftime("%d/%m/%Y"), time=at.strftime("%H:%M"))
        return
    ctx.reply("sms.appt_none")
