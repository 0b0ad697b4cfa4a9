"""USSD screens of outreach workers: issue a code (service -> client
phone or 0 -> confirm; a client's valid code for the service is resent
instead, see `app.domain.issuing`), my stats. Services show their code
beside the neutral name (`VCT Tu van suc khoe`), as workers type them by
SMS. The code issued is also sent to the worker by SMS, in the words of the
SMS `REF` reply: a USSD screen vanishes."""

from __future__ import annotations

from app import clock
from app.channels.ussd.screens import (
    Confirm,
    Ctx,
    Frame,
    Menu,
    Node,
    Paged,
    Prompt,
    Push,
    Reask,
    act,
    go,
    service_label,
)
from app.domain import audit, clinics, code_text, codes, message_log, outreach, people
from app.domain.errors import InvalidPhone
from app.domain.phones import is_mobile, mask_phone, normalize_phone
from app.messages import render
from app.models import Channel, MessageKind


class WorkerMain(Menu):
    top = True

    def options(self, ctx):
        return [
            ("ussd.opt_issue", go("issue_service")),
            ("ussd.opt_stats", act(worker_stats_text)),
            ("ussd.opt_check_code", go("check_code")),
            ("ussd.opt_language", go("language")),
        ]


class IssueService(Paged):
    def title(self, ctx, frame):
        return ctx.t("ussd.pick_service")

    def items(self, ctx, frame):
        return ctx.cached(
            "services",
            lambda: [(service_label(ctx, s), s.code) for s in clinics.active_services(ctx.session)],
        )

    def pick(self, ctx, frame, value):
        return Push(Frame("issue_phone", (value,)))


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
        if not is_mobile(phone):  # a landline cannot get the client's SMS
            return Reask("ussd.bad_phone")
        return Push(Frame("issue_confirm", (frame.args[0], phone)))


class IssueConfirm(Confirm):
    def question(self, ctx, frame):
        service_code, phone = frame.args
        service = clinics.service_by_code(ctx.session, service_code)
        name = service_label(ctx, service) if service else service_code
        if phone:
            return ctx.t("ussd.confirm_issue_to", service=name, phone=phone)
        return ctx.t("ussd.confirm_issue", service=name)

    def act(self, ctx, frame):
        service_code, phone = frame.args
        issued = codes.refer(
            ctx.session,
            ctx.settings,
            service=service_code,
            worker=ctx.caller.worker,
            client_phone=phone or None,
            clinic_id=None,
            channel=Channel.ussd,
            actor=audit.phone_actor(ctx.caller.phone),
        )
        row = issued.code  # the client's valid code for the service, resent, or a new one
        service = clinics.service_by_id(ctx.session, row.service_id)
        values = {
            "code": code_text.format_code(row.code),
            "service": service_label(ctx, service),
            "until": ctx.local(row.expires_at),
        }
        # as SMS: the worker must know when the client will not get the code
        opted_out = bool(phone) and people.is_opted_out(ctx.session, phone)
        sms_copy_to_worker(ctx, issued, service.code, phone, opted_out)
        if not phone:
            return ctx.t("ussd.issued", **values)
        if issued.resent:
            return ctx.t("ussd.resent_not_sent" if opted_out else "ussd.resent_to", **values)
        return ctx.t("ussd.issued_not_sent" if opted_out else "ussd.issued_to", **values)


def sms_copy_to_worker(
    ctx: Ctx, issued: codes.Issued, service_code: str, phone: str, opted_out: bool
) -> None:
    """The code just issued (or resent) by SMS to the worker, in the words
    of the SMS `REF` reply. Sent even after the worker's STOP, which stops
    only what we send unasked, and outside the auto-reply cap (a
    notification: the cap is for clients)."""
    row = issued.code
    values = {
        "code": code_text.format_code(row.code),
        "service": service_code,
        "until": code_text.valid_until_text(row, ctx.settings.tz),
    }
    prefix = "codes.resent" if issued.resent else "codes.issued"
    if not phone:
        key = "codes.issued"
    else:
        key = f"{prefix}_not_sent" if opted_out else f"{prefix}_sent"
        values["phone"] = mask_phone(phone)
    language = ctx.caller.language  # the SMS in the worker's own language, not the screen's
    message_log.queue(
        ctx.session,
        phone=ctx.caller.phone,
        text=render(key, language, **values),
        kind=MessageKind.notification,
        language=language,
        force=True,
    )


def worker_stats_text(ctx: Ctx) -> str:
    today = clock.now().astimezone(ctx.settings.tz).date()
    stats = outreach.worker_month_stats(ctx.session, ctx.caller.worker, today, tz=ctx.settings.tz)
    return ctx.t("ussd.stats", issued=stats.issued, redeemed=stats.redeemed)


SCREENS: dict[str, Node] = {
    "worker_main": WorkerMain(),
    "issue_service": IssueService(),
    "issue_phone": IssuePhone(),
    "issue_confirm": IssueConfirm(),
}
