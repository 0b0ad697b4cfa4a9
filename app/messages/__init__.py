"""Message catalogues: one TOML file per language in this folder
(`vi.toml`, `vi-ascii.toml`, `en.toml`, ...). Adding a language is adding a
file. Code refers to keys (`section.name`); `render` fills the placeholders.
Lists in a table hold what people type rather than what we send (the
phrases of `[intents]`, the date words of `[when]`, the words asking for a
new code): `word_lists` reads them.

Also the SMS segment arithmetic: GSM-7 (with its extension table) versus
UCS-2."""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CATALOGUE_DIR = Path(__file__).parent
FALLBACK_LANGUAGE = "vi-ascii"


class UnknownMessageKey(KeyError):
    pass


def _flatten(prefix: str, table: dict, out: dict[str, str]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(name, value, out)
        elif not isinstance(value, list):  # lists are phrases people type, not texts
            out[name] = str(value)


@lru_cache
def _load(language: str) -> dict:
    path = CATALOGUE_DIR / f"{language}.toml"
    if not path.is_file():
        raise LookupError(f"no catalogue for language {language!r}")
    with path.open("rb") as fh:
        return tomllib.load(fh)


@lru_cache
def catalogue(language: str) -> dict[str, str]:
    """Every text of one language, flattened (`sms.help_client`)."""
    out: dict[str, str] = {}
    _flatten("", _load(language), out)
    return out


def word_lists(language: str, section: str) -> dict[str, list[str]]:
    """The lists of one catalogue table (what people type, not texts we
    send): name -> phrases, e.g. `word_lists("vi", "when")["tomorrow"]`."""
    table = _load(language).get(section, {})
    return {name: list(value) for name, value in table.items() if isinstance(value, list)}


def intents(language: str) -> dict[str, list[str]]:
    """The `[intents]` table of one language: intent -> phrases, as typed."""
    return word_lists(language, "intents")


@lru_cache
def _shipped() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in CATALOGUE_DIR.glob("*.toml")))


def languages() -> list[str]:
    """The languages shipped, one per catalogue file (read once per process,
    like the catalogues themselves: `render` asks on every message)."""
    return list(_shipped())


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render(key: str, language: str | None = None, **values) -> str:
    """The text of `key` in `language` (falling back to vi-ascii for a
    language without a catalogue), placeholders filled from `values`."""
    lang = language if language in _shipped() else FALLBACK_LANGUAGE
    try:
        template = catalogue(lang)[key]
    except KeyError:
        raise UnknownMessageKey(key) from None
    return template.format_map(values) if values or "{" in template else template


def datetime_text(date: str, time: str, language: str | None = None) -> str:
    """A date and a time said together, in the order of `language`
    (`format.datetime`: `09:30 ngay 25/12/2026`, `25/12/2026 at 09:30`)."""
    return render("format.datetime", language, date=date, time=time)


# ---------------------------------------------------------------- segments

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "^{}\\[~]|€\f"
_BASIC = frozenset(GSM7_BASIC) - {"\x1b"}
_EXT = frozenset(GSM7_EXTENSION)
# the same sets as character classes: one scan in C instead of a Python loop
# per character (every message in and out is counted)
_NOT_GSM7 = re.compile("[^" + re.escape("".join(sorted(_BASIC | _EXT))) + "]")
_EXT_CHARS = re.compile("[" + re.escape(GSM7_EXTENSION) + "]")


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def count_segments(text: str) -> SegmentInfo:
    """How many SMS segments `text` takes: GSM-7 160/153 septets (an
    extension character costs two), otherwise UCS-2 70/67 UTF-16 units."""
    if _NOT_GSM7.search(text) is None:
        units = len(text) + len(_EXT_CHARS.findall(text))  # an extension character is two septets
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units <= single:
        return SegmentInfo(encoding, units, 1)
    return SegmentInfo(encoding, units, -(-units // multi))
