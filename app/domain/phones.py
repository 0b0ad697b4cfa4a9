"""Phone numbers: E.164 normalisation (default region from settings) and
masking for logs and non-admin views. The one place for both."""

from __future__ import annotations

import phonenumbers

from app.domain.errors import InvalidPhone

_MAX_INPUT = 40


def normalize_phone(raw: str | None, region: str = "VN") -> str:
    """`0912 345 678`, `84912345678` and `+84912345678` -> `+84912345678`.

    Raises InvalidPhone for anything that is not a valid number."""
    text = (raw or "").strip()
    if not text or len(text) > _MAX_INPUT:
        raise InvalidPhone(f"not a phone number: {text[:_MAX_INPUT]!r}")
    candidates = [text]
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith(("+", "0")) and digits == text.replace(" ", "").replace("-", ""):
        # 84912345678: an international number typed without its plus sign
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhone(f"not a valid phone number: {text!r}")


def try_normalize_phone(raw: str | None, region: str = "VN") -> str | None:
    try:
        return normalize_phone(raw, region)
    except InvalidPhone:
        return None


def mask_phone(phone: str | None) -> str:
    """`+84912345678` -> `+8491****678`: enough to tell numbers apart in a
    log, not enough to call anyone."""
    if not phone:
        return ""
    if len(phone) <= 8:
        return phone[:2] + "*" * max(len(phone) - 2, 0)
    return phone[:5] + "*" * (len(phone) - 8) + phone[-3:]
