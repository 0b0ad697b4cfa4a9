"""USSD screens for every role: check a code (one code a session: a code
typed ends it, audited for the wrong-code throttle), choose a language."""

from __future__ import annotations

from app.channels.ussd.screens import (
    Act,
    Ctx,
    Node,
    Paged,
    Prompt,
    Reask,
    fixed_text,
    service_label,
    shipped_languages,
    typed_code,
)
from app.domain import audit, clinics, code_text, codes, guesses, people
from app.domain.errors import MalformedCode, UnknownCode
from app.models import Role


def code_status_text(ctx: Ctx, code: str) -> str:
    """Whether `code` can still be used, and where. A throttled phone is
    refused before the look-up, except a clinic desk's: a desk's valid code
    always goes through, and over the limit each wrong one gets the limit's
    notice (as `RED` by SMS)."""
    desk = ctx.caller.role is Role.clinic
    if desk:
        guesses.check_staff_ceiling(ctx.session, ctx.settings, ctx.caller.phone)
    else:
        guesses.check_wrong_code_throttle(ctx.session, ctx.settings, ctx.caller.phone)
    try:
        row = codes.code_status(ctx.session, code, actor=audit.phone_actor(ctx.caller.phone))
    except (MalformedCode, UnknownCode):  # audited by the look-up
        if desk:
            guesses.check_wrong_code_throttle(ctx.session, ctx.settings, ctx.caller.phone)
        raise
    service = clinics.service_by_id(ctx.session, row.service_id)
    clinic = clinics.active_clinic(ctx.session, row.clinic_id)
    values = {
        "code": code_text.format_code(row.code),
        "until": ctx.local(row.expires_at),
        "service": service_label(ctx, service),  # the neutral name alone for a client
    }
    if clinic is not None:
        return ctx.t("ussd.code_valid_at", clinic=clinic.display_name, **values)
    return ctx.t("ussd.code_valid", **values)


class CheckCode(Prompt):
    prompt = "ussd.enter_code"

    def answer(self, ctx, frame, answer):
        code = typed_code(answer)
        return Act(lambda: code_status_text(ctx, code)) if code else Reask("ussd.bad_code")


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


SCREENS: dict[str, Node] = {
    "check_code": CheckCode(),
    "language": Language(),
}
