"""USSD screens of clinic desks: confirm (redeem) a code (code -> the
code's service and client -> confirm), book an appointment (code -> date ->
time -> confirm).

A code that cannot be redeemed or booked is answered at the code, before
anything is asked. A desk is never silenced: a valid code always goes
through; every wrong code typed ends the attempt, is audited and counts
toward the wrong-code limit, and over the limit each wrong code gets the
limit's notice (as `RED` by SMS). A typed answer that is not a code at all
(wrong length or check digit) is asked again: it tries nothing."""

from __future__ import annotations

import functools
import re
from datetime import datetime

from app import clock
from app.channels.ussd.screens import (
    Act,
    Confirm,
    Ctx,
    Frame,
    Menu,
    Node,
    Prompt,
    Push,
    Reask,
    go,
    service_label,
    typed_code,
)
from app.domain import appointments, audit, clinics, code_text, codes, guesses, people
from app.domain.errors import DomainError, MalformedCode, UnknownCode
from app.domain.phones import mask_phone
from app.models import Channel, Clinic, ReferralCode

_DDMM = re.compile(r"^(\d{2})(\d{2})(\d{4})?$")
_HHMM = re.compile(r"^(\d{1,2})(\d{2})?$")


class ClinicMain(Menu):
    top = True

    def options(self, ctx):
        return [
            ("ussd.opt_redeem", go("redeem_code")),
            ("ussd.opt_book", go("book_code")),
            ("ussd.opt_check_code", go("check_code")),
            ("ussd.opt_language", go("language")),
        ]


def _staff_clinic(ctx: Ctx) -> Clinic:
    return ctx.cached("clinic", lambda: clinics.clinic_for_staff(ctx.session, ctx.caller.staff))


def _actor(ctx: Ctx) -> str:
    return audit.phone_actor(ctx.caller.phone)


def refuse_code(ctx: Ctx, action: str, exc: DomainError, code: str, row: ReferralCode | None = None) -> str:
    """End an attempt with a code that cannot be used here: the attempt is
    audited (`action`, its outcome); a wrong code counts toward the
    wrong-code limit and, over it, is answered with the limit's notice."""
    clinic = _staff_clinic(ctx)
    guesses.audit_attempt(
        ctx.session, _actor(ctx), action, exc, code, row, clinic_id=clinic.id, channel=str(Channel.ussd)
    )
    if isinstance(exc, (MalformedCode, UnknownCode)):
        guesses.check_wrong_code_throttle(ctx.session, ctx.settings, ctx.caller.phone)
    raise exc


def staff_ceiling(ctx: Ctx) -> Act | None:
    """The end of the session when the desk is at the staff ceiling of wrong
    codes (`guesses.check_staff_ceiling`): no code is looked up."""
    try:
        guesses.check_staff_ceiling(ctx.session, ctx.settings, ctx.caller.phone)
    except guesses.StaffThrottled:
        return Act(lambda: ctx.t(guesses.StaffThrottled.key), on_replay=True)
    return None


def redeemable_code(ctx: Ctx, code: str) -> ReferralCode:
    """The code's row when the desk's clinic may redeem it now (the checks
    of `codes.redeem_code`: `codes.redeem_refusal`); reads only. Raises
    MalformedCode, UnknownCode, ClinicInactive, AlreadyRedeemed,
    CodeVoided, CodeExpired, NotOffered."""
    row = codes.get_code(ctx.session, code)
    failure = codes.redeem_refusal(ctx.session, row, _staff_clinic(ctx), clock.now())
    if failure is not None:
        raise failure
    return row


def code_row(ctx: Ctx, code: str, exc: DomainError | None = None) -> ReferralCode | None:
    """The row of `code`, None when there is none (or `exc` says so)."""
    if isinstance(exc, (MalformedCode, UnknownCode)):
        return None
    try:
        return codes.get_code(ctx.session, code)
    except DomainError:
        return None


class RedeemCode(Prompt):
    prompt = "ussd.enter_code"

    def answer(self, ctx, frame, answer):
        code = typed_code(answer)
        if code is None:
            return Reask("ussd.bad_code")
        if (ceiling := staff_ceiling(ctx)) is not None:
            return ceiling
        # checked on every step, replayed ones too: a code that cannot be
        # redeemed ends the session here, counted and audited, and no later
        # screen shows what it is
        try:
            redeemable_code(ctx, code)
        except DomainError as exc:
            row = code_row(ctx, code, exc)
            return Act(functools.partial(refuse_code, ctx, "code.redeem", exc, code, row), on_replay=True)
        return Push(Frame("redeem_confirm", (code,)))


class RedeemConfirm(Confirm):
    def question(self, ctx, frame):
        (code,) = frame.args
        row = code_row(ctx, code)
        if row is None:
            return ctx.t("ussd.confirm_redeem_code", code=code_text.format_code(code))
        values = {
            "code": code_text.format_code(row.code),
            "service": service_label(ctx, clinics.service_by_id(ctx.session, row.service_id)),
        }
        if row.client_phone:
            return ctx.t("ussd.confirm_redeem_to", phone=mask_phone(row.client_phone), **values)
        return ctx.t("ussd.confirm_redeem", **values)

    def act(self, ctx, frame):
        return redeem_text(ctx, frame.args[0])


def redeem_text(ctx: Ctx, code: str) -> str:
    try:
        redemption = codes.redeem_code(
            ctx.session,
            ctx.settings,
            code,
            clinic=_staff_clinic(ctx),
            channel=Channel.ussd,
            actor=_actor(ctx),
        )
    except (MalformedCode, UnknownCode):  # audited by the redemption; counted as by SMS
        guesses.check_wrong_code_throttle(ctx.session, ctx.settings, ctx.caller.phone)
        raise
    row = codes.code_by_id(ctx.session, redemption.code_id)
    service = clinics.service_by_id(ctx.session, row.service_id)
    return ctx.t("ussd.redeemed", code=code_text.format_code(row.code), service=service_label(ctx, service))


class BookCode(Prompt):
    prompt = "ussd.enter_code"

    def answer(self, ctx, frame, answer):
        code = typed_code(answer)
        if code is None:
            return Reask("ussd.bad_code")
        if (ceiling := staff_ceiling(ctx)) is not None:
            return ceiling
        # checked on every step, replayed ones too (see RedeemCode)
        try:
            appointments.bookable_code(ctx.session, code, clinic=_staff_clinic(ctx))
        except DomainError as exc:  # unknown, voided, expired, not offered here, no client phone
            row = code_row(ctx, code, exc)
            return Act(functools.partial(refuse_code, ctx, "code.attempt", exc, code, row), on_replay=True)
        return Push(Frame("book_date", (code,)))


def keypad_datetime(day: str, hour: str) -> str | None:
    """`2512` / `25122026` and `1430` / `9` (what a keypad can type in USSD)
    -> `25/12 14:30`, the form the appointment parser reads; None if not."""
    d, h = _DDMM.match(day), _HHMM.match(hour)
    if not d or not h:
        return None
    date = f"{d.group(1)}/{d.group(2)}" + (f"/{d.group(3)}" if d.group(3) else "")
    return f"{date} {int(h.group(1)):02d}:{h.group(2) or '00'}"


def _starts_at(ctx: Ctx, day: str, hour: str) -> datetime | None:
    text = keypad_datetime(day, hour)
    if text is None:
        return None
    try:
        return appointments.parse_appointment_datetime(text, ctx.settings, clock.now())
    except DomainError:
        return None


# why a date or time cannot be booked, as a notice above the prompt asked again
SLOT_NOTICES = {
    appointments.AfterExpiry: "ussd.appt_after_expiry",
    appointments.AtNight: "ussd.appt_night",
    appointments.ClinicClosed: "ussd.appt_closed",
}


def _slot_notice(ctx: Ctx, code: str, when: datetime) -> str | None:
    """The notice of the booking rule `when` breaks (the same checks as the
    booking itself), or None."""
    clinic = _staff_clinic(ctx)
    try:
        row = appointments.bookable_code(ctx.session, code, clinic=clinic)
        appointments.check_slot(ctx.settings, row, when, clinic=clinic)
    except tuple(SLOT_NOTICES) as exc:
        return SLOT_NOTICES[type(exc)]
    except DomainError:
        return None  # the code's own refusal comes at the confirmation
    return None


class BookDate(Prompt):
    prompt = "ussd.enter_date"

    def answer(self, ctx, frame, answer):
        when = _starts_at(ctx, answer, "12") if keypad_datetime(answer, "12") else None
        if when is None:
            return Reask("ussd.bad_date")
        notice = _slot_notice(ctx, frame.args[0], when)  # the day: expiry, closed day
        if notice:
            return Reask(notice)
        return Push(Frame("book_time", (*frame.args, answer)))


class BookTime(Prompt):
    prompt = "ussd.enter_time"

    def answer(self, ctx, frame, answer):
        code, day = frame.args
        when = _starts_at(ctx, day, answer)
        if when is None:
            return Reask("ussd.bad_time")
        notice = _slot_notice(ctx, code, when)  # the hour: at night
        if notice:
            return Reask(notice)
        return Push(Frame("book_confirm", (code, day, answer)))


class BookConfirm(Confirm):
    def question(self, ctx, frame):
        code, day, hour = frame.args
        when = _starts_at(ctx, day, hour)
        return ctx.t(
            "ussd.confirm_book",
            code=code_text.format_code(code),
            when=ctx.moment(when) if when else "",
        )

    def act(self, ctx, frame):
        code, day, hour = frame.args
        when = _starts_at(ctx, day, hour)
        if when is None:
            return ctx.t("ussd.bad_date")
        appt = appointments.book_appointment(
            ctx.session,
            ctx.settings,
            code,
            when,
            clinic=_staff_clinic(ctx),
            actor=audit.phone_actor(ctx.caller.phone),
        )
        opted_out = people.is_opted_out(ctx.session, appt.client_phone)
        key = "ussd.booked_no_sms" if opted_out else "ussd.booked"
        return ctx.t(key, when=ctx.moment(appt.starts_at))


SCREENS: dict[str, Node] = {
    "clinic_main": ClinicMain(),
    "redeem_code": RedeemCode(),
    "redeem_confirm": RedeemConfirm(),
    "book_code": BookCode(),
    "book_date": BookDate(),
    "book_time": BookTime(),
    "book_confirm": BookConfirm(),
}
