"""USSD menus: a stateless menu tree per role, computed from Africa's
Talking's `text` (every answer of the session so far, joined by `*`).

The path is the state: each step replays the whole path from the main menu
over a stack of screens, so no process memory matters between steps. An
action (issue, redeem, book, opt-out, SMS, language) is an `Act` that runs
only when it is reached by the LAST answer; reached earlier in a replay, the
session had already ended there and nothing runs again.

Navigation: a wrong choice re-asks the same screen with a short notice; `0`
goes back one screen, `00` to the main menu; lists page with `9`.
Every reply starts with `CON ` or `END `, is at most 182 characters and plain
ASCII (Vietnamese is shown from the `vi-ascii` catalogue; any stray
non-ASCII is folded, đ -> d). Words come from the `[ussd]` catalogue table.

This module is the engine (text rules, navigation, replay, the callback's
checks); the screens of each role are in `app.channels.ussd_menus`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlmodel import Session

from app.config import Settings
from app.domain import people
from app.domain.errors import DomainError
from app.domain.phones import try_normalize_phone
from app.domain.text import strip_diacritics
from app.messages import UnknownMessageKey, languages, render
from app.models import Role

MAX_REPLY = 182  # characters, prefix included
MAX_TEXT = 200  # a real session never types this much; longer is refused
MAX_ANSWERS = 40
MAX_LABEL = 40  # one list line, so that at least one always fits a page
PAGE_ITEMS = 8  # 9 is "more", 0 is "back"
NOTICE_KEYS = ("ussd.invalid_choice", "ussd.bad_code", "ussd.bad_phone", "ussd.bad_date", "ussd.bad_time")
_CHOICE = re.compile(r"^[1-9]$")
_PLAIN = re.compile(r"[\n -~]*")  # what to_ascii leaves as it is


# ---------------------------------------------------------------- text


def to_ascii(text: str) -> str:
    """Plain ASCII for a handset: diacritics dropped (đ -> d), tabs and
    carriage returns as spaces, anything else unprintable as `?`."""
    if _PLAIN.fullmatch(text):  # most screens: nothing to fold
        return text
    text = strip_diacritics(unicodedata.normalize("NFKC", text.replace("\r", " ").replace("\t", " ")))
    return "".join(ch if ch == "\n" or " " <= ch <= "~" else "?" for ch in text)


@lru_cache
def shipped_languages() -> frozenset[str]:
    return frozenset(languages())  # catalogues are read once per process anyway


def ussd_language(language: str | None) -> str:
    """USSD shows Vietnamese without diacritics (operators mangle them)."""
    return "vi-ascii" if language == "vi" or language not in shipped_languages() else language


@lru_cache(maxsize=4096)
def fixed_text(key: str, language: str) -> str:
    """A catalogue text without placeholders, as a handset shows it (cached:
    each step renders the same few menu lines)."""
    return to_ascii(render(key, language))


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 3, 0)].rstrip() + "..."


@lru_cache
def _notice_reserve(language: str) -> int:
    return max(len(fixed_text(key, language)) for key in NOTICE_KEYS) + 1


# ---------------------------------------------------------------- engine


@dataclass(frozen=True)
class Frame:
    node: str
    args: tuple = ()
    start: int = 0  # first item shown, for paged lists


@dataclass(frozen=True)
class Push:
    frame: Frame


@dataclass(frozen=True)
class Reask:
    notice: str = "ussd.invalid_choice"


@dataclass(frozen=True)
class Act:
    """Ends the session; `run` (returning the END text) is called only on
    the step that confirms it."""

    run: Callable[[], str]


Outcome = Push | Reask | Act


@dataclass
class Ctx:
    session: Session
    settings: Settings
    caller: people.Caller
    lang: str
    cache: dict[str, Any] = field(default_factory=dict)

    def t(self, key: str, **values: Any) -> str:
        return to_ascii(render(key, self.lang, **values)) if values else fixed_text(key, self.lang)

    def cached(self, name: str, load: Callable[[], Any]) -> Any:
        if name not in self.cache:
            self.cache[name] = load()
        return self.cache[name]

    notice: str | None = None  # the notice shown above this screen, if any

    @property
    def budget(self) -> int:
        """Characters a paged list may use: room is always left for a notice,
        so a page holds the same items whether a notice shows or not (the
        next answer is read against the same page)."""
        return MAX_REPLY - len("CON ") - _notice_reserve(self.lang)

    @property
    def room(self) -> int:
        """Characters a fixed screen may use under the notice shown."""
        return MAX_REPLY - len("CON ") - (len(self.notice) + 1 if self.notice else 0)

    def local(self, at: datetime, fmt: str = "%d/%m/%Y") -> str:
        return at.astimezone(self.settings.tz).strftime(fmt)


@dataclass(frozen=True)
class UssdReply:
    text: str  # "CON ..." or "END ..."
    screen: str  # the node shown (or the action run), for the logs

    @property
    def ended(self) -> bool:
        return self.text.startswith("END ")


class Node:
    zero_is_answer = False  # "0" is an answer here (client phone: none), not "back"

    def view(self, ctx: Ctx, frame: Frame) -> str:
        raise NotImplementedError

    def answer(self, ctx: Ctx, frame: Frame, answer: str) -> Outcome:
        raise NotImplementedError


NODES: dict[str, Node] = {}  # every screen by name (filled by app.channels.ussd_menus)
MAIN: dict[Role, str] = {}  # the first screen of each role


def node(name: str):
    def register(cls):
        NODES[name] = cls()
        return cls

    return register


def nav_line(ctx: Ctx) -> str:
    return ctx.t("ussd.nav")


class Menu(Node):
    """A fixed menu: numbered options, each a label key and what it does."""

    title = "ussd.title"
    top = False

    def options(self, ctx: Ctx) -> list[tuple[str, Callable[[Ctx], Outcome]]]:
        raise NotImplementedError

    def view(self, ctx: Ctx, frame: Frame) -> str:
        lines = [ctx.t(self.title)]
        lines += [f"{i} {ctx.t(label)}" for i, (label, _) in enumerate(self.options(ctx), 1)]
        if not self.top:
            lines.append(nav_line(ctx))
        return "\n".join(lines)

    def answer(self, ctx: Ctx, frame: Frame, answer: str) -> Outcome:
        options = self.options(ctx)
        if _CHOICE.match(answer) and int(answer) <= len(options):
            return options[int(answer) - 1][1](ctx)
        return Reask()


class Paged(Node):
    """A list from the database, as many items a page as fit, `9` for more."""

    def title(self, ctx: Ctx, frame: Frame) -> str:
        raise NotImplementedError

    def items(self, ctx: Ctx, frame: Frame) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def pick(self, ctx: Ctx, frame: Frame, value: Any) -> Outcome:
        raise NotImplementedError

    def empty(self, ctx: Ctx, frame: Frame) -> Outcome:
        return Act(lambda: ctx.t("ussd.nothing_found"))

    def _page(self, ctx: Ctx, frame: Frame) -> tuple[list[str], list[tuple[str, Any]]]:
        items = self.items(ctx, frame)
        more, back = f"9 {ctx.t('ussd.more')}", nav_line(ctx)
        lines = [shorten(self.title(ctx, frame), MAX_LABEL)]
        shown: list[tuple[str, Any]] = []
        for label, value in items[frame.start : frame.start + PAGE_ITEMS]:
            line = f"{len(shown) + 1} {shorten(label, MAX_LABEL)}"
            after = frame.start + len(shown) + 1 < len(items)
            if shown and len("\n".join([*lines, line, *([more] if after else []), back])) > ctx.budget:
                break
            lines.append(line)
            shown.append((label, value))
        if frame.start + len(shown) < len(items):
            lines.append(more)
        lines.append(back)
        return lines, shown

    def view(self, ctx: Ctx, frame: Frame) -> str:
        return "\n".join(self._page(ctx, frame)[0])

    def answer(self, ctx: Ctx, frame: Frame, answer: str) -> Outcome:
        items = self.items(ctx, frame)
        if not items:
            return self.empty(ctx, frame)
        _, shown = self._page(ctx, frame)
        if answer == "9" and frame.start + len(shown) < len(items):
            return Push(Frame(frame.node, frame.args, frame.start + len(shown)))
        if _CHOICE.match(answer) and int(answer) <= len(shown):
            return self.pick(ctx, frame, shown[int(answer) - 1][1])
        return Reask()


class Prompt(Node):
    """Free input (a code, a phone, a date): a prompt and a validator."""

    prompt = ""

    def view(self, ctx: Ctx, frame: Frame) -> str:
        return "\n".join([ctx.t(self.prompt), nav_line(ctx)])


class Confirm(Node):
    """`1` runs the action (on the confirming step only); `0` goes back."""

    def question(self, ctx: Ctx, frame: Frame) -> str:
        raise NotImplementedError

    def act(self, ctx: Ctx, frame: Frame) -> str:
        raise NotImplementedError

    def view(self, ctx: Ctx, frame: Frame) -> str:
        footer = f"\n1 {ctx.t('ussd.yes')}\n{nav_line(ctx)}"
        return shorten(self.question(ctx, frame), ctx.room - len(footer)) + footer

    def answer(self, ctx: Ctx, frame: Frame, answer: str) -> Outcome:
        return Act(lambda: self.act(ctx, frame)) if answer == "1" else Reask()


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
    if len(text) > MAX_TEXT or text.count("*") >= MAX_ANSWERS:
        return UssdReply(_end(ctx.t("ussd.too_long")), "too_long")
    answers = [a.strip() for a in text.split("*")] if text != "" else []
    stack = [Frame(MAIN[caller.role])]
    notice: str | None = None
    for i, answer in enumerate(answers):
        final = i == len(answers) - 1
        notice = None
        current = NODES[stack[-1].node]
        if answer == "00":
            del stack[1:]
            continue
        if answer == "0" and not current.zero_is_answer:
            if len(stack) > 1:
                stack.pop()
            else:
                notice = "ussd.invalid_choice"
            continue
        outcome = current.answer(ctx, stack[-1], answer)
        if isinstance(outcome, Push):
            stack.append(outcome.frame)
        elif isinstance(outcome, Reask):
            notice = outcome.notice
        elif not final:  # the session ended at this answer: replay runs nothing
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
    return UssdReply(_con(ctx.notice, NODES[top.node].view(ctx, top)), top.node)
