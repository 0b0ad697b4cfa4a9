"""Structured logs: one JSON object per line. Phone numbers and referral
codes are masked in every line, whatever the caller passed (a last line of
defence: callers should log `mask_phone(phone)` anyway).

What counts as a phone: a number standing alone (not part of a date, a
time, a decimal or a longer number), its digit groups joined by single
spaces, dots or dashes, that is `+` and 8 to 15 digits, `84` and 9 or 10
digits, or `0` and 9 or 10 digits (`+84912345678`, `84912345678`,
`0912 345 678`, `0912.345.678`, `024 3825 1234`). A referral code: 8 digits
standing alone, as shown (`4821-5093`) or typed whole (`48215093`), also
right after CODE or MA. Every other number, `2026-12-02 06:40:46`,
`12.5`, `1764657646`, is left as it is."""

from __future__ import annotations

import json
import logging
import re
import sys

from app import clock
from app.domain.phones import mask_phone

# a number stands alone: not glued to a word, a `+` or a mask on its left,
# nor right after a digit and a separator (the rest of a date, a time, a
# decimal); the same on its right
_NOT_GLUED = r"(?<![\w+*])"
_NOT_AFTER_A_NUMBER = r"(?<![0-9][.,:/-])"
_ALONE_AFTER = r"(?![\w*])(?![.,:/-][0-9])"
_NUMBER_RE = re.compile(_NOT_GLUED + _NOT_AFTER_A_NUMBER + r"\+?[0-9]+(?:[ .-][0-9]+)*" + _ALONE_AFTER)
_CODE_RE = re.compile(
    r"(?:(?<=\bma)|(?<=\bcode)|"
    + _NOT_GLUED
    + ")"
    + _NOT_AFTER_A_NUMBER
    + r"([0-9]{2})[0-9]{2}(-?)[0-9]{4}"
    + _ALONE_AFTER,
    re.IGNORECASE,
)
_DECIMAL_RE = re.compile(r"[0-9]+\.[0-9]+")
_MAX_PHONE_WORDS = 6  # +84 91 234 56 78
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _as_phone(words: str) -> str | None:
    """The number `words` spell, in international form, if it is a phone."""
    if _DECIMAL_RE.fullmatch(words):
        return None
    digits = re.sub(r"[^0-9]", "", words)
    if words.startswith("+"):
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if digits.startswith("84") and len(digits) in (11, 12):
        return "+" + digits
    if digits.startswith("0") and len(digits) in (10, 11):
        return "+84" + digits[1:]
    return None


def _mask_numbers(span: str) -> str:
    """Numbers separated by single spaces: the longest runs of them that
    spell a phone are masked, the others stay."""
    words = span.split(" ")
    out: list[str] = []
    i = 0
    while i < len(words):
        for j in range(min(len(words), i + _MAX_PHONE_WORDS), i, -1):
            phone = _as_phone(" ".join(words[i:j]))
            if phone is not None:
                out.append(mask_phone(phone))
                i = j
                break
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


def _mask_code(m: re.Match) -> str:
    return f"{m.group(1)}**{m.group(2)}****"


def _mask_text(text: str) -> str:
    text = _NUMBER_RE.sub(lambda m: _mask_numbers(m.group(0)), text)
    return _CODE_RE.sub(_mask_code, text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": clock.now().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _mask_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = _mask_text(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exc"] = _mask_text(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel("WARNING")
    logging.getLogger("apscheduler").setLevel("WARNING")
