"""SMS keywords of clinic desks: `RED <code>` (the client came) and
`APPT <code> <date> [time]` (book an appointment)."""

from __future__ import annotations

import re

from app import clock
from app.channels.sms.context import DATE_FORMAT, Handler, SmsContext
from app.domain import appointments, clinics, code_text, codes, people
from app.models import Channel, Clinic

_CODE_PART = re.compile(r"^[\d.\-]+$")


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


def _staff_clinic(ctx: SmsContext) -> Clinic:
    return clinics.clinic_for_staff(ctx.session, ctx.caller.staff)


def red(ctx: SmsContext) -> None:
    if not ctx.args.strip():
        ctx.reply("codes.red_usage")
        return
    with ctx.counting_wrong_codes():
        redemption = codes.redeem_code(
            ctx.session,
            ctx.settings,
            ctx.args,
            clinic=_staff_clinic(ctx),
            channel=Channel.sms,
            actor=ctx.actor,
        )
    row = codes.code_by_id(ctx.session, redemption.code_id)
    service = clinics.service_by_id(ctx.session, row.service_id)
    ctx.reply("codes.redeemed", code=code_text.format_code(row.code), service=service.code)


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
