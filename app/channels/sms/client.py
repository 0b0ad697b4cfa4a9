"""SMS keywords of clients: APPT (my next appointment or reminder)."""

from __future__ import annotations

from app.channels.sms.context import DATE_FORMAT, Handler, SmsContext
from app.domain import appointments, clinics, reminders


def appt(ctx: SmsContext) -> None:
    tz = ctx.settings.tz
    appointment = appointments.next_appointment(ctx.session, ctx.caller.phone)
    if appointment is not None:
        clinic = clinics.clinic_by_id(ctx.session, appointment.clinic_id)
        at = appointment.starts_at.astimezone(tz)
        ctx.reply(
            "sms.appt_next",
            clinic=clinic.display_name if clinic else "",
            address=clinics.full_address(clinic) if clinic else "",
            date=at.strftime(DATE_FORMAT),
            time=at.strftime("%H:%M"),
        )
        return
    reminder = reminders.next_for_phone(ctx.session, ctx.caller.phone)
    if reminder is not None:
        at = reminder.due_at.astimezone(tz)
        ctx.reply("sms.appt_reminder", date=at.strftime(DATE_FORMAT), time=at.strftime("%H:%M"))
        return
    ctx.reply("sms.appt_none")


HANDLERS: dict[str, Handler] = {"APPT": appt}
