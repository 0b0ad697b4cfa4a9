"""USSD screens of clinic desks: confirm (redeem) a code, book an
appointment (code -> date -> time -> confirm)."""

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
    typed_code,
)
from app.domain import appointments, audit, clinics, code_text, codes, errors, people
from app.domain.errors import DomainError
from app.models import Channel, Clinic

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
    return clinics.clinic_for_staff(ctx.session, ctx.caller.staff)


def redeem_text(ctx: Ctx, code: str) -> str:
    clinic = _staff_clinic(ctx)
    redemption = codes.redeem_code(
        ctx.session,
        ctx.settings,
        code,
        clinic=clinic,
        channel=Channel.ussd,
        actor=audit.phone_actor(ctx.caller.phone),
    )
    row = codes.code_by_id(ctx.session, redemption.code_id)
    service = clinics.service_by_id(ctx.session, row.service_id)
    return ctx.t("ussd.redeemed", code=code_text.format_code(row.code), service=service.display_name)


class RedeemCode(Prompt):
    prompt = "ussd.enter_code"

    def answer(self, ctx, frame, answer):
        code = typed_code(answer)
        return Act(lambda: redeem_text(ctx, code)) if code else Reask("ussd.bad_code")


class BookCode(Prompt):
    prompt = "ussd.enter_code"

    def answer(self, ctx, frame, answer):
        code = typed_code(answer)
        if code is None:
            return Reask("ussd.bad_code")
        try:  # reads only: say now, not after date and time, why this code cannot be booked
            appointments.bookable_code(ctx.session, code, clinic=_staff_clinic(ctx))
        except errors.UnknownCode:
            return Reask("ussd.bad_code")
        except DomainError as exc:  # voided, expired, not offered here, no client phone: the END says which
            return Act(functools.partial(_refuse, exc))
        return Push(Frame("book_date", (code,)))


def _refuse(exc: DomainError) -> str:
    raise exc


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
            when=ctx.local(when, "%d/%m/%Y %H:%M") if when else "",
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
        return ctx.t(key, when=ctx.local(appt.starts_at, "%d/%m/%Y %H:%M"))


SCREENS: dict[str, Node] = {
    "clinic_main": ClinicMain(),
    "redeem_code": RedeemCode(),
    "book_code": BookCode(),
    "book_date": BookDate(),
    "book_time": BookTime(),
    "book_confirm": BookConfirm(),
}
