"""SMS keywords of clinic desks: `RED <code> [client phone]` (the client
came; the phone, when the code has none, becomes its client phone, for the
client's peer coupons) and `APPT <code> <date> [time]` (book an
appointment)."""

from __future__ import annotations

import re

from app import clock
from app.channels.sms.context import DATE_FORMAT, Handler, SmsContext
from app.domain import appointments, clinics, code_text, codes, coupons, people
from app.domain.errors import InvalidPhone
from app.domain.text import fold
from app.models import Channel, Clinic

_CODE_PART = re.compile(r"^[\d.\-]+$")
_RED_SPLIT = re.compile(r"[\s,;]+")
_CODE_WORDS = ("MA", "CODE")  # a leading word before the code (`RED MA 4821-5093`)


def split_code_and_rest(text: str) -> tuple[str, str]:
    """(code words, the rest) of `4821 5933 25/12 14h`: leading number-like
    words until a code's worth of digits."""
    words = text.split()
    taken: list[str] = []
    digits = 0
    for word in words:
        if digits >= code_text.CODE_LENGTH or not _CODE_PART.match(word):
            break
        taken.append(word)
        digits += sum(ch.isdigit() for ch in word)
    if not taken:  # not a number at all: the first word is the (malformed) code
        taken = words[:1]
    return " ".join(taken), " ".join(words[len(taken) :])


def split_code_and_phone(text: str) -> tuple[str, str | None]:
    """(the code as typed, the client phone as typed or None) of RED's
    arguments: `4821-5093`, `4821 5093 0912 345 678`, `MA 48215093,
    +84912345678`. The code is the leading number-like words (after an
    optional CODE/MA) until a code's worth of digits; whatever follows is
    the phone. Words are split at spaces, commas and semicolons; none is lost."""
    words = [word for word in _RED_SPLIT.split(text.strip()) if word]
    lead: list[str] = []
    if len(words) > 1 and fold(words[0]).strip(":.#-") in _CODE_WORDS:
        lead, words = words[:1], words[1:]
    code_words, rest = split_code_and_rest(" ".join(words))
    rest_words = rest.split()
    while rest_words and _CODE_PART.match(rest_words[0]) and not any(ch.isdigit() for ch in rest_words[0]):
        code_words += " " + rest_words.pop(0)  # a dash or dot typed after the code is part of it
    return " ".join(lead + [code_words]).strip(), " ".join(rest_words) or None


def _staff_clinic(ctx: SmsContext) -> Clinic:
    return clinics.clinic_for_staff(ctx.session, ctx.caller.staff)


def red(ctx: SmsContext) -> None:
    if not ctx.args.strip():
        ctx.reply("codes.red_usage")
        return
    typed_code, typed_phone = split_code_and_phone(ctx.args)
    try:
        with ctx.counting_wrong_codes():
            redemption = codes.redeem_code(
                ctx.session,
                ctx.settings,
                typed_code,
                clinic=_staff_clinic(ctx),
                channel=Channel.sms,
                actor=ctx.actor,
                client_phone=typed_phone,
            )
    except InvalidPhone:  # checked before the code: nothing was confirmed
        ctx.reply("coupons.red_bad_phone")
        return
    row = codes.code_by_id(ctx.session, redemption.code_id)
    service = clinics.service_by_id(ctx.session, row.service_id)
    values = dict(code=code_text.format_code(row.code), service=service.code)
    given = coupons.coupon_count(ctx.session, row.id)
    if given:
        ctx.reply("coupons.redeemed_with_coupons", count=given, **values)
    else:
        ctx.reply("codes.redeemed", **values)


def appt(ctx: SmsContext) -> None:
    typed_code, when_text = split_code_and_rest(ctx.args)
    if not typed_code or not when_text:
        ctx.reply("codes.appt_usage")
        return
    starts_at = appointments.parse_appointment_datetime(when_text, ctx.settings, clock.now())
    with ctx.counting_wrong_codes():
        appointment = appointments.book_appointment(
            ctx.session, ctx.settings, typed_code, starts_at, clinic=_staff_clinic(ctx), actor=ctx.actor
        )
    local = appointment.starts_at.astimezone(ctx.settings.tz)
    opted_out = people.is_opted_out(ctx.session, appointment.client_phone)
    ctx.reply(
        "codes.booked_no_sms" if opted_out else "codes.booked",
        code=code_text.format_code(codes.code_by_id(ctx.session, appointment.code_id).code),
        date=local.strftime(DATE_FORMAT),
        time=local.strftime("%H:%M"),
    )


HANDLERS: dict[str, Handler] = {"RED": red, "APPT": appt}
