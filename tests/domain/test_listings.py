"""Phone numbers typed inside message texts, masked for the roles that see
phones masked (`app.domain.listings.mask_phones_in_text`): every written
form of a number, the rest of the text kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.listings import mask_phones_in_text
from app.domain.phones import mask_phone


@pytest.mark.parametrize(
    "text, masked",
    [
        ("GT VCT 0912345678", "GT VCT +8491****678"),
        ("REF VCT 0912 345 678 Him Lam", "REF VCT +8491****678 Him Lam"),
        ("ref vct +84 912-345-678", "ref vct +8491****678"),
        ("so cua em 0912.345.678, cam on", "so cua em +8491****678, cam on"),
        ("84912345678", "+8491****678"),
        ("01689123456", "+8438****456"),  # an old 11-digit mobile, renumbered
        ("0912345678 0912345679", "+8491****678 +8491****679"),
        ("XN 4821-5093 0912345678", "XN 4821-5093 +8491****678"),  # the code stays readable
        ("RED 48215093", "RED 48215093"),
        ("REACH 25 100", "REACH 25 100"),
        ("APPT 4821 5093 24/12 9:00", "APPT 4821 5093 24/12 9:00"),
        ("123456789012345678", "***************678"),  # not a valid number, still hidden
        ("", ""),
    ],
)
def test_phones_in_a_text_are_masked_and_the_rest_kept(text, masked):
    assert mask_phones_in_text(text, "VN") == masked


_words = st.sampled_from(["GT", "VCT", "REF", "so", "cua", "em", "la", "Him Lam", ",", "."])
_mobiles = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(["91", "98", "97", "35", "70", "83", "86", "32"]),
    st.text("0123456789", min_size=7, max_size=7),
)
_written = st.sampled_from(
    [
        lambda n: "0" + n,
        lambda n: "+84" + n,
        lambda n: "84" + n,
        lambda n: f"0{n[:3]} {n[3:6]} {n[6:]}",
        lambda n: f"+84 {n[:2]}-{n[2:5]}-{n[5:]}",
        lambda n: f"0{n[:3]}.{n[3:6]}.{n[6:]}",
    ]
)


@given(
    before=st.lists(_words, max_size=4), after=st.lists(_words, max_size=4), national=_mobiles, form=_written
)
def test_a_mobile_number_in_any_written_form_is_masked(before, after, national, form):
    text = " ".join([*before, form(national), *after])
    masked = mask_phones_in_text(text, "VN")
    assert mask_phone("+84" + national) in masked
    assert national not in "".join(ch for ch in masked if ch.isdigit())


@given(st.text(max_size=300))
def test_any_text_is_answered_and_short_digit_runs_are_kept(text):
    masked = mask_phones_in_text(text, "VN")
    if sum(ch.isdigit() for ch in text) < 9:
        assert masked == text
