"""SMS keywords of referral codes, registered with `@handles`:

- worker: `REF <service> [client phone] [clinic]`, `VOID <code>`,
  `REACH <people> [condoms]`, `STATS`;
- clinic: `RED <code>`, `APPT <code> <date> [time]`;
- anyone: `CODE <code>`, or a message that is only a code.

REF arguments: the service code first; then, optionally, the client's phone
(spaces allowed: the longest run of leading number-like words that is a
valid phone); then, optionally, the clinic: its number (id) or a fragment of
its name or district (`Him Lam`). A single short number (up to 6 digits)
after the service is a clinic number, never a phone.

Refusals are the domain's typed errors: the router answers with their own
catalogue key (`codes.*`) and keeps the audit rows they wrote. A phone
refused by the wrong-code throttle gets one notice, then silence. A keyword
of another role (a client sending REF) gets that role's help from the router.
"""

from __future__ import annotations

import re

from app import clock
from app.channels.sms import SmsContext, handles
from app.domain import appointments, audit, clinics, code_text, codes, errors, outreach, people
from app.domain.errors import InvalidPhone
from app.domain.phones import mask_phone, try_normalize_phone
from app.models import (
    Channel,
    Clinic,
    ReferralCode,
    Role,
    Service,
)

DATE_FORMAT = "%d/%m/%Y"
_NUMBERISH = re.compile(r"^\+?[\d().\-]+$")
_CODE_PART = re.compile(r"^[\d.\-]+$")
MAX_CLINIC_NUMBER_DIGITS = 6
_REF_SPLIT = re.compile(r"[\s,;]+")
_WORD_TRIM = ".:!?\"'()"


def _actor(ctx: SmsContext) -> str:
    return audit.phone_actor(ctx.caller.phone)


def _today(ctx: SmsContext):
    return clock.now().astimezone(ctx.settings.tz).date()


def _until(ctx: SmsContext, row) -> str:
    return code_text.local_valid_until(row, ctx.settings.tz).strftime(DATE_FORMAT)


def _throttled(ctx: SmsContext) -> bool:
    """True when this phone sent too many wrong codes: one notice, then silence."""
    try:
        codes.check_wrong_code_throttle(ctx.session, ctx.settings, ctx.caller.phone)
    except errors.Throttled as exc:
        if exc.values.get("notify"):
            ctx.reply(exc.key)
        return True
    return False


def split_phone_and_clinic(words: list[str], region: str) -> tuple[str | None, str]:
    """(client phone or None, clinic text) from the words after the service.
    Raises InvalidPhone when the leading words look like a phone that is
    not valid."""
    numeric: list[str] = []
    for word in words:
        if not _NUMBERISH.match(word):
            break
        numeric.append(word)
    for n in range(len(numeric), 0, -1):
        phone = try_normalize_phone(" ".join(numeric[:n]), region)
        if phone:
            return phone, " ".join(words[n:])
    if numeric:
        digits = sum(ch.isdigit() for ch in "".join(numeric))
        single_clinic_number = (
            len(numeric) == 1 and numeric[0].isdigit() and digits <= MAX_CLINIC_NUMBER_DIGITS
        )
        if not single_clinic_number:
            raise InvalidPhone("not a valid client phone")
    return None, " ".join(words)


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


# ---------------------------------------------------------------- worker


def ref_words(args: str) -> list[str]:
    """The words of REF's arguments; commas, semicolons and the punctuation
    around a word are not part of it (`GT, Vct, 0912345678.`)."""
    words = (word.strip(_WORD_TRIM) for word in _REF_SPLIT.split(args))
    return [word for word in words if word]


@handles("REF", roles={Role.worker})
def _ref(ctx: SmsContext) -> None:
    words = ref_words(ctx.args)
    if not words:
        ctx.reply("codes.ref_usage", services=" ".join(clinics.active_service_codes(ctx.session)))
        return
    service = clinics.find_service(ctx.session, words[0])
    try:
        phone, clinic_text = split_phone_and_clinic(words[1:], ctx.settings.default_region)
    except InvalidPhone:
        ctx.reply("codes.bad_client_phone")
        return
    clinic = clinics.resolve_clinic(ctx.session, clinic_text) if clinic_text else None
    row = codes.issue_code(
        ctx.session,
        ctx.settings,
        service=service.code,
        worker=ctx.caller.worker,
        client_phone=phone,
        clinic_id=clinic.id if clinic else None,
        channel=Channel.sms,
        actor=_actor(ctx),
    )
    values = dict(code=code_text.format_code(row.code), service=service.code, until=_until(ctx, row))
    if not phone:
        ctx.reply("codes.issued", **values)
    elif people.is_opted_out(ctx.session, phone):
        ctx.reply("codes.issued_not_sent", phone=mask_phone(phone), **values)
    else:
        ctx.reply("codes.issued_sent", phone=mask_phone(phone), **values)


@handles("VOID", roles={Role.worker})
def _void(ctx: SmsContext) -> None:
    if not ctx.args.strip():
        ctx.reply("codes.void_usage")
        return
    row = codes.void_code(ctx.session, ctx.args, worker=ctx.caller.worker, actor=_actor(ctx))
    ctx.reply("codes.voided_done", code=code_text.format_code(row.code))


@handles("REACH", roles={Role.worker})
def _reach(ctx: SmsContext) -> None:
    numbers = ctx.args.replace(",", " ").split()
    if not 1 <= len(numbers) <= 2 or not all(n.isascii() and n.isdigit() for n in numbers):
        ctx.reply("codes.reach_usage")
        return
    people_reached = int(numbers[0])
    condoms = int(numbers[1]) if len(numbers) > 1 else 0
    day = _today(ctx)
    outreach.record_outreach(ctx.session, ctx.caller.worker, people_reached, condoms, day)
    ctx.reply("codes.reach_done", day=day.strftime(DATE_FORMAT), people=people_reached, condoms=condoms)


@handles("STATS", roles={Role.worker})
def _stats(ctx: SmsContext) -> None:
    stats = outreach.worker_month_stats(ctx.session, ctx.caller.worker, _today(ctx), tz=ctx.settings.tz)
    ctx.reply(
        "codes.stats",
        month=stats.month,
        issued=stats.issued,
        redeemed=stats.redeemed,
        people=stats.people_reached,
        condoms=stats.condoms,
    )


# ---------------------------------------------------------------- clinic


def _staff_clinic(ctx: SmsContext) -> Clinic:
    return clinics.clinic_for_staff(ctx.session, ctx.caller.staff)


@handles("RED", roles={Role.clinic})
def _red(ctx: SmsContext) -> None:
    if not ctx.args.strip():
        ctx.reply("codes.red_usage")
        return
    if _throttled(ctx):
        return
    redemption = codes.redeem_code(
        ctx.session, ctx.settings, ctx.args, clinic=_staff_clinic(ctx), channel=Channel.sms, actor=_actor(ctx)
    )
    row = ctx.session.get(ReferralCode, redemption.code_id)
    service = ctx.session.get(Service, row.service_id)
    ctx.reply("codes.redeemed", code=code_text.format_code(row.code), service=service.code)


@handles("APPT", roles={Role.clinic})
def _clinic_appt(ctx: SmsContext) -> None:
    typed_code, when_text = split_code_and_rest(ctx.args)
    if not typed_code or not when_text:
        ctx.reply("codes.appt_usage")
        return
    code = code_text.parse_code(typed_code)
    starts_at = appointments.parse_appointment_datetime(when_text, ctx.settings, clock.now())
    appointment = appointments.book_appointment(
        ctx.session, ctx.settings, code, starts_at, clinic=_staff_clinic(ctx), actor=_actor(ctx)
    )
    local = appointment.starts_at.astimezone(ctx.settings.tz)
    opted_out = people.is_opted_out(ctx.session, appointment.client_phone)
    ctx.reply(
        "codes.booked_no_sms" if opted_out else "codes.booked",
        code=code_text.format_code(code),
        date=local.strftime(DATE_FORMAT),
        time=local.strftime("%H:%M"),
    )


# ---------------------------------------------------------------- anyone


@handles("CODE")
def _code(ctx: SmsContext) -> None:
    if not ctx.args.strip():
        ctx.reply("codes.code_usage")
        return
    if _throttled(ctx):
        return
    row = codes.code_status(ctx.session, ctx.args, actor=_actor(ctx))
    service = ctx.session.get(Service, row.service_id)
    clinic = clinics.active_clinic(ctx.session, row.clinic_id)
    values = dict(code=code_text.format_code(row.code), until=_until(ctx, row), service=service.display_name)
    if clinic is not None:
        ctx.reply(
            "codes.status_valid_clinic",
            clinic=clinic.display_name,
            address=clinic.address,
            hours=clinic.hours,
            **values,
        )
    else:
        ctx.reply("codes.status_valid_any", **values)
