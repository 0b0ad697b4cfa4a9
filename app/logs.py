"""Structured logs: one JSON object per line. Phone numbers are masked in
every line, whatever the caller passed (a last line of defence: callers
should log `mask_phone(phone)` anyway)."""

from __future__ import annotations

import json
import logging
import re
import sys

from app import clock
from app.domain.phones import mask_phone

_PHONE_RE = re.compile(r"(?<![\w*])\+?\d[\d\s-]{7,16}\d(?!\w)")
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _mask_text(text: str) -> str:
    def repl(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        if not 9 <= len(digits) <= 15:
            return m.group(0)
        return mask_phone(("+" if m.group(0).startswith("+") else "") + digits)

    return _PHONE_RE.sub(repl, text)


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
