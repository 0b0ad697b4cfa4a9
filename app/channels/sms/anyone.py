"""SMS keywords for anyone: HELP, STOP, START, LANG, CLINIC and MORE, and
CODE (or a message that is only a code); and a message without a keyword,
answered by what it means (`app.channels.intents`)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from app import clock
from app.channels import intents
from app.channels.keywords import parse_keyword
from app.channels.sms.context import DATE_FORMAT, Handler, SmsContext
from app.channels.sms.listing import clinic_pages
from app.domain import audit, clinics, code_text, codes, message_log
from app.domain.people import set_language, set_opt_out
from app.domain.text import fold
from app.messages import languages, render
from app.models import CodeState, Role

PAGING_WINDOW = timedelta(hours=24)  # MORE continues a CLINIC listing of the last day


def help_(ctx: SmsContext) -> None:
    ctx.reply_help()


def stop(ctx: SmsContext) -> None:
    if ctx.caller.opted_out:
        return  # one confirmation, then nothing
    set_opt_out(ctx.session, ctx.caller.phone, True)
    audit.record(ctx.session, ctx.actor, "person.opt_out", "person", None, channel="sms")
    ctx.caller = dataclasses.replace(ctx.caller, opted_out=True)
    # exempt from the cap: sent once per opt-out, so it cannot loop
    key = "sms.stop_confirm" if ctx.caller.role is Role.client else "sms.stop_confirm_staff"
    ctx.reply(key, force=True, capped=False)


def start(ctx: SmsContext) -> None:
    if ctx.caller.opted_out:
        set_opt_out(ctx.session, ctx.caller.phone, False)
        audit.record(ctx.session, ctx.actor, "person.opt_in", "person", None, channel="sms")
        ctx.caller = dataclasses.replace(ctx.caller, opted_out=False)
    # exempt from the cap: whoever comes back must learn that they are back
    ctx.reply("sms.start_confirm", capped=False)


def _alnum_key(text: str) -> str:
    return "".join(ch for ch in fold(text) if ch.isalnum())


def language_named(text: str) -> str | None:
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


def lang(ctx: SmsContext) -> None:
    language = language_named(ctx.args)
    if language is None:
        ctx.reply("sms.lang_usage", languages=", ".join(languages()))
        return
    set_language(ctx.session, ctx.caller.phone, language)
    ctx.caller = dataclasses.replace(ctx.caller, language=language)
    ctx.reply("sms.lang_set", name=render("sms.language_name", language))


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


def clinic(ctx: SmsContext) -> None:
    _reply_clinic_page(ctx, ctx.args, 0)


def more(ctx: SmsContext) -> None:
    """The next page of the phone's last CLINIC listing (derived from the
    message log: the CLINIC of the last day and the MOREs since)."""
    phone = ctx.caller.phone
    last = message_log.last_inbound_with_keyword(ctx.session, phone, "CLINIC", clock.now() - PAGING_WINDOW)
    if last is None:
        ctx.reply("sms.more_none")
        return
    page = message_log.count_inbound_between(ctx.session, phone, "MORE", last.id, ctx.inbound_id)
    _reply_clinic_page(ctx, parse_keyword(last.text).args, page)


def code(ctx: SmsContext) -> None:
    """Whether a code is still good, and where; a phone refused by the
    wrong-code throttle gets one notice, then silence. `MA` without a code
    (`MA`, `ma cua toi la gi`) from a client who holds a valid code sends
    that code again. A client's phone is recorded on a code without one
    (`codes.code_status`)."""
    if not any(ch.isdigit() for ch in ctx.args):  # `MA`, `ma cua toi la gi`: no code typed
        if not _resend_codes(ctx):
            # a client is told whom to ask; staff how to type a code
            ctx.reply("sms.my_code_none" if ctx.caller.role is Role.client else "codes.code_usage")
        return
    if ctx.throttled():
        return
    # a client's phone becomes the client phone of a code that has none
    # (a coupon passed on, a code given on paper): their coupons follow
    holder = ctx.caller.phone if ctx.caller.role is Role.client else None
    row = codes.code_status(ctx.session, ctx.args, actor=ctx.actor, settings=ctx.settings, holder=holder)
    if row.state == CodeState.redeemed:  # redeemed before the phone was known: its coupons were sent now
        ctx.reply("coupons.thanks_sent", code=code_text.format_code(row.code))
        return
    _reply_status(ctx, row)


def _resend_codes(ctx: SmsContext) -> bool:
    """The caller's valid codes again (the two newest); False when none."""
    held = codes.valid_codes_of(ctx.session, ctx.caller.phone)[:2]
    for row in held:
        _reply_status(ctx, row)
    return bool(held)


def _reply_status(ctx: SmsContext, row) -> None:
    service = clinics.service_by_id(ctx.session, row.service_id)
    where = clinics.active_clinic(ctx.session, row.clinic_id)
    until = code_text.local_valid_until(row, ctx.settings.tz).strftime(DATE_FORMAT)
    label = clinics.service_label(service, ctx.language)
    values = dict(code=code_text.format_code(row.code), until=until, service=label)
    if where is not None:
        ctx.reply(
            "codes.status_valid_clinic",
            clinic=where.display_name,
            address=clinics.full_address(where),
            hours=where.hours,
            **values,
        )
    else:
        ctx.reply("codes.status_valid_any", **values)


def unknown(ctx: SmsContext) -> None:
    """A message without a keyword: thanks get no answer (it would cost an
    SMS and say nothing); a question about a clinic, the code or a greeting
    gets the answer it asks for; a message that only names a place
    (`MuongThanh`, `Dong Da`) the clinics there; anything else the short help."""
    text = ctx.args
    if intents.only_thanks(text):
        return
    meant = intents.intent_of(text)
    if meant == "clinic":
        _reply_clinic_page(ctx, "", 0)
    elif meant == "my_code":
        if not _resend_codes(ctx):
            ctx.reply("sms.my_code_none")
    elif meant == "greeting":
        ctx.reply_help()
    elif named := clinics.clinics_named(ctx.session, text):
        ctx.reply_text(clinic_pages(named, ctx.language)[0])
    else:
        ctx.reply("sms.unknown")


HANDLERS: dict[str, Handler] = {
    "HELP": help_,
    "STOP": stop,
    "START": start,
    "LANG": lang,
    "CLINIC": clinic,
    "MORE": more,
    "CODE": code,
}
