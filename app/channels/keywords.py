"""SMS keywords: the alias table of SPEC section 4 and the matcher.

Rules, in the order they are tried on the first word(s) of a message:
1. a message that is only a code (8 digits, any spaces/dashes/dots) -> CODE;
2. `?` at the start -> HELP;
3. an exact alias of 4+ letters typed as two words (`TU CHOI`, `HUY MA`,
   `PHONG KHAM`; `T C` is not TC);
4. an exact alias of the first word (`HUY` is STOP, `HUYMA` is VOID: exact
   wins); `HUY` followed by a code is VOID (`HUY 7003-3661`: "cancel code"),
   never an opt-out;
5. one typo (Damerau-Levenshtein distance 1: one letter added, dropped,
   changed or two neighbours swapped) against aliases of 4+ letters, only
   for a typed word of 4+ letters whose first letter is right, and only when
   the typo points at one keyword (`STAT` is both STATS and START: no match).
   A 4-letter alias forgives a swap, a letter added or dropped, not a letter
   changed: otherwise SHOP would be STOP, HELL HELP and LONG LANG.
   Short words never match by typo, so `TO`, `STO` or `HU` never mean STOP.

Matching ignores case, Vietnamese diacritics (`đ` too) and the punctuation
and spaces around the keyword. Pure functions: no database, no settings.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from app.domain.text import fold

# canonical keyword -> aliases (folded: upper case, no diacritics)
ALIASES: dict[str, tuple[str, ...]] = {
    "HELP": ("HELP", "GIUP", "?"),
    "CLINIC": ("CLINIC", "PHONGKHAM", "PK"),
    "MORE": ("MORE", "THEM"),
    "CODE": ("CODE", "MA"),
    "APPT": ("APPT", "HEN"),
    "STOP": ("STOP", "TC", "TUCHOI", "HUY", "NGUNG"),
    "START": ("START", "BATDAU"),
    "LANG": ("LANG", "NGONNGU"),
    "REF": ("REF", "GT"),
    "VOID": ("VOID", "HUYMA"),
    "REACH": ("REACH", "TIEPCAN"),
    "MEET": ("MEET", "NHOM", "HOPNHOM"),
    "STATS": ("STATS", "TK"),
    "RED": ("RED", "XN"),
}
KEYWORDS: tuple[str, ...] = tuple(ALIASES)
# STOP aliases that mean "cancel": followed by a code, they cancel the code
CANCEL_WORDS = frozenset({"HUY"})
CODE_LENGTH = 8
TYPO_MIN_LENGTH = 4

_EXACT: dict[str, str] = {alias: kw for kw, aliases in ALIASES.items() for alias in aliases}
_TYPO_ALIASES: tuple[tuple[str, str], ...] = tuple(
    (alias, kw) for alias, kw in _EXACT.items() if len(alias) >= TYPO_MIN_LENGTH
)
_MAX_ALIAS = max(len(a) for a in _EXACT)
_SCAN = 200  # the keyword is at the start: never look further than this

# leading noise, then up to two words of letters
_HEAD = re.compile(r"[\W_]*?([^\W\d_]+)(?:[ \t.\-_]+([^\W\d_]+))?")
_CODE_CHARS = re.compile(r"[\d\s.\-]+")
_ARG_TRIM = " \t\r\n:;,.!-_=#*"


@dataclass(frozen=True)
class KeywordMatch:
    keyword: str | None  # canonical keyword, None when nothing matched
    args: str = ""  # the text after the keyword, as typed, trimmed
    alias: str = ""  # what was recognised (folded)
    typo: bool = False
    bare_code: bool = False


def edit_distance_at_most_one(a: str, b: str) -> bool:
    """True when `a` and `b` differ by at most one insertion, deletion,
    substitution or swap of two neighbouring letters."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    if la > lb:
        a, b = b, a  # a is the shorter one
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


def _by_typo(word: str) -> str | None:
    if len(word) < TYPO_MIN_LENGTH or len(word) > _MAX_ALIAS + 1:
        return None
    found = {
        kw
        for alias, kw in _TYPO_ALIASES
        if alias[0] == word[0]
        and edit_distance_at_most_one(word, alias)
        # 4 letters: a changed letter makes other words (SHOP, HELL, LONG) keywords
        and not (len(alias) == len(word) == TYPO_MIN_LENGTH and sorted(alias) != sorted(word))
    }
    return found.pop() if len(found) == 1 else None


def is_bare_code(text: str) -> bool:
    """Only digits of a code's length, with optional spaces, dashes or dots."""
    text = text.strip()
    if not text or len(text) > 4 * CODE_LENGTH or not _CODE_CHARS.fullmatch(text):
        return False
    digits = [c for c in text if c.isdigit()]
    return len(digits) == CODE_LENGTH and all(c.isascii() for c in digits)


def is_near_code(text: str) -> bool:
    """Only digits (spaces, dashes, dots) of about a code's length: a code
    with a digit missing or one too many still reads as a code."""
    text = text.strip()
    if not text or len(text) > 4 * CODE_LENGTH or not _CODE_CHARS.fullmatch(text):
        return False
    digits = [c for c in text if c.isdigit()]
    return CODE_LENGTH - 2 <= len(digits) <= CODE_LENGTH + 2 and all(c.isascii() for c in digits)


def parse_keyword(text: str | None) -> KeywordMatch:
    """The keyword of an inbound SMS and the text after it. Never raises."""
    raw = unicodedata.normalize("NFKC", text or "")
    stripped = raw.strip()
    if not stripped:
        return KeywordMatch(None)
    if is_bare_code(stripped):
        return KeywordMatch("CODE", args=stripped, alias="", bare_code=True)
    head = stripped[:_SCAN]
    lead = head.lstrip(_ARG_TRIM)
    if lead.startswith("?"):
        return KeywordMatch("HELP", args=lead[1:].strip(_ARG_TRIM + "?"), alias="?")
    m = _HEAD.match(head)
    if m is None:
        return KeywordMatch(None, args=stripped)
    first = fold(m.group(1))
    second = fold(m.group(2)) if m.group(2) else ""

    def rest(end: int) -> str:
        return stripped[end:].strip(_ARG_TRIM)

    if second and len(first + second) >= TYPO_MIN_LENGTH and first + second in _EXACT:
        return KeywordMatch(_EXACT[first + second], rest(m.end(2)), first + second)
    if first in _EXACT:
        args = rest(m.end(1))
        if first in CANCEL_WORDS and is_near_code(args):  # `HUY 7003-366`: the code, mistyped
            return KeywordMatch("VOID", args, first)
        return KeywordMatch(_EXACT[first], args, first)
    kw = _by_typo(first)
    if kw:
        return KeywordMatch(kw, rest(m.end(1)), first, typo=True)
    if second:
        kw = _by_typo(first + second)
        if kw:
            return KeywordMatch(kw, rest(m.end(2)), first + second, typo=True)
    return KeywordMatch(None, args=stripped)
