"""Phone numbers: E.164, the old 11-digit mobile numbers of Vietnam mapped
to today's, mobiles told from landlines, masking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidPhone
from app.domain.phones import OLD_MOBILE_PREFIXES, is_mobile, mask_phone, normalize_phone


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("0912 345 678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("+84912345678", "+84912345678"),
        ("01689123456", "+84389123456"),  # Viettel 0168 -> 038
        ("0168 912 3456", "+84389123456"),
        ("+84 168 912 3456", "+84389123456"),
        ("841689123456", "+84389123456"),
        ("01209123456", "+84709123456"),  # MobiFone 0120 -> 070
        ("01239123456", "+84839123456"),  # VinaPhone 0123 -> 083
        ("01869123456", "+84569123456"),  # Vietnamobile 0186 -> 056
        ("01999123456", "+84599123456"),  # Gmobile 0199 -> 059
    ],
)
def test_numbers_as_typed_and_old_11_digit_mobiles(typed, e164):
    assert normalize_phone(typed) == e164


def test_every_old_prefix_maps_to_a_valid_mobile():
    for old in OLD_MOBILE_PREFIXES:
        phone = normalize_phone(f"0{old}9123456")
        assert is_mobile(phone), (old, phone)


@pytest.mark.parametrize(
    ("phone", "mobile"), [("+84912345678", True), ("+84389123456", True), ("+842033845678", False)]
)
def test_mobiles_are_told_from_landlines(phone, mobile):
    assert is_mobile(phone) is mobile


@pytest.mark.parametrize("typed", ["", "hello", "0123", "1" * 41, "01119123456"])
def test_what_is_not_a_phone_is_refused(typed):
    with pytest.raises(InvalidPhone):
        normalize_phone(typed)


@given(st.text(max_size=60))
def test_any_text_is_a_phone_in_e164_or_refused(text):
    try:
        phone = normalize_phone(text)
    except InvalidPhone:
        return
    assert phone.startswith("+") and phone[1:].isdigit()
    assert mask_phone(phone) != phone
