"""The SMS keyword router: an inbound SMS in, its replies queued.

`handle_inbound_sms` stores the inbound message (once per gateway id: the
database decides, in one INSERT .. ON CONFLICT DO NOTHING), finds the
keyword (`app.channels.keywords`), resolves the caller's role and calls the
handler this module's table names for that keyword and role: the role's
own handler first, else the one for anyone. The caller (the webhook route)
commits; the replies are handed over for sending by that commit.

Nothing here keeps state in process memory: CLINIC paging is derived from
the message log, the auto-reply cap from the replies of the last hour."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from app.channels.keywords import ALIASES, parse_keyword
from app.channels.sms import anyone, client, clinic, worker
from app.channels.sms.context import Handler, InboundResult, SmsContext
from app.config import Settings
from app.domain import message_log
from app.domain.errors import DomainError
from app.domain.people import resolve_caller
from app.domain.phones import mask_phone
from app.models import Role

log = logging.getLogger("hen.sms")

# keyword -> handler, per role (None: anyone)
HANDLERS: dict[Role | None, dict[str, Handler]] = {
    None: anyone.HANDLERS,
    Role.client: client.HANDLERS,
    Role.worker: worker.HANDLERS,
    Role.clinic: clinic.HANDLERS,
}
_unknown = {k for table in HANDLERS.values() for k in table} - set(ALIASES)
if _unknown:  # a handler for a keyword the parser never finds
    raise ValueError(f"keywords without aliases in app/channels/keywords.py: {sorted(_unknown)}")


INACTIVE_KEYS = {Role.worker: "codes.worker_inactive", Role.clinic: "codes.staff_inactive"}


def handler_for(keyword: str, role: Role) -> Handler | None:
    """The handler of `keyword` for `role`: the role's own, else anyone's."""
    return HANDLERS[role].get(keyword) or HANDLERS[None].get(keyword)


def handle_inbound_sms(
    session: Session,
    settings: Settings,
    *,
    phone: str,
    text: str,
    external_id: str | None,
    gateway: str = "africastalking",
    shortcode: str | None = None,
    link_id: str | None = None,
    network_code: str | None = None,
    received_at: datetime | None = None,
) -> InboundResult:
    """Store one inbound SMS of `phone` (E.164) that came in by `gateway`
    (its message id there: `external_id`) and queue its replies, in
    `session`'s transaction, which the caller then commits (call it on a
    fresh session: after a handler bug the transaction is rolled back and
    the message stored again with a polite error reply).

    A message id already stored for that gateway is a duplicate: nothing is written or
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
        gateway=gateway,
        external_id=external_id,
        shortcode=shortcode,
        link_id=link_id,
        network_code=network_code,
        received_at=received_at,
    )
    inbound_id = message_log.store_inbound(session, **values)
    if inbound_id is None:
        return _duplicate(session, phone, gateway, external_id)
    ctx = SmsContext(session, settings, caller, match.args, inbound_id, match.keyword, match)
    try:
        _route(ctx)
    except Exception:
        # a bug, or a database error inside a handler: keep nothing it wrote
        log.exception("sms handler failed", extra={"keyword": match.keyword, "phone": mask_phone(phone)})
        session.rollback()
        inbound_id = message_log.store_inbound(session, **values)
        if inbound_id is None:
            return _duplicate(session, phone, gateway, external_id)
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


def _duplicate(session: Session, phone: str, gateway: str, external_id: str | None) -> InboundResult:
    existing = message_log.inbound_id(session, gateway, external_id)
    log.info(
        "duplicate inbound sms",
        extra={"phone": mask_phone(phone), "gateway": gateway, "external_id": external_id},
    )
    return InboundResult(existing, [], True)


def _route(ctx: SmsContext) -> None:
    keyword = ctx.keyword
    if keyword is None:
        anyone.unknown(ctx)
        return
    fn = handler_for(keyword, ctx.caller.role)
    former = ctx.caller.former
    if former is not None and keyword in HANDLERS[former] and (fn is None or ctx.args.strip()):
        # a deactivated worker or desk using its keywords (`HEN <code> <date>`,
        # not a client's bare `HEN`): say why nothing happens
        ctx.reply(INACTIVE_KEYS[former])
        return
    if fn is None:
        # a keyword of another role (a client sending REF): the help of theirs
        ctx.reply_help()
        return
    try:
        fn(ctx)
    except DomainError as exc:
        # a refusal: keep what the domain wrote (e.g. the audit of a wrong code)
        ctx.reply_error(exc)
