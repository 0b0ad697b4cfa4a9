"""Dates and times as people type them for an appointment, read into a
local moment; and which weekdays a clinic's `hours` text says it is open.
Pure functions: no database, no clock (the caller passes `now`).

The words (`mai`, `thu 2`, `chieu`, `tomorrow`, `pm`, ...) are not in this
module: each catalogue lists them under `[when]`, a list of phrases per
meaning, and a text is read with the words of every shipped language (a desk set to
English may still type `mai`). Words are matched folded: `ngày mai`,
`ngay mai` and `NGAY MAI` agree.

The rules:
- a date: `25/12`, `25/12/2026`, `25/12/26`, `25-12`, `25.12`; without a
  year this year's, or next year's within the next six months (`05/01`
  typed in December); `hom nay`/`nay`/`today` today; `mai`/`ngay mai`/
  `tomorrow` tomorrow; `ngay kia`/`mot` the day after; a weekday (`thu 2`,
  `t2`, `thu hai`, `monday`, `mon`; `chu nhat`/`cn`/`sunday`) the next such
  day, never today;
- a time: `14h`, `14h30`, `14:30`, `8g`, `8 gio`, `2pm`, or a bare hour
  after a date (`25/12 14`); with a part of the day: `sang`/`am` keeps
  1-11 (12 sang/am is 00:00), `trua` makes 1-5 afternoon (`1h trua` is
  13:00), `chieu`/`toi`/`pm`/`evening` add 12 to 1-11 (`2h chieu` 14:00,
  `8h toi` 20:00); without one, a one-digit hour 1-6 (`2h`, `5:30`) is
  afternoon, 13:00-18:00, since clinics do not open at 2 in the night
  (`02:30`, two digits, stays 02:30);
- no time: 08:00 (`DEFAULT_TIME`), or the part of the day's own hour
  (`sang` 08:00, `trua` 12:00, `chieu` 14:00, `toi` 18:00);
- no date: today (`14h30`, `chieu nay`), refused as past once gone;
- filler words (`luc`, `vao`, `ngay`, `at`, `on`) are skipped; anything
  else, two dates or two times make the text unreadable (InvalidDate).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from app.domain.errors import DomainError
from app.domain.text import strip_diacritics
from app.messages import languages, word_lists

DEFAULT_TIME = time(8, 0)
NEXT_YEAR_WINDOW = timedelta(days=183)
MAX_AHEAD = timedelta(days=366)
MAX_TEXT = 60  # longer than any date people type: unreadable
SHOWN = 30  # characters of the typed text echoed in a refusal
PART_TIMES = {"morning": time(8), "noon": time(12), "afternoon": time(14), "evening": time(18)}
# the hours a part of the day (None: none typed, one digit only) puts after noon
AFTER_NOON = {"noon": range(1, 6), "afternoon": range(1, 12), "evening": range(1, 12), None: range(1, 7)}
DAY_OFFSETS = {"today": 0, "tomorrow": 1, "after_tomorrow": 2}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# the catalogue keys under `[when]` and what each phrase of theirs means
MEANINGS = (*DAY_OFFSETS, *WEEKDAYS, *PART_TIMES, "hour", "filler", "through")


class InvalidDate(DomainError):
    key = "codes.bad_date"
    status = 422


class PastDate(DomainError):
    key = "codes.past_date"
    status = 422


class DateTooFar(DomainError):
    key = "codes.date_too_far"
    status = 422


_DIGIT_SEPARATOR = re.compile(r"(?<=\d)\s*([/.\-:])\s*(?=\d)")
_TOKEN = re.compile(
    r"(?P<date>\d{1,2}[/.\-]\d{1,2}(?:[/.\-](?:\d{4}|\d{2}))?)(?![\d/.\-]*\d)"
    r"|(?P<clock>\d{1,2}:\d{2})(?!\d)"
    r"|(?P<num>\d+)"
    r"|(?P<word>[a-z']+)"
    r"|(?P<dash>[\-\u2013])"
    r"|(?P<sep>[\s,;.!?()&/]+)"
    r"|(?P<other>.)",
    re.DOTALL,
)


def shown(text: str | None) -> str:
    """What a refusal echoes of the typed text: plain printable ASCII, at
    most SHOWN characters (any text keeps the reply within its segments)."""
    folded = " ".join(strip_diacritics(text or "").split())
    return "".join(c for c in folded if " " <= c <= "~").strip()[:SHOWN]


def _tokens(text: str, *, dates: bool = True) -> list[tuple[str, str]]:
    """(kind, text) of a folded lower-case text; separators dropped. Without
    `dates` (an hours text) `2-6` is two numbers and a dash."""
    text = strip_diacritics(text).lower()
    text = _DIGIT_SEPARATOR.sub(r"\1", text) if dates else re.sub(r"[\-\u2013/]", " - ", text)
    return [(m.lastgroup, m.group()) for m in _TOKEN.finditer(text) if m.lastgroup != "sep"]


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(str(int(t)) if kind == "num" else t for kind, t in _tokens(text))


@lru_cache
def phrases() -> dict[tuple[str, ...], str]:
    """Every `[when]` phrase of every shipped catalogue, as tokens, with its
    meaning (`("thu", "2")` -> `monday`). Raises ValueError if two
    languages give one phrase two meanings."""
    out: dict[tuple[str, ...], str] = {}
    for language in languages():
        words = word_lists(language, "when")
        for meaning in MEANINGS:
            for typed in words.get(meaning, []):
                phrase = _phrase(typed)
                if not phrase:
                    continue
                if out.setdefault(phrase, meaning) != meaning:
                    raise ValueError(f"{typed!r} means both {out[phrase]} and {meaning}")
    return out


def _meanings(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Tokens with the catalogue's phrases (longest first) replaced by
    ("word", meaning); unknown words stay ("word?", text)."""
    table = phrases()
    longest = max((len(p) for p in table), default=1)
    keys = [str(int(t)) if kind == "num" else t for kind, t in tokens]
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        for size in range(min(longest, len(tokens) - i), 0, -1):
            meaning = table.get(tuple(keys[i : i + size]))
            if meaning and (size > 1 or tokens[i][0] == "word"):
                out.append(("word", meaning))
                i += size
                break
        else:
            kind, text = tokens[i]
            out.append(("word?", text) if kind == "word" else (kind, text))
            i += 1
    return out


def read_datetime(text: str, now: datetime) -> datetime:
    """The moment (aware, in `now`'s time zone) a typed date and time names;
    see the module docstring for the rules. Raises InvalidDate, PastDate,
    DateTooFar, each with `date` (the typed text, as `shown`)."""
    echo = shown(text)
    if not text or len(text) > MAX_TEXT:
        raise InvalidDate("no date or too long", date=echo)
    day, hour, minute, part = _read(_meanings(_tokens(text)), echo)
    today = now.date()
    try:
        on = _day(day, today)
        at = _time(hour, minute, part)
    except ValueError:
        raise InvalidDate(f"no such date or time {echo!r}", date=echo) from None
    starts = datetime.combine(on, at, tzinfo=now.tzinfo)
    if starts <= now:
        raise PastDate(f"{echo!r} is in the past", date=echo)
    if starts - now > MAX_AHEAD:
        raise DateTooFar(f"{echo!r} is more than a year ahead", date=echo)
    return starts


def _read(items: list[tuple[str, str]], echo: str) -> tuple:
    """(day, (hour, one digit) or None, minute, part of day) of the tokens."""
    bad = InvalidDate(f"unreadable date {echo!r}", date=echo)
    day: tuple | None = None
    hour: tuple[int, bool] | None = None
    minute = 0
    part: str | None = None
    bare = False
    i = 0
    while i < len(items):
        kind, value = items[i]
        i += 1
        if kind == "date" or (kind == "word" and (value in DAY_OFFSETS or value in WEEKDAYS)):
            if day is not None:
                raise bad
            day = (kind, value)
        elif kind == "word" and value in PART_TIMES:
            if part not in (None, value):
                raise bad
            part = value
        elif kind == "word" and value == "filler":
            continue
        elif kind in ("clock", "num") and hour is None:
            digits, _, mm = value.partition(":")
            if len(digits) > 2 or len(mm or "00") != 2:
                raise bad
            hour, minute = (int(digits), len(digits) == 1), int(mm or 0)
            if kind == "num" and i < len(items) and items[i] == ("word", "hour"):
                i += 1
                if i < len(items) and items[i][0] == "num" and len(items[i][1]) == 2:
                    minute = int(items[i][1])
                    i += 1
            elif kind == "num":
                bare = True
        else:
            raise bad
    if (day is None and hour is None and part is None) or (bare and day is None and part is None):
        raise bad
    return day, hour, minute, part


def _day(day: tuple | None, today: date) -> date:
    if day is None:
        return today
    kind, value = day
    if kind == "word" and value in DAY_OFFSETS:
        return today + timedelta(days=DAY_OFFSETS[value])
    if kind == "word":  # a weekday: the next one, never today
        return today + timedelta(days=(WEEKDAYS.index(value) - today.weekday() - 1) % 7 + 1)
    parts = re.split(r"[/.\-]", value)
    d, m = int(parts[0]), int(parts[1])
    if len(parts) == 3:
        return date(int(parts[2]) + (2000 if len(parts[2]) == 2 else 0), m, d)
    return year_less(d, m, today)


def _time(hour: tuple[int, bool] | None, minute: int, part: str | None) -> time:
    if hour is None:
        return PART_TIMES[part] if part else DEFAULT_TIME
    h, one_digit = hour
    if part == "morning" and h == 12:
        h = 0
    elif h in AFTER_NOON.get(part, ()) and (part is not None or one_digit):
        h += 12
    return time(h, minute)  # ValueError past 23:59


def year_less(day: int, month: int, today: date) -> date:
    """This year's day/month, or next year's around New Year (within
    NEXT_YEAR_WINDOW); a passed day otherwise (refused as past). Raises
    ValueError for a day/month that never exists (31/02)."""
    date(2000, month, day)  # a leap year: only impossible dates fail
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:  # 29/02 outside a leap year
            continue
        if candidate >= today and (year == today.year or candidate - today <= NEXT_YEAR_WINDOW):
            return candidate
    return date(today.year, month, day)  # ValueError for 29/02 outside a leap year


def open_weekdays(hours: str | None) -> frozenset[int] | None:
    """The weekdays (Monday 0) a clinic's `hours` text says it is open:
    `T2-T6 7:30-16:30`, `T2-T6 7:30-16:00, T7 7:30-11:30`, `Thu 2 - Thu 7`,
    `Thu 2-6`, `Mon-Fri 8:00-17:00`. None when the text is not only days,
    ranges and times (free text, a closing note): then no day is refused."""
    if not hours or len(hours) > 200:
        return None
    items = _meanings(_tokens(hours, dates=False))
    days: set[int] = set()
    i = 0
    while i < len(items):
        kind, value = items[i]
        i += 1
        if kind == "word" and value in WEEKDAYS:
            first = WEEKDAYS.index(value)
            last = first
            if i < len(items) and (items[i][0] == "dash" or items[i] == ("word", "through")):
                end = items[i + 1] if i + 1 < len(items) else ("", "")
                if end[0] == "word" and end[1] in WEEKDAYS:
                    last, i = WEEKDAYS.index(end[1]), i + 2
                elif end[0] == "num" and 2 <= int(end[1]) <= 7:  # `Thu 2-6`
                    last, i = int(end[1]) - 2, i + 2
            days.update((first + n) % 7 for n in range((last - first) % 7 + 1))
        elif kind in ("num", "clock", "dash", "date") or (
            kind == "word" and value in ("hour", "through", "filler", *PART_TIMES)
        ):
            continue  # the times of the day, not days
        else:
            return None
    return frozenset(days) or None
