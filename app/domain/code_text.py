"""The rules of a referral code that are pure text and dates: parse, format,
check digit, validity, effective state. Nothing here reads the database, and
this module imports no domain module but the leaf `errors` and `text`.

A code is 8 digits: 7 from `secrets` plus a Damm check digit (python-stdnum),
so every single wrong digit and every swap of two neighbouring digits is
refused by `parse_code` alone, before the database is asked. It is shown as
`4821-5093`; input may carry spaces, dashes, dots and a leading CODE/MA.

Validity: a code issued on local day D for a service with `expiry_days` N is
valid through local day D+N (settings.tz); `expires_at` is the last second
of that day (23:59:59 local, stored UTC), so its local date is the day shown
as "valid until". Past `expires_at` a code is expired even before the
dispatcher marks it so.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import date, datetime, time, timedelta, tzinfo

from stdnum import damm

from app import clock
from app.domain.errors import AlreadyRedeemed, CodeExpired, CodeVoided, DomainError, MalformedCode
from app.domain.text import fold
from app.models import CodeState, ReferralCode

RANDOM_DIGITS = 7
CODE_LENGTH = RANDOM_DIGITS + 1
LAST_SECOND = time(23, 59, 59)
DATE_FORMAT = "%d/%m/%Y"
_PREFIX = re.compile(r"^\s*(CODE|MA)(?![A-Z])[\s:.#-]*")
_SEPARATORS = re.compile(r"[\s.\-_/]+")


def parse_code(text: str | None) -> str:
    """The 8 digits of a typed code. Accepts spaces, dashes, dots and a
    leading `CODE`/`MA` (any case, with or without diacritics). Raises
    MalformedCode (letters, wrong length; a wrong check digit raises
    `mistyped_code`'s, which says so)."""
    raw = fold(unicodedata.normalize("NFKC", text or ""))
    digits = _SEPARATORS.sub("", _PREFIX.sub("", raw, count=1))
    if len(digits) != CODE_LENGTH or not digits.isascii() or not digits.isdigit():
        raise MalformedCode(f"a code has {CODE_LENGTH} digits", text=(text or "")[:40])
    if not damm.is_valid(digits):
        raise mistyped_code(text)
    return digits


MISTYPED_KEY = "codes.mistyped"
WRONG_CHECK_DIGIT = "check_digit"


def mistyped_code(text: str | None) -> MalformedCode:
    """The refusal of a code of the right length whose check digit is wrong
    (one digit mistyped, or two neighbours swapped): a MalformedCode, so
    every channel and the wrong-code throttle treat it as one, with its own
    reason (`reason="check_digit"`) and reply (`codes.mistyped`: check the
    digits, not the format)."""
    exc = MalformedCode("wrong check digit", text=(text or "")[:40], reason=WRONG_CHECK_DIGIT)
    exc.key = MISTYPED_KEY
    return exc


def is_mistyped(exc: Exception) -> bool:
    """Whether `exc` is the refusal of `mistyped_code`."""
    return isinstance(exc, MalformedCode) and exc.values.get("reason") == WRONG_CHECK_DIGIT


def format_code(code: str) -> str:
    """`48215093` -> `4821-5093` (any typed form is accepted)."""
    digits = _SEPARATORS.sub("", code)
    half = len(digits) // 2
    return f"{digits[:half]}-{digits[half:]}"


def random_code() -> str:
    """Seven digits from `secrets` and their check digit."""
    body = f"{secrets.randbelow(10**RANDOM_DIGITS):0{RANDOM_DIGITS}d}"
    return body + damm.calc_check_digit(body)


def expiry_for(expiry_days: int, now: datetime, tz: tzinfo) -> datetime:
    """`expires_at` of a code issued at `now` and valid `expiry_days` local
    days after the day of issue: the last second of that day, in `now`'s zone."""
    last_day = now.astimezone(tz).date() + timedelta(days=expiry_days)
    return datetime.combine(last_day, LAST_SECOND, tzinfo=tz).astimezone(now.tzinfo)


def local_valid_until(code: ReferralCode, tz: tzinfo) -> date:
    """The last local day on which `code` can be redeemed."""
    return code.expires_at.astimezone(tz).date()


def valid_until_text(code: ReferralCode, tz: tzinfo) -> str:
    """The last valid day as people read it: `24/12/2026`."""
    return local_valid_until(code, tz).strftime(DATE_FORMAT)


def effective_state(code: ReferralCode, now: datetime | None = None) -> CodeState:
    """The state as people see it: an issued code past expiry is expired."""
    now = now or clock.now()
    if code.state == CodeState.issued and code.expires_at <= now:
        return CodeState.expired
    return CodeState(code.state)


def state_error(row: ReferralCode, now: datetime) -> DomainError:
    """The refusal for a code that is no longer open (redeemed, voided,
    expired or past expiry); only meaningful for such a code."""
    state = effective_state(row, now)
    shown = format_code(row.code)
    if state == CodeState.redeemed:
        return AlreadyRedeemed(f"code {shown} was already used", code=shown)
    if state == CodeState.voided:
        return CodeVoided(f"code {shown} was voided", code=shown)
    return CodeExpired(f"code {shown} has expired", code=shown, expires_at=row.expires_at)
