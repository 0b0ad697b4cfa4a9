"""Structured logs (`app.logs`): JSON lines with phone numbers masked."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.domain.phones import mask_phone
from app.logs import JsonFormatter, _mask_text


def _format(msg: str, *args, **extra) -> dict:
    record = logging.LogRecord("hen.test", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter().format(record))


def test_log_lines_are_json_with_phone_numbers_masked():
    line = _format("reply to %s failed", "+84912345678", phone="+84912345678", note="call 0912 345 678")
    assert line["level"] == "info" and line["logger"] == "hen.test"
    assert "+84912345678" not in json.dumps(line)
    assert line["msg"] == "reply to +8491****678 failed"
    assert line["phone"] == "+8491****678"
    assert "345 678" not in line["note"]


def test_log_masking_leaves_short_numbers_alone():
    line = _format("dispatched %d messages in %d ms", 12, 340)
    assert line["msg"] == "dispatched 12 messages in 340 ms"


# ---------------------------------------------------------------- what is masked, what is left


def test_timestamps_and_numbers_are_left_as_they_are():
    for text in (
        "2026-12-02 06:40:46",
        "at 2026-12-02T06:40:46.123+07:00 after 1764657646 s",
        "02/12/2026 14:30, 12.5 ms, 3.14159265358, id 12345678901234",
    ):
        assert _mask_text(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("to +84912345678", "to +8491****678"),
        ("to 84912345678", "to +8491****678"),
        ("to 0912 345 678.", "to +8491****678."),
        ("to 0912.345.678 and 0912-345-678", "to +8491****678 and +8491****678"),
        ("code 4821-5093 or 48215093", "code 48**-**** or 48******"),
        ("MA48215093", "MA48******"),
    ],
)
def test_phones_and_referral_codes_are_masked(text, masked):
    assert _mask_text(text) == masked


_JOINERS = st.sampled_from([", ", "; ", " | ", " / ", "\n", " = ", " (", ") "])
_WORDS = st.text(alphabet="abcdeghiklmnopqrstuvxyđươăâêôáàảãạ", min_size=1, max_size=8)
_DATES = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1))
_NOT_PHONES = st.one_of(
    _WORDS,
    st.builds(
        lambda d, f: d.strftime(f),
        _DATES,
        st.sampled_from(
            ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%H:%M", "%H:%M:%S", "%d/%m %H:%M"]
        ),
    ),
    st.builds(lambda d: d.isoformat(), _DATES),
    st.floats(allow_nan=False, allow_infinity=False).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.integers(0, 9_999_999).map(str),  # counts, ms, short ids
    st.integers(10**8, 10**10 - 1).map(str),  # 9 and 10 digits: unix times, ids
    st.integers(10**12, 10**18).map(str),  # 13 digits and more
    st.integers(10**10, 10**12 - 1).map(str).filter(lambda s: not s.startswith("84")),
)


@given(st.lists(_NOT_PHONES, min_size=1, max_size=8), _JOINERS)
def test_text_without_phones_or_codes_comes_out_unchanged(parts, joiner):
    text = joiner.join(parts)
    assert _mask_text(text) == text


@st.composite
def _phones(draw) -> str:
    """A Vietnamese mobile number as people write it: +84, 84 or 0, then
    9 digits, whole or in groups joined by spaces, dots or dashes (a
    number with a single dot reads as a decimal: dots join 3 groups or more)."""
    number = draw(st.sampled_from("35789")) + draw(st.text("0123456789", min_size=8, max_size=8))
    prefix = draw(st.sampled_from(["+84", "84", "0"]))
    sep = draw(st.sampled_from(["", " ", ".", "-"]))
    sizes = draw(st.lists(st.integers(2, 4), min_size=2 if sep == "." else 0, max_size=3))
    groups, i = [], 0
    for size in sizes:
        groups.append(number[i : i + size])
        i += size
    groups = [g for g in groups + [number[i:]] if g]
    if prefix == "0":
        groups[0] = "0" + groups[0]
        return sep.join(groups)
    return prefix + (" " if sep == " " else "") + sep.join(groups)


_CODES = st.builds(
    lambda d, dash: f"{d[:4]}-{d[4:]}" if dash else d,
    st.text("0123456789", min_size=8, max_size=8),
    st.booleans(),
)


def _apart(left: str, right: str) -> bool:
    """`left` and `right`, put either side of a number with a space, do not
    run into it (no digit or `+` at their ends)."""
    return not re.search(r"[0-9+*]$", left) and not re.match(r"[0-9]", right)


def _international(phone: str) -> str:
    digits = re.sub(r"[^0-9]", "", phone)
    return "+84" + digits[1:] if digits.startswith("0") else "+" + digits


@given(st.text(max_size=30), _phones(), st.text(max_size=30))
def test_a_phone_anywhere_in_a_text_is_masked(left, phone, right):
    assume(_apart(left, right))
    out = _mask_text(f"{left} {phone} {right}")
    assert out == f"{_mask_text(left)} {mask_phone(_international(phone))} {_mask_text(right)}"


@given(st.text(max_size=30), _CODES, st.text(max_size=30))
def test_a_referral_code_anywhere_in_a_text_is_masked(left, code, right):
    assume(_apart(left, right))
    out = _mask_text(f"{left} {code} {right}")
    shown = code[:2] + ("**-****" if "-" in code else "******")
    assert out == f"{_mask_text(left)} {shown} {_mask_text(right)}"
