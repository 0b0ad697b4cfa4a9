"""USSD screens of clients: find a clinic (district -> list -> details,
by SMS on request), next appointment, stop / receive messages."""

from __future__ import annotations

from app.channels.ussd.screens import (
    Act,
    Confirm,
    Ctx,
    Frame,
    Menu,
    Node,
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
from app.models import Channel, MessageKind, MessageStatus


class ClientMain(Menu):
    top = True

    def options(self, ctx):
        stop = ("ussd.opt_resume", go("resume")) if ctx.caller.opted_out else ("ussd.opt_stop", go("stop"))
        return [
            ("ussd.opt_find_clinic", go("districts")),
            ("ussd.opt_check_code", go("check_code")),
            ("ussd.opt_next_appt", act(next_appointment_text)),
            stop,
            ("ussd.opt_language", go("language")),
        ]


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


def next_appointment_text(ctx: Ctx) -> str:
    appt = appointments.next_appointment(ctx.session, ctx.caller.phone)
    if appt is not None:
        clinic = clinics.clinic_by_id(ctx.session, appt.clinic_id)
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
    "districts": Districts(),
    "clinics": Clinics(),
    "clinic": ClinicDetails(),
    "stop": Stop(),
    "resume": Resume(),
}
