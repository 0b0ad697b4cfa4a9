"""Phone numbers: E.164 normalisation (default region from settings), the
old 11-digit Vietnamese mobile numbers mapped to today's, whether a number
is a mobile (a client's phone must be: a landline cannot receive an SMS),
and masking for logs and non-admin views. The one place for all of them."""

from __future__ import annotations

import phonenumbers

from app.domain.errors import InvalidPhone

_MAX_INPUT = 40

# Vietnam's 2018 renumbering of 11-digit mobile numbers (Ministry of
# Information and Communications, Circular 22/2014 and its 2018 plan): the
# old prefix (after the 0) and the new one; the last 7 digits stay.
OLD_MOBILE_PREFIXES = {
    # Viettel
    "162": "32", "163": "33", "164": "34", "165": "35", "166": "36", "167": "37", "168": "38", "169": "39",
    # MobiFone
    "120": "70", "121": "79", "122": "77", "126": "76", "128": "78",
    # VinaPhone
    "123": "83", "124": "84", "125": "85", "127": "81", "129": "82",
    # Vietnamobile
    "186": "56", "188": "58",
    # Gmobile
    "199": "59",
}  # fmt: skip


def _renumbered(digits: str) -> str | None:
    """Today's national number (without the 0) for an old 11-digit mobile
    number (`01689123456`, `841689123456`), else None."""
    national = (
        digits[2:]
        if digits.startswith("84") and len(digits) == 12
        else digits[1:]
        if digits.startswith("0")
        else ""
    )
    if len(national) != 10:
        return None
    new = OLD_MOBILE_PREFIXES.get(national[:3])
    return new + national[3:] if new else None


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
    if region == "VN" or text.startswith(("+84", "84")):
        renumbered = _renumbered(digits)
        if renumbered:  # 0168 912 3456, renumbered in 2018: 038 912 3456
            candidates.insert(0, "+84" + renumbered)
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhone(f"not a valid phone number: {text!r}")


def is_mobile(phone: str) -> bool:
    """Whether the E.164 `phone` is a mobile number (one that can get an SMS)."""
    try:
        kind = phonenumbers.number_type(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return False
    return kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


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
