"""The USSD menu engine: a stateless menu tree per role, computed from the
gateway's `text` (every answer of the session so far, joined by `*`).

The path is the state: each step replays the whole path from the main menu
over a stack of screens, so no process memory matters between steps. An
action (issue, redeem, book, opt-out, SMS, language) is an `Act` that runs
only when it is reached by the LAST answer; reached earlier in a replay, the
session had already ended there and nothing runs again.

A desk of a deactivated clinic gets no menu: one END saying its phone is
not active and to contact the program.

Navigation: a wrong choice re-asks the same screen with a short notice; `0`
goes back one screen, `00` to the main menu; lists page with `9`. Every
reply starts with `CON ` or `END `. The screens are registered here, in
`SCREENS`, from the role modules."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlmodel import Session

from app.channels.ussd import anyone, client, clinic, worker
from app.channels.ussd.screens import (
    MAX_ANSWERS,
    MAX_REPLY,
    MAX_TEXT,
    Ctx,
    Frame,
    Node,
    Push,
    Reask,
    shorten,
    to_ascii,
    ussd_language,
)
from app.config import Settings
from app.domain import people
from app.domain.errors import DomainError
from app.domain.phones import try_normalize_phone
from app.messages import UnknownMessageKey, render
from app.models import Role

# every screen by name
SCREENS: dict[str, Node] = {**anyone.SCREENS, **client.SCREENS, **worker.SCREENS, **clinic.SCREENS}
# the first screen of each role
MAIN: dict[Role, str] = {Role.client: "client_main", Role.worker: "worker_main", Role.clinic: "clinic_main"}


@dataclass(frozen=True)
class UssdReply:
    text: str  # "CON ..." or "END ..."
    screen: str  # the node shown (or the action run), for the logs

    @property
    def ended(self) -> bool:
        return self.text.startswith("END ")


def _error_text(ctx: Ctx, exc: DomainError) -> str:
    """A domain refusal in the caller's words: its own catalogue entry (the
    same words SMS uses), or the generic USSD error."""
    try:
        return ctx.t(exc.key, **exc.values)
    except (UnknownMessageKey, KeyError, IndexError, ValueError):
        return ctx.t("ussd.error")


def _end(body: str) -> str:
    return shorten("END " + to_ascii(body).strip(), MAX_REPLY)


def _con(notice: str | None, body: str) -> str:
    text = "CON " + (notice + "\n" if notice else "") + to_ascii(body).strip()
    return shorten(text, MAX_REPLY)


def refusal(settings: Settings, key: str, language: str | None = None) -> str:
    """An END reply for a request that cannot start a menu (bad input)."""
    return _end(render(key, ussd_language(language or settings.default_language)))


def service_code_allowed(settings: Settings, service_code: str) -> bool:
    """Any service code when USSD_SERVICE_CODES is empty, else one of them."""
    allowed = {c.strip() for c in settings.ussd_service_codes.split(",") if c.strip()}
    return not allowed or service_code.strip() in allowed


@lru_cache(maxsize=4096)
def caller_phone(phone_number: str, region: str) -> str | None:
    """The gateway's `phoneNumber` in E.164, None when unreadable (a pure
    function, cached: every step of a session sends the same number)."""
    return try_normalize_phone(phone_number, region)


def answer_step(
    session: Session,
    settings: Settings,
    *,
    session_id: str | None,
    service_code: str | None,
    phone_number: str | None,
    text: str | None,
    actions: bool = True,
) -> tuple[UssdReply | None, str | None]:
    """One gateway callback, checked: missing fields, an unknown service code
    or an unreadable phone get a clear END. Returns the reply and the
    caller's E.164 phone (None when unreadable). With `actions=False` the
    step only reads: the reply is None when the step confirms an action."""
    if session_id is None or service_code is None or phone_number is None or text is None:
        return UssdReply(refusal(settings, "ussd.bad_request"), "bad_request"), None
    if not service_code_allowed(settings, service_code):
        return UssdReply(refusal(settings, "ussd.unknown_service_code"), "unknown_service_code"), None
    phone = caller_phone(phone_number, settings.default_region)
    if phone is None:
        return UssdReply(refusal(settings, "ussd.bad_caller"), "bad_caller"), None
    return handle_ussd(session, settings, phone=phone, text=text, actions=actions), phone


def handle_ussd(
    session: Session, settings: Settings, *, phone: str, text: str, actions: bool = True
) -> UssdReply | None:
    """One USSD step for `phone` (E.164) whose session so far is `text`.
    Only the step that confirms an action writes; with `actions=False`
    such a step is not run and the reply is None (every other step only
    reads, whichever way it is answered)."""
    caller = people.resolve_caller(session, phone, settings.default_language)
    ctx = Ctx(session, settings, caller, ussd_language(caller.language))
    if caller.former is Role.clinic:
        # a deactivated desk phone, or the desk of a deactivated clinic: why nothing happens
        return UssdReply(_end(ctx.t("codes.staff_inactive")), "staff_inactive")
    if len(text) > MAX_TEXT or text.count("*") >= MAX_ANSWERS:
        return UssdReply(_end(ctx.t("ussd.too_long")), "too_long")
    answers = [a.strip() for a in text.split("*")] if text != "" else []
    stack = [Frame(MAIN[caller.role])]
    notice: str | None = None
    for i, answer in enumerate(answers):
        final = i == len(answers) - 1
        notice = None
        current = SCREENS[stack[-1].node]
        if answer == "00":
            del stack[1:]
            continue
        if answer == "0" and not current.zero_is_answer:
            if len(stack) > 1:
                stack.pop()
            else:
                notice = "ussd.invalid_choice"
            continue
        ctx.final = final
        outcome = current.answer(ctx, stack[-1], answer)
        if isinstance(outcome, Push):
            stack.append(outcome.frame)
        elif isinstance(outcome, Reask):
            notice = outcome.notice
        elif not final and not outcome.on_replay:  # the session ended at this answer: replay runs nothing
            return UssdReply(_end(ctx.t("ussd.session_over")), "session_over")
        elif not actions:
            return None
        else:
            try:
                body = outcome.run()
            except DomainError as exc:
                body = _error_text(ctx, exc)
            return UssdReply(_end(body), f"{stack[-1].node}:act")
    top = stack[-1]
    ctx.notice = ctx.t(notice) if notice else None
    return UssdReply(_con(ctx.notice, SCREENS[top.node].view(ctx, top)), top.node)
