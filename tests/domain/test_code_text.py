"""The text rules of a referral code (`app.domain.code_text`), pure: any
typed form parses, every single-digit error and adjacent swap is caught
by the check digit, the shown form groups four and four."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import code_text, errors
from tests.factories import with_check

bodies = st.text(alphabet="0123456789", min_size=code_text.RANDOM_DIGITS, max_size=code_text.RANDOM_DIGITS)


@given(
    bodies,
    st.sampled_from(["", "CODE ", "code:", "MA ", "Mã ", "ma#", "  "]),
    st.sampled_from(["", " ", "-", ".", " - "]),
)
def test_a_valid_code_parses_in_any_typed_form(body, prefix, sep):
    code = with_check(body)
    typed = f"{prefix}{code[:4]}{sep}{code[4:]} "
    assert code_text.parse_code(typed) == code


@given(bodies)
def test_every_single_digit_error_is_rejected_without_the_database(body):
    code = with_check(body)
    for i in range(len(code)):
        for digit in "0123456789":
            if digit == code[i]:
                continue
            wrong = code[:i] + digit + code[i + 1 :]
            with pytest.raises(errors.MalformedCode) as refused:
                code_text.parse_code(wrong)
            # said as a digit to check, not as the format of a code
            assert code_text.is_mistyped(refused.value) and refused.value.key == "codes.mistyped"


@given(bodies)
def test_every_adjacent_swap_is_rejected_without_the_database(body):
    code = with_check(body)
    for i in range(len(code) - 1):
        if code[i] == code[i + 1]:
            continue  # swapping equal digits gives the same code
        swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        with pytest.raises(errors.MalformedCode):
            code_text.parse_code(swapped)


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "4821-593",
        "4821-59330",
        "4821-593A",
        "ABCD-EFGH",
        "48215093",
        "CODE",
        "MAX 48215933",
        "+84912345678",
    ],
)
def test_letters_wrong_length_and_wrong_check_digit_are_malformed(typed):
    with pytest.raises(errors.MalformedCode):
        code_text.parse_code(typed)


def test_the_catalogue_example_code_can_never_be_issued():
    # 4821-5093 in the help texts fails its check digit: nobody owns it
    with pytest.raises(errors.MalformedCode):
        code_text.parse_code("4821-5093")


def test_format_code_groups_four_and_four():
    assert code_text.format_code("48215933") == "4821-5933"
    assert code_text.format_code("4821 59-33") == "4821-5933"


@given(st.text(max_size=20))
def test_only_eight_digits_with_a_wrong_check_digit_are_mistyped(typed):
    """Anything else refused is malformed: the reply explains the format."""
    try:
        code_text.parse_code(typed)
    except errors.MalformedCode as exc:
        digits = "".join(ch for ch in typed if ch in "0123456789")
        if code_text.is_mistyped(exc):
            assert len(digits) == code_text.CODE_LENGTH and exc.values["reason"] == "check_digit"
        else:
            assert exc.key == "codes.malformed"
