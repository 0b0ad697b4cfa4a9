"""The USSD screens of each role, registered with the engine in
`app.channels.ussd` (which holds the rules of navigation and replay).

Client: find a clinic (district -> list -> details, by SMS on request),
check a code, next appointment, stop / receive messages, language.
Worker: issue a code (service -> client phone or 0 -> confirm), my stats.
Clinic staff: confirm (redeem) a code, book an appointment.
Every action is an `Act`: it runs only on the step that confirms it."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import select

from app import clock
from app.channels.ussd import (
    MAIN,
    Act,
    Confirm,
    Ctx,
    Frame,
    Menu,
    Node,
    Outcome,
    Paged,
    Prompt,
    Push,
    Reask,
    fixed_text,
    nav_line,
    node,
    shipped_languages,
    shorten,
    to_ascii,
)
from app.domain import appointments, audit, clinics, code_text, codes, errors, outreach, people, reminders
from app.domain.errors import DomainError, InvalidPhone
from app.domain.message_log import queue_rendered
from app.domain.phones import normalize_phone
from app.models import Channel, Clinic, MessageKind, MessageStatus, ReferralCode, Role, Service

_DDMM = re.compile(r"^(\d{2})(\d{2})(\d{4})?$")
_HHMM = re.compile(r"^(\d{1,2})(\d{2})?$")

# ---------------------------------------------------------------- main menus


def _go(name: str, *args: Any) -> Callable[[Ctx], Outcome]:
    return lambda ctx: Push(Frame(name, args))


def _act(fn: Callable[[Ctx], str]) -> Callable[[Ctx], Outcome]:
    return lambda ctx: Act(lambda: fn(ctx))


@node("client_main")
class ClientMain(Menu):
    top = True

    def options(self, ctx):
        stop = ("ussd.opt_resume", _go("resume")) if ctx.caller.opted_out else ("ussd.opt_stop", _go("stop"))
        return [
            ("ussd.opt_find_clinic", _go("districts")),
            ("ussd.opt_check_code", _go("check_code")),
            ("ussd.opt_next_appt", _act(next_appointment_text)),
            stop,
            ("ussd.opt_language", _go("language")),
        ]


@node("worker_main")
class WorkerMain(Menu):
    top = True

    def options(self, ctx):
        return [
            ("ussd.opt_issue", _go("issue_service")),
            ("ussd.opt_stats", _act(worker_stats_text)),
            ("ussd.opt_check_code", _go("check_code")),
            ("ussd.opt_language", _go("language")),
        ]


@node("clinic_main")
class ClinicMain(Menu):
    top = True

    def options(self, ctx):
        return [
            ("ussd.opt_redeem", _go("redeem_code")),
            ("ussd.opt_book", _go("book_code")),
            ("ussd.opt_check_code", _go("check_code")),
            ("ussd.opt_language", _go("language")),
        ]


MAIN.update({Role.client: "client_main", Role.worker: "worker_main", Role.clinic: "clinic_main"})


# ---------------------------------------------------------------- client: clinics


@node("districts")
class Districts(Paged):
    def title(self, ctx, frame):
        return ctx.t("ussd.pick_district")

    def items(self, ctx, frame):
        return [(to_ascii(d), d) for d in _listing(ctx).districts]

    def pick(self, ctx, frame, value):
        return Push(Frame("clinics", (value,)))


def _listing(ctx: Ctx) -> clinics.ClinicListing:
    return ctx.cached("clinics", lambda: clinics.clinic_listing(ctx.session))


def _clinics_in(ctx: Ctx, district: str) -> list[clinics.ListedClinic]:
    # every active clinic (one query, in the domain's stable order), then
    # the district chosen from the list exactly, not a text search
    return [c for c in _listing(ctx).clinics if c.district == district]


@node("clinics")
class Clinics(Paged):
    def title(self, ctx, frame):
        return ctx.t("ussd.pick_clinic", district=frame.args[0])

    def items(self, ctx, frame):
        return [(c.display_name, c.id) for c in _clinics_in(ctx, frame.args[0])]

    def pick(self, ctx, frame, value):
        return Push(Frame("clinic", (value,)))


def _clinic_facts(ctx: Ctx, clinic_id: int) -> dict[str, str] | None:
    clinic = clinics.active_clinic(ctx.session, clinic_id)
    if clinic is None:
        return None
    services = ", ".join(s.display_name for s in clinics.services_of(ctx.session, clinic.id))
    return {
        "name": clinic.display_name,
        "address": clinic.address,
        "hours": clinic.hours,
        "services": services,
    }


@node("clinic")
class ClinicDetails(Node):
    def view(self, ctx, frame):
        facts = _clinic_facts(ctx, frame.args[0])
        footer = f"\n1 {ctx.t('ussd.opt_sms_details')}\n{nav_line(ctx)}"
        if facts is None:
            return ctx.t("ussd.nothing_found") + footer
        details = ctx.t("ussd.clinic_details", **facts)
        return shorten(details, ctx.room - len(footer)) + footer

    def answer(self, ctx, frame, answer):
        return Act(lambda: send_clinic_sms(ctx, frame.args[0])) if answer == "1" else Reask()


def send_clinic_sms(ctx: Ctx, clinic_id: int) -> str:
    facts = _clinic_facts(ctx, clinic_id)
    if facts is None:
        return ctx.t("ussd.nothing_found")
    message = queue_rendered(
        ctx.session,
        phone=ctx.caller.phone,
        key="ussd.sms_clinic",
        language=ctx.caller.language,
        kind=MessageKind.notification,
        **facts,
    )
    if message.status == MessageStatus.skipped:
        return ctx.t("ussd.sms_opted_out")
    return ctx.t("ussd.sms_sent")


# ---------------------------------------------------------------- codes (anyone)


def _parse(answer: str) -> str | None:
    try:
        return code_text.parse_code(answer)
    except errors.MalformedCode:
        return None


def code_status_text(ctx: Ctx, code: str) -> str:
    codes.check_wrong_code_throttle(ctx.session, ctx.settings, ctx.caller.phone)
    row = codes.code_status(ctx.session, code, actor=audit.phone_actor(ctx.caller.phone))
    service = ctx.session.get(Service, row.service_id)
    clinic = clinics.active_clinic(ctx.session, row.clinic_id)
    values = {
        "code": code_text.format_code(row.code),
        "until": ctx.local(row.expires_at),
        "service": service.display_name,
    }
    if clinic is not None:
        return ctx.t("ussd.code_valid_at", clinic=clinic.display_name, **values)
    return ctx.t("ussd.code_valid", **values)


@node("check_code")
class CheckCode(Prompt):
    prompt = "ussd.enter_code"

    def answer(self, ctx, frame, answer):
        code = _parse(answer)
        return Act(lambda: code_status_text(ctx, code)) if code else Reask("ussd.bad_code")


# ---------------------------------------------------------------- client: appointment, stop, language


def next_appointment_text(ctx: Ctx) -> str:
    appt = appointments.next_appointment(ctx.session, ctx.caller.phone)
    if appt is not None:
        clinic = ctx.session.get(Clinic, appt.clinic_id)
        return ctx.t(
            "ussd.appt_next",
            when=ctx.local(appt.starts_at, "%d/%m/%Y %H:%M"),
            clinic=clinic.display_name if clinic else "",
            address=clinic.address if clinic else "",
        )
    reminder = reminders.next_for_phone(ctx.session, ctx.caller.phone)
    if reminder is not None:
        return ctx.t("ussd.reminder_next", when=ctx.local(reminder.due_at, "%d/%m/%Y"))
    return ctx.t("ussd.appt_none")


def _set_opt_out(ctx: Ctx, opted_out: bool) -> str:
    people.set_opt_out(ctx.session, ctx.caller.phone, opted_out)
    action = "person.opt_out" if opted_out else "person.opt_in"
    audit.record(
        ctx.session, audit.phone_actor(ctx.caller.phone), action, "person", None, channel=Channel.ussd.value
    )
    return ctx.t("ussd.stopped" if opted_out else "ussd.resumed")


@node("stop")
class Stop(Confirm):
    def question(self, ctx, frame):
        return ctx.t("ussd.confirm_stop")

    def act(self, ctx, frame):
        return _set_opt_out(ctx, True)


@node("resume")
class Resume(Confirm):
    def question(self, ctx, frame):
        return ctx.t("ussd.confirm_resume")

    def act(self, ctx, frame):
        return _set_opt_out(ctx, False)


@node("language")
class Language(Paged):
    def title(self, ctx, frame):
        return ctx.t("ussd.pick_language")

    def items(self, ctx, frame):
        return [(fixed_text("ussd.language_name", lang), lang) for lang in sorted(shipped_languages())]

    def pick(self, ctx, frame, value):
        def run() -> str:
            people.set_language(ctx.session, ctx.caller.phone, value)
            # in the language chosen (every [ussd] text is ASCII, `vi` too)
            return fixed_text("ussd.language_set", value)

        return Act(run)


# ---------------------------------------------------------------- worker: issue a code, stats


@node("issue_service")
class IssueService(Paged):
    def title(self, ctx, frame):
        return ctx.t("ussd.pick_service")

    def items(self, ctx, frame):
        def load():
            rows = ctx.session.exec(select(Service).where(Service.active == True).order_by(Service.id))  # noqa: E712
            return [(s.display_name, s.code) for s in rows]

        return ctx.cached("services", load)

    def pick(self, ctx, frame, value):
        return Push(Frame("issue_phone", (value,)))


@node("issue_phone")
class IssuePhone(Prompt):
    prompt = "ussd.enter_client_phone"
    zero_is_answer = True

    def view(self, ctx, frame):
        return "\n".join([ctx.t(self.prompt), ctx.t("ussd.nav_menu")])

    def answer(self, ctx, frame, answer):
        if answer == "0":
            return Push(Frame("issue_confirm", (frame.args[0], "")))
        try:
            phone = normalize_phone(answer, ctx.settings.default_region)
        except InvalidPhone:
            return Reask("ussd.bad_phone")
        return Push(Frame("issue_confirm", (frame.args[0], phone)))


def _service(ctx: Ctx, code: str) -> Service | None:
    return ctx.session.exec(select(Service).where(Service.code == code)).first()


@node("issue_confirm")
class IssueConfirm(Confirm):
    def question(self, ctx, frame):
        service_code, phone = frame.args
        service = _service(ctx, service_code)
        name = service.display_name if service else service_code
        if phone:
            return ctx.t("ussd.confirm_issue_to", service=name, phone=phone)
        return ctx.t("ussd.confirm_issue", service=name)

    def act(self, ctx, frame):
        service_code, phone = frame.args
        row = codes.issue_code(
            ctx.session,
            ctx.settings,
            service=service_code,
            worker=ctx.caller.worker,
            client_phone=phone or None,
            clinic_id=None,
            channel=Channel.ussd,
            actor=audit.phone_actor(ctx.caller.phone),
        )
        service = ctx.session.get(Service, row.service_id)
        values = {
            "code": code_text.format_code(row.code),
            "service": service.display_name,
            "until": ctx.local(row.expires_at),
        }
        if not phone:
            return ctx.t("ussd.issued", **values)
        # as SMS: the worker must know when the client will not get the code
        opted_out = people.is_opted_out(ctx.session, phone)
        return ctx.t("ussd.issued_not_sent" if opted_out else "ussd.issued_to", **values)


def worker_stats_text(ctx: Ctx) -> str:
    today = clock.now().astimezone(ctx.settings.tz).date()
    stats = outreach.worker_month_stats(ctx.session, ctx.caller.worker, today, tz=ctx.settings.tz)
    return ctx.t("ussd.stats", issued=stats.issued, redeemed=stats.redeemed)


# ---------------------------------------------------------------- clinic: redeem, book


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
    row = ctx.session.get(ReferralCode, redemption.code_id)
    service = ctx.session.get(Service, row.service_id)
    return ctx.t("ussd.redeemed", code=code_text.format_code(row.code), service=service.display_name)


@node("redeem_code")
class RedeemCode(Prompt):
    prompt = "ussd.enter_code"

    def answer(self, ctx, frame, answer):
        code = _parse(answer)
        return Act(lambda: redeem_text(ctx, code)) if code else Reask("ussd.bad_code")


@node("book_code")
class BookCode(Prompt):
    prompt = "ussd.enter_code"

    def answer(self, ctx, frame, answer):
        code = _parse(answer)
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


@node("book_date")
class BookDate(Prompt):
    prompt = "ussd.enter_date"

    def answer(self, ctx, frame, answer):
        if keypad_datetime(answer, "12") is None or _starts_at(ctx, answer, "12") is None:
            return Reask("ussd.bad_date")
        return Push(Frame("book_time", (*frame.args, answer)))


@node("book_time")
class BookTime(Prompt):
    prompt = "ussd.enter_time"

    def answer(self, ctx, frame, answer):
        code, day = frame.args
        if _starts_at(ctx, day, answer) is None:
            return Reask("ussd.bad_time")
        return Push(Frame("book_confirm", (code, day, answer)))


@node("book_confirm")
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
