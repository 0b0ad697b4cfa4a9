"""SMS keywords of outreach workers: `REF <service> [client phone]
[clinic]`, `VOID <code>`, `REACH <people> [condoms]`, `STATS`.

REF arguments: the service code first; then, optionally, the client's phone
(spaces allowed: the longest run of leading number-like words that is a
valid phone); then, optionally, the clinic: its number (id) or a fragment of
its name or district (`Him Lam`). A single short number (up to 6 digits)
after the service is a clinic number, never a phone. A client who holds a
valid code for the service gets it resent, not a new one
(`app.domain.issuing`), unless the last word is `MOI` / `NEW` (the
`codes.ref_new_words` lists of the catalogues): then a new code replaces it.

REACH takes one or two whole numbers; a minus sign anywhere before a digit
(the keyword matcher trims it from the arguments, so the stored message is
read) and numbers above the maxima get `codes.bad_count`."""

from __future__ import annotations

import re
from functools import lru_cache

from app.channels.sms.context import DATE_FORMAT, Handler, SmsContext
from app.domain import clinics, code_text, codes, outreach, people
from app.domain.errors import InvalidPhone
from app.domain.phones import mask_phone, try_normalize_phone
from app.domain.text import fold
from app.messages import languages, word_lists
from app.models import Channel, Message

_NUMBERISH = re.compile(r"^\+?[\d().\-]+$")
MAX_CLINIC_NUMBER_DIGITS = 6
_REF_SPLIT = re.compile(r"[\s,;]+")
_WORD_TRIM = ".:!?\"'()"
_MINUS_NUMBER = re.compile(r"[-\u2212]\s*\d")
_COUNT_DIGITS = 9  # longer numbers are over every maximum: not converted


@lru_cache
def new_code_words() -> frozenset[str]:
    """The words that ask REF for a new code, folded: the `codes.ref_new_words`
    list of every catalogue (a list is what people type, not a text we send)."""
    words: set[str] = set()
    for language in languages():
        words.update(word_lists(language, "codes").get("ref_new_words", []))
    return frozenset(fold(word) for word in words)


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


def ref_words(args: str) -> list[str]:
    """The words of REF's arguments; commas, semicolons and the punctuation
    around a word are not part of it (`GT, Vct, 0912345678.`)."""
    words = (word.strip(_WORD_TRIM) for word in _REF_SPLIT.split(args))
    return [word for word in words if word]


def take_population_group(words: list[str], groups: dict[str, str]) -> tuple[list[str], str | None]:
    """(the words without it, the tag) of the first word after the service
    that is a population group tag (`GT VCT 0912345678 BT`), any case."""
    for i, word in enumerate(words[1:], 1):
        if fold(word) in groups:
            return words[:i] + words[i + 1 :], fold(word)
    return words, None


def ref(ctx: SmsContext) -> None:
    words = ref_words(ctx.args)
    if not words:
        ctx.reply("codes.ref_usage", services=" ".join(clinics.active_service_codes(ctx.session)))
        return
    service = clinics.find_service(ctx.session, words[0])
    new = len(words) > 1 and fold(words[-1]) in new_code_words()
    if new:
        words = words[:-1]
    words, group = take_population_group(words, ctx.settings.population_group_labels)
    try:
        phone, clinic_text = split_phone_and_clinic(words[1:], ctx.settings.default_region)
    except InvalidPhone:
        ctx.reply("codes.bad_client_phone")
        return
    clinic = clinics.resolve_clinic(ctx.session, clinic_text) if clinic_text else None
    issued = codes.refer(
        ctx.session,
        ctx.settings,
        service=service.code,
        worker=ctx.caller.worker,
        client_phone=phone,
        clinic_id=clinic.id if clinic else None,
        channel=Channel.sms,
        actor=ctx.actor,
        new=new,
        population_group=group,
    )
    row = issued.code
    until = code_text.local_valid_until(row, ctx.settings.tz).strftime(DATE_FORMAT)
    values = dict(code=code_text.format_code(row.code), service=service.code, until=until)
    prefix = "codes.resent" if issued.resent else "codes.issued"
    if not phone:
        ctx.reply("codes.issued", **values)
    elif people.is_opted_out(ctx.session, phone):
        ctx.reply(f"{prefix}_not_sent", phone=mask_phone(phone), **values)
    else:
        ctx.reply(f"{prefix}_sent", phone=mask_phone(phone), **values)


def void(ctx: SmsContext) -> None:
    if not ctx.args.strip():
        ctx.reply("codes.void_usage")
        return
    with ctx.counting_wrong_codes():
        row = codes.void_code(ctx.session, ctx.args, worker=ctx.caller.worker, actor=ctx.actor)
    ctx.reply("codes.voided_done", code=code_text.format_code(row.code))


def _count(word: str) -> int:
    digits = word.lstrip("0") or "0"
    return int(digits) if len(digits) <= _COUNT_DIGITS else 10**_COUNT_DIGITS


def _negative(ctx: SmsContext) -> bool:
    """A minus sign before a number in the SMS as typed (the keyword matcher
    trims it from the arguments)."""
    typed = ctx.session.get(Message, ctx.inbound_id)
    return bool(_MINUS_NUMBER.search(typed.text if typed else ctx.args))


def reach(ctx: SmsContext) -> None:
    if _negative(ctx):
        raise outreach.InvalidCount(
            "negative count", people=outreach.MAX_REACH_PEOPLE, condoms=outreach.MAX_REACH_CONDOMS
        )
    numbers = ctx.args.replace(",", " ").split()
    if not 1 <= len(numbers) <= 2 or not all(n.isascii() and n.isdigit() for n in numbers):
        ctx.reply("codes.reach_usage")
        return
    people_reached = _count(numbers[0])
    condoms = _count(numbers[1]) if len(numbers) > 1 else 0
    day = ctx.today()
    report = outreach.record_outreach(ctx.session, ctx.caller.worker, people_reached, condoms, day)
    values = dict(day=day.strftime(DATE_FORMAT), people=people_reached, condoms=condoms)
    if (report.people_reached, report.condoms) == (people_reached, condoms):
        ctx.reply("codes.reach_done", **values)
    else:
        ctx.reply(
            "codes.reach_added", total_people=report.people_reached, total_condoms=report.condoms, **values
        )


def meet(ctx: SmsContext) -> None:
    """`MEET <participants>`: one group meeting held today."""
    numbers = ctx.args.replace(",", " ").split()
    if _negative(ctx):
        raise outreach.InvalidParticipants("negative count", most=outreach.MAX_MEETING_PARTICIPANTS)
    if len(numbers) != 1 or not (numbers[0].isascii() and numbers[0].isdigit()):
        ctx.reply("codes.meet_usage")
        return
    day = ctx.today()
    outreach.record_meeting(ctx.session, ctx.caller.worker, _count(numbers[0]), day)
    meetings, people = outreach.meetings_on(ctx.session, ctx.caller.worker, day)
    ctx.reply(
        "codes.meet_done",
        day=day.strftime(DATE_FORMAT),
        participants=_count(numbers[0]),
        meetings=meetings,
        total=people,
    )


def stats(ctx: SmsContext) -> None:
    month = outreach.worker_month_stats(ctx.session, ctx.caller.worker, ctx.today(), tz=ctx.settings.tz)
    values = dict(
        month=month.month,
        issued=month.issued,
        redeemed=month.redeemed,
        people=month.people_reached,
        condoms=month.condoms,
    )
    if month.coupons_given or month.coupons_returned:  # the worker's chains, when there are any this month
        ctx.reply(
            "coupons.stats",
            given=month.coupons_given,
            returned=month.coupons_returned,
            peers=month.peers_reached,
            **values,
        )
    else:
        ctx.reply("codes.stats", **values)


HANDLERS: dict[str, Handler] = {"REF": ref, "VOID": void, "REACH": reach, "MEET": meet, "STATS": stats}
