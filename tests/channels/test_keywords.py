"""The keyword matcher of SPEC section 4: aliases, diacritics, punctuation,
one typo for 4+ letters, bare codes, and no crash on any text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.channels.keywords import ALIASES, edit_distance_at_most_one, fold, parse_keyword


@pytest.mark.parametrize(
    ("text", "keyword"),
    [(alias, kw) for kw, aliases in ALIASES.items() for alias in aliases]
    + [(alias.lower(), kw) for kw, aliases in ALIASES.items() for alias in aliases],
)
def test_every_alias_of_the_spec_matches_in_any_case(text, keyword):
    assert parse_keyword(text).keyword == keyword


def test_the_alias_table_holds_every_keyword_of_the_spec():
    expected = {
        "HELP": {"HELP", "GIUP", "?"},
        "CLINIC": {"CLINIC", "PHONGKHAM", "PK"},
        "MORE": {"MORE", "THEM"},
        "CODE": {"CODE", "MA"},
        "APPT": {"APPT", "HEN"},
        "STOP": {"STOP", "TC", "TUCHOI", "HUY", "NGUNG"},
        "START": {"START", "BATDAU"},
        "LANG": {"LANG", "NGONNGU"},
        "REF": {"REF", "GT"},
        "VOID": {"VOID", "HUYMA"},
        "REACH": {"REACH", "TIEPCAN"},
        "MEET": {"MEET", "NHOM", "HOPNHOM"},  # the reporting issue: group meetings
        "STATS": {"STATS", "TK"},
        "RED": {"RED", "XN"},
    }
    assert {kw: set(a) for kw, a in ALIASES.items()} == expected


@pytest.mark.parametrize(
    ("text", "keyword", "args"),
    [
        ("Giúp", "HELP", ""),
        ("GIÚP!", "HELP", ""),
        ("  help  ", "HELP", ""),
        ("help.", "HELP", ""),
        ("?", "HELP", ""),
        ("??", "HELP", ""),
        ("Hẹn", "APPT", ""),
        ("HẸN 4821-5093 25/12 9:00", "APPT", "4821-5093 25/12 9:00"),
        ("Mã 4821 5093", "CODE", "4821 5093"),
        ("Ngừng", "STOP", ""),
        ("từ chối", "STOP", ""),
        ("Từ Chối.", "STOP", ""),
        ("Huỷ", "STOP", ""),
        ("hủy", "STOP", ""),
        ("Hủy mã 4821-5093", "VOID", "4821-5093"),
        ("HUYMA 4821-5093", "VOID", "4821-5093"),
        ("Bắt đầu", "START", ""),
        ("BĂT ĐÂU", "START", ""),
        ("Đăng", None, "Đăng"),
        ("Phòng khám Điện Biên", "CLINIC", "Điện Biên"),
        ("phong kham: Dong Da", "CLINIC", "Dong Da"),
        ("pk   long bien  ", "CLINIC", "long bien"),
        ("CLINIC, VCT", "CLINIC", "VCT"),
        ("Thêm", "MORE", ""),
        ("Ngôn ngữ en", "LANG", "en"),
        ("lang vi-ascii", "LANG", "vi-ascii"),
        ("Tiếp cận 12 30", "REACH", "12 30"),
        ("GT VCT 0912 345 678 Him Lam", "REF", "VCT 0912 345 678 Him Lam"),
        ("ref: vct", "REF", "vct"),
        ("XN 4821-5093", "RED", "4821-5093"),
        ("TK", "STATS", ""),
        ("#STOP", "STOP", ""),
        ("CODE48215093", "CODE", "48215093"),
        ("ＨＥＬＰ", "HELP", ""),  # full-width letters
        ("He\u0301n", "APPT", ""),  # decomposed diacritic
    ],
)
def test_diacritics_case_spaces_and_punctuation_are_tolerated(text, keyword, args):
    match = parse_keyword(text)
    assert (match.keyword, match.args) == (keyword, args)


@pytest.mark.parametrize("text", ["4821-5093", "4821 5093", " 48215093 ", "4821.5093", "48 21 50 93"])
def test_a_message_that_is_just_a_code_goes_to_code(text):
    match = parse_keyword(text)
    assert match.keyword == "CODE" and match.bare_code
    assert match.args == text.strip()


@pytest.mark.parametrize("text", ["1234567", "123456789", "0912345678", "12", "4821-5093-1"])
def test_other_numbers_are_not_codes(text):
    assert parse_keyword(text).keyword is None


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("HLEP", "HELP"),  # swap
        ("HELPS", "HELP"),  # insertion at the end
        ("HELPP", "HELP"),  # insertion
        ("CLNIC", "CLINIC"),  # deletion
        ("CLINCI", "CLINIC"),
        ("CLIMIC", "CLINIC"),  # a changed letter, 5+ letters
        ("PHONGKAM", "CLINIC"),
        ("phong kahm Dong Da", "CLINIC"),
        ("STPO", "STOP"),
        ("STOPP", "STOP"),
        ("TUCHOII", "STOP"),
        ("NGUGN", "STOP"),
        ("STRAT", "START"),
        ("BATDUA", "START"),
        ("LNAG en", "LANG"),
        ("REACHH 5", "REACH"),
        ("TIEPCNA 5", "REACH"),
        ("STATSS", "STATS"),
        ("VIOD 4821-5093", "VOID"),
        ("HUYMAA 4821-5093", "VOID"),
        ("CODDE 4821-5093", "CODE"),
        ("APTP", "APPT"),
        ("MOER", "MORE"),
        ("THME", "MORE"),
    ],
)
def test_one_typo_is_forgiven_for_keywords_of_four_letters_or_more(text, keyword):
    match = parse_keyword(text)
    assert match.keyword == keyword and match.typo


@pytest.mark.parametrize(
    "text",
    [
        "STO",  # three letters: no typo matching, never STOP
        "TOP",
        "SOP",
        "HU",
        "HUI",
        "TCC",
        "T C",
        "NGU",
        "SHOP",  # a changed letter in a 4-letter word
        "HELL",
        "LONG",
        "CODA",
        "XTOP",
        "STAT",  # both STATS and START: ambiguous, no guess
        "HEPLL",  # two typos
        "MAA",
        "REFF",  # alias of three letters: no typo
        "HENN",
        "PKK",
        "OK",
        "Toi muon",
    ],
)
def test_short_words_and_ambiguous_typos_match_nothing(text):
    match = parse_keyword(text)
    assert match.keyword is None, match


def test_exact_alias_wins_over_a_typo_and_the_longer_alias_over_the_shorter():
    assert parse_keyword("HUY").keyword == "STOP"
    assert parse_keyword("HUYMA 1").keyword == "VOID"
    assert parse_keyword("HUY MA 1").keyword == "VOID"
    assert parse_keyword("HUYM").keyword == "VOID"  # typo of HUYMA, not STOP with args
    assert parse_keyword("RED").keyword == "RED"
    assert parse_keyword("MA").keyword == "CODE"


def test_fold_removes_vietnamese_diacritics_including_d_bar():
    assert fold("Đường Điện Biên Phủ, hẹn, giúp") == "DUONG DIEN BIEN PHU, HEN, GIUP"


def test_edit_distance_of_one():
    assert edit_distance_at_most_one("STOP", "STOP")
    assert edit_distance_at_most_one("STOP", "SOTP")
    assert edit_distance_at_most_one("STOP", "STP")
    assert edit_distance_at_most_one("STOP", "STOPS")
    assert not edit_distance_at_most_one("STOP", "SPOT")
    assert not edit_distance_at_most_one("STOP", "ST")


@pytest.mark.parametrize("text", ["", "   ", "\n\t", None, "!!!", "...", "\x00", "😀", "123"])
def test_empty_or_meaningless_text_matches_nothing(text):
    assert parse_keyword(text).keyword is None


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_any_unicode_text_never_crashes(text):
    match = parse_keyword(text)
    assert match.keyword is None or match.keyword in ALIASES
    assert isinstance(match.args, str)


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=10_000, max_size=10_000))
def test_ten_thousand_characters_never_crash(text):
    parse_keyword(text)
    parse_keyword("HELP " + text)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([a for aliases in ALIASES.values() for a in aliases if a != "?"]), st.text(max_size=40)
)
def test_an_alias_followed_by_anything_after_a_space_keeps_its_keyword(alias, tail):
    match = parse_keyword(f"{alias} 1{tail}")
    assert match.keyword in ALIASES  # a two-word alias may take over (HUY MA), never a crash


def test_one_folding_serves_keywords_clinic_search_and_ussd_screens():
    from app.channels.ussd.screens import to_ascii
    from app.domain import text

    assert fold is text.fold
    assert text.strip_diacritics("Hẹn Điện Biên Phủ đ") == "Hen Dien Bien Phu d"
    assert fold("phòng khám") == "PHONG KHAM"
    assert to_ascii("Điện Biên\tPhủ ✓") == "Dien Bien Phu ?"


@pytest.mark.parametrize("text", ["HUY 7003-3661", "huy 70033661", "Hủy 7003 3661", "HUY: 7003.3661"])
def test_huy_with_a_code_is_void_not_stop(text):
    match = parse_keyword(text)
    assert match.keyword == "VOID"
    assert "".join(ch for ch in match.args if ch.isdigit()) == "70033661"


@pytest.mark.parametrize("text", ["HUY 7003-366", "HUY 7003-36612"])
def test_huy_with_a_code_missing_or_adding_a_digit_is_still_void(text):
    assert parse_keyword(text).keyword == "VOID"


@pytest.mark.parametrize("text", ["HUY", "huy di", "HUY 123", "HUY tin nhan", "HUY 12345"])
def test_huy_without_a_code_is_still_stop(text):
    assert parse_keyword(text).keyword == "STOP"
