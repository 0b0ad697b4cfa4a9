"""The parts USSD screens are made of: the text rules of a handset
(182 characters, plain ASCII: Vietnamese from the `vi-ascii` catalogue, any
stray non-ASCII folded, đ -> d), the outcomes of an answer (`Push` a
screen, `Reask` it with a notice, `Act` to end the session), the context a
screen gets, and the kinds of screen: `Menu`, `Paged` (lists, `9` for
more), `Prompt` (free input) and `Confirm` (`1` runs the action).

The screens of each role are in `anyone`, `client`, `worker` and `clinic`;
`engine` replays a session's answers over them."""

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
from app.domain import code_text, people
from app.domain.errors import MalformedCode
from app.domain.text import strip_diacritics
from app.messages import datetime_text, languages, render
from app.models import Role, Service

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
    the step that confirms it, or, with `on_replay`, also when an earlier
    answer ends it on replay (a code refused: a path typed past a code that
    cannot be used is still counted and audited, never a silent look-up)."""

    run: Callable[[], str]
    on_replay: bool = False


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
    # whether the answer being read is the one just typed (the session's
    # last); an earlier answer, replayed, was checked when it was typed, so
    # a screen checks the database only for the answer given now
    final: bool = False

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

    def moment(self, at: datetime) -> str:
        """A local date and time in this language's order (`09:30 ngay 25/12/2026`)."""
        return datetime_text(self.local(at), self.local(at, "%H:%M"), self.lang)


class Node:
    zero_is_answer = False  # "0" is an answer here (client phone: none), not "back"

    def view(self, ctx: Ctx, frame: Frame) -> str:
        raise NotImplementedError

    def answer(self, ctx: Ctx, frame: Frame, answer: str) -> Outcome:
        raise NotImplementedError


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


def go(name: str, *args: Any) -> Callable[[Ctx], Outcome]:
    """A menu option that opens the screen `name`."""
    return lambda ctx: Push(Frame(name, args))


def act(fn: Callable[[Ctx], str]) -> Callable[[Ctx], Outcome]:
    """A menu option that ends the session with `fn(ctx)`."""
    return lambda ctx: Act(lambda: fn(ctx))


def service_label(ctx: Ctx, service: Service) -> str:
    """A service as this caller reads it: its code beside the neutral name
    for workers and clinic staff (`VCT Tu van suc khoe`, what they type by
    SMS), the neutral name alone for a client (discretion)."""
    if ctx.caller.role is Role.client:
        return service.display_name
    return ctx.t("ussd.service_label", code=service.code, name=service.display_name)


def typed_code(answer: str) -> str | None:
    """The code typed as an answer, None when it is not one."""
    try:
        return code_text.parse_code(answer)
    except MalformedCode:
        return None
