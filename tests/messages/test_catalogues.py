"""The catalogues: same keys and placeholders in every language, discreet
words only, GSM-7 for vi-ascii, the segment arithmetic of SPEC 3, reminder
texts and plain-ASCII USSD texts."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.messages import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    catalogue,
    count_segments,
    languages,
    placeholders,
    render,
)
from tests.discretion import assert_discreet, sensitive_words

LANGUAGES = languages()


def test_the_three_languages_of_the_spec_are_shipped():
    assert {"vi", "vi-ascii", "en"} <= set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalogue_has_the_same_keys(language):
    reference = set(catalogue("vi-ascii"))
    keys = set(catalogue(language))
    assert not reference - keys, f"{language} lacks {sorted(reference - keys)}"
    assert not keys - reference, f"{language} has extra keys {sorted(keys - reference)}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_has_the_same_placeholders_in_every_language(language):
    reference = catalogue("vi-ascii")
    other = catalogue(language)
    wrong = {
        key: (sorted(placeholders(reference[key])), sorted(placeholders(other[key])))
        for key in reference.keys() & other.keys()
        if placeholders(reference[key]) != placeholders(other[key])
    }
    assert not wrong, f"{language}: placeholders differ from vi-ascii: {wrong}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_catalogue_text_names_a_condition_a_substance_or_a_result(language):
    for key, text in catalogue(language).items():
        assert not sensitive_words(text), f"{language}:{key} names {sensitive_words(text)}: {text!r}"


def test_the_discretion_check_itself_catches_sensitive_words():
    for text in (
        "Xét nghiệm HIV",
        "ma túy",
        "chích",
        "methadone",
        "your result",
        "drug",
        "injecting",
        "âm tính",
    ):
        with pytest.raises(AssertionError):
            assert_discreet(text)


def test_vi_ascii_is_all_gsm7():
    for key, text in catalogue("vi-ascii").items():
        info = count_segments(text)
        assert info.encoding == "GSM-7", f"vi-ascii:{key} needs UCS-2: {text!r}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_sms_replies_fit_in_two_segments(language):
    for key, text in catalogue(language).items():
        if key.startswith("sms."):
            assert count_segments(text).segments <= 2, f"{language}:{key} is {count_segments(text)}"


def test_a_vi_ascii_reply_of_160_characters_is_one_segment():
    text = ("Hen: nhan PK de tim phong kham. " * 10)[:160]
    info = count_segments(text)
    assert (info.encoding, info.units, info.segments) == ("GSM-7", 160, 1)
    assert count_segments(text + "x").segments == 2
    assert count_segments("a" * 306).segments == 2
    assert count_segments("a" * 307).segments == 3


def test_gsm7_extension_characters_count_double():
    info = count_segments("[" * 80)
    assert (info.encoding, info.units, info.segments) == ("GSM-7", 160, 1)
    assert count_segments("[" * 81).segments == 2
    assert count_segments("€").units == 2


def test_vietnamese_with_diacritics_is_ucs2_at_70_then_67():
    one = "Hẹn" + "a" * 67
    assert count_segments(one).encoding == "UCS-2"
    assert (count_segments(one).units, count_segments(one).segments) == (70, 1)
    assert count_segments(one + "a").segments == 2
    assert count_segments("ẹ" * 134).segments == 2
    assert count_segments("ẹ" * 135).segments == 3


@pytest.mark.parametrize("language", ["vi-ascii", "en"])
@pytest.mark.parametrize("role", ["client", "worker", "clinic"])
def test_help_is_one_segment_in_the_gsm7_languages(language, role):
    # HELP is the most sent reply: one SMS, not two
    info = count_segments(catalogue(language)[f"sms.help_{role}"])
    assert (info.encoding, info.segments) == ("GSM-7", 1), info


_GSM7 = set(GSM7_BASIC) - {"\x1b"}
_GSM7_EXT = set(GSM7_EXTENSION)


@given(
    st.one_of(
        st.text(max_size=500),
        st.text(alphabet=st.sampled_from(sorted(_GSM7 | _GSM7_EXT | set("đẹ€\x1b\U0001f600"))), max_size=500),
    )
)
def test_segments_follow_the_gsm7_and_ucs2_rules_for_any_text(text):
    """The definition, character by character: GSM-7 when every character is
    in the basic set or the extension table (an extension one is two
    septets), 160 then 153 a segment; otherwise UTF-16 units, 70 then 67."""
    if all(ch in _GSM7 or ch in _GSM7_EXT for ch in text):
        encoding, units, single, multi = "GSM-7", sum(2 if ch in _GSM7_EXT else 1 for ch in text), 160, 153
    else:
        encoding, units, single, multi = "UCS-2", len(text.encode("utf-16-le")) // 2, 70, 67
    segments = 1 if units <= single else -(-units // multi)
    info = count_segments(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


# ---------------------------------------------------------------- reminders and USSD


def test_every_reminder_text_exists_in_every_language_and_is_discreet():
    keys = {k for k in catalogue("en") if k.startswith("reminder.")}
    assert {
        "reminder.code_expiry",
        "reminder.appointment_day_before",
        "reminder.appointment_soon",
        "reminder.retest",
    } <= keys
    assert any(k.startswith("reminder.custom_") for k in keys)
    for lang in languages():
        for key in keys:
            text = catalogue(lang)[key]
            assert placeholders(text) == placeholders(catalogue("en")[key]), (lang, key)
            assert_discreet(text)
            filled = render(
                key, lang, code="4821-5093", date="24/12/2026", clinic="Phong kham Him Lam", time="08:30"
            )
            assert_discreet(filled)
            if lang == "vi-ascii":
                assert filled.isascii()


@pytest.mark.parametrize("language", languages())
def test_ussd_catalogue_texts_are_plain_ascii_in_every_language(language):
    texts = {k: v for k, v in catalogue(language).items() if k.startswith("ussd.")}
    assert texts
    for key, text in texts.items():
        assert text.isascii(), f"{language}:{key} is not ASCII: {text!r}"
        assert_discreet(text)
