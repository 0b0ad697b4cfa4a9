"""USSD screens of clients: find a clinic (province when there are several
-> district when the province has several -> list -> details, by SMS on
request, at most `DETAILS_SMS_PER_HOUR` an hour), next appointment, stop /
receive messages."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app import clock
from app.channels.ussd.screens import (
    Act,
    Confirm,
    Ctx,
    Frame,
    Menu,
    Node,
    Outcome,
    Paged,
    Push,
    Reask,
    act,
    go,
    nav_line,
    shorten,
    to_ascii,
)
from app.domain import appointments, audit, clinics, people, reminders
from app.domain.message_log import queue_rendered
from app.messages import datetime_text
from app.models import Channel, Direction, Message, MessageKind, MessageStatus

DETAILS_SMS_PER_HOUR = 3  # "send me this by SMS": a USSD session must not flood a phone


class ClientMain(Menu):
    top = True

    def options(self, ctx):
        stop = ("ussd.opt_resume", go("resume")) if ctx.caller.opted_out else ("ussd.opt_stop", go("stop"))
        return [
            ("ussd.opt_find_clinic", find_clinic),
            ("ussd.opt_check_code", go("check_code")),
            ("ussd.opt_next_appt", act(next_appointment_text)),
            stop,
            ("ussd.opt_language", go("language")),
        ]


def _listing(ctx: Ctx) -> clinics.ClinicListing:
    return ctx.cached("clinics", lambda: clinics.clinic_listing(ctx.session))


def find_clinic(ctx: Ctx) -> Outcome:
    """The province list when the clinics are in more than one, else
    straight to the districts (of every clinic)."""
    if len(_listing(ctx).provinces()) > 1:
        return Push(Frame("provinces"))
    return _districts_of(ctx, None)


def _districts_of(ctx: Ctx, province: str | None) -> Outcome:
    """The district list of `province` (None: every clinic), or straight to
    the clinics when it has only one district (the list's title names it)."""
    districts = _listing(ctx).districts(province)
    if len(districts) == 1:
        return Push(Frame("clinics", (province, districts[0])))
    return Push(Frame("districts", (province,)))


class Provinces(Paged):
    def title(self, ctx, frame):
        return ctx.t("ussd.pick_province")

    def items(self, ctx, frame):
        return [(to_ascii(p) if p else ctx.t("ussd.other_area"), p) for p in _listing(ctx).provinces()]

    def pick(self, ctx, frame, value):
        return _districts_of(ctx, value)


class Districts(Paged):
    """The districts of the province chosen (args: the province, None for all)."""

    def title(self, ctx, frame):
        return ctx.t("ussd.pick_district")

    def items(self, ctx, frame):
        return [(to_ascii(d), d) for d in _listing(ctx).districts(frame.args[0])]

    def pick(self, ctx, frame, value):
        return Push(Frame("clinics", (frame.args[0], value)))


class Clinics(Paged):
    """The clinics of a district (args: province or None, district), picked
    from the lists, not a text search."""

    def title(self, ctx, frame):
        return ctx.t("ussd.pick_clinic", district=frame.args[1])

    def items(self, ctx, frame):
        return [(c.display_name, c.id) for c in _listing(ctx).in_district(*frame.args)]

    def pick(self, ctx, frame, value):
        return Push(Frame("clinic", (value,)))


def _clinic_facts(ctx: Ctx, clinic_id: int, language: str) -> dict[str, str] | None:
    clinic = clinics.active_clinic(ctx.session, clinic_id)
    if clinic is None:
        return None
    offered = clinics.services_of(ctx.session, clinic.id)
    return {
        "name": clinic.display_name,
        "address": clinics.full_address(clinic),
        "hours": clinic.hours,
        "services": ", ".join(clinics.service_label(s, language) for s in offered),
    }


class ClinicDetails(Node):
    def view(self, ctx, frame):
        facts = _clinic_facts(ctx, frame.args[0], ctx.lang)
        footer = f"\n1 {ctx.t('ussd.opt_sms_details')}\n{nav_line(ctx)}"
        if facts is None:
            return ctx.t("ussd.nothing_found") + footer
        details = ctx.t("ussd.clinic_details", **facts)
        return shorten(details, ctx.room - len(footer)) + footer

    def answer(self, ctx, frame, answer):
        return Act(lambda: send_clinic_sms(ctx, frame.args[0])) if answer == "1" else Reask()


_NOTIFICATIONS_SINCE = sa.select(sa.func.count()).where(
    Message.direction == Direction.outbound.value,
    Message.kind == MessageKind.notification.value,
    Message.reminder_id.is_(None),
    Message.status != MessageStatus.skipped.value,
    Message.phone == sa.bindparam("phone"),
    Message.created_at >= sa.bindparam("since"),
)


def notifications_last_hour(ctx: Ctx) -> int:
    """Notification SMS (clinic details, codes) queued to the caller in the
    last hour and not skipped: what the details-by-SMS cap counts."""
    since = clock.now() - timedelta(hours=1)
    return ctx.session.execute(_NOTIFICATIONS_SINCE, {"phone": ctx.caller.phone, "since": since}).scalar_one()


def send_clinic_sms(ctx: Ctx, clinic_id: int) -> str:
    """The clinic's details by SMS, in the caller's language; over
    `DETAILS_SMS_PER_HOUR` notifications in the hour, nothing is queued and
    the screen says the details were already sent."""
    facts = _clinic_facts(ctx, clinic_id, ctx.caller.language)
    if facts is None:
        return ctx.t("ussd.nothing_found")
    if notifications_last_hour(ctx) >= DETAILS_SMS_PER_HOUR:
        return ctx.t("ussd.sms_already_sent")
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


def next_appointment_text(ctx: Ctx) -> str:
    appt = appointments.next_appointment(ctx.session, ctx.caller.phone)
    if appt is not None:
        clinic = clinics.clinic_by_id(ctx.session, appt.clinic_id)
        return ctx.t(
            "ussd.appt_next",
            when=datetime_text(ctx.local(appt.starts_at), ctx.local(appt.starts_at, "%H:%M"), ctx.lang),
            clinic=clinic.display_name if clinic else "",
            address=clinics.full_address(clinic) if clinic else "",
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


class Stop(Confirm):
    def question(self, ctx, frame):
        return ctx.t("ussd.confirm_stop")

    def act(self, ctx, frame):
        return _set_opt_out(ctx, True)


class Resume(Confirm):
    def question(self, ctx, frame):
        return ctx.t("ussd.confirm_resume")

    def act(self, ctx, frame):
        return _set_opt_out(ctx, False)


SCREENS: dict[str, Node] = {
    "client_main": ClientMain(),
    "provinces": Provinces(),
    "districts": Districts(),
    "clinics": Clinics(),
    "clinic": ClinicDetails(),
    "stop": Stop(),
    "resume": Resume(),
}
