"""Dates and times as people type them (`app.domain.when`): the words of
every catalogue, the rules of the module docstring, clinic hours texts, and
any text read without a crash."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import when
from app.domain.errors import DomainError
from app.messages import languages, render

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=TZ)  # a Monday, 14:00


def local(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        # days
        ("hom nay 16h", local(2026, 11, 23, 16, 0)),
        ("hôm nay 16h", local(2026, 11, 23, 16, 0)),
        ("HOM NAY 16H", local(2026, 11, 23, 16, 0)),
        ("4h chieu nay", local(2026, 11, 23, 16, 0)),
        ("mai", local(2026, 11, 24, 8, 0)),
        ("ngay mai", local(2026, 11, 24, 8, 0)),
        ("ngày mai", local(2026, 11, 24, 8, 0)),
        ("ngay kia", local(2026, 11, 25, 8, 0)),
        ("mốt 9h", local(2026, 11, 25, 9, 0)),
        ("tomorrow", local(2026, 11, 24, 8, 0)),
        # weekdays: the next one, never today (it is a Monday)
        ("thu 2", local(2026, 11, 30, 8, 0)),
        ("thứ hai", local(2026, 11, 30, 8, 0)),
        ("t2", local(2026, 11, 30, 8, 0)),
        ("thu 3", local(2026, 11, 24, 8, 0)),
        ("thứ tư 10h", local(2026, 11, 25, 10, 0)),
        ("thu 7", local(2026, 11, 28, 8, 0)),
        ("chu nhat", local(2026, 11, 29, 8, 0)),
        ("chủ nhật 9h", local(2026, 11, 29, 9, 0)),
        ("cn", local(2026, 11, 29, 8, 0)),
        ("monday 9am", local(2026, 11, 30, 9, 0)),
        ("fri 10h", local(2026, 11, 27, 10, 0)),
        # times
        ("mai 8g", local(2026, 11, 24, 8, 0)),
        ("mai 8 gio", local(2026, 11, 24, 8, 0)),
        ("mai 8 giờ 30", local(2026, 11, 24, 8, 30)),
        ("mai 8g30", local(2026, 11, 24, 8, 30)),
        ("mai 8h sang", local(2026, 11, 24, 8, 0)),
        ("8h sáng mai", local(2026, 11, 24, 8, 0)),
        ("sang mai", local(2026, 11, 24, 8, 0)),
        ("mai 2h chieu", local(2026, 11, 24, 14, 0)),
        ("mai 14h chieu", local(2026, 11, 24, 14, 0)),
        ("chieu mai", local(2026, 11, 24, 14, 0)),
        ("trua mai", local(2026, 11, 24, 12, 0)),
        ("mai 1h trua", local(2026, 11, 24, 13, 0)),
        ("mai 12h trua", local(2026, 11, 24, 12, 0)),
        ("8h toi", local(2026, 11, 23, 20, 0)),
        ("toi", local(2026, 11, 23, 18, 0)),
        ("14h30", local(2026, 11, 23, 14, 30)),
        ("20h", local(2026, 11, 23, 20, 0)),
        ("3pm", local(2026, 11, 23, 15, 0)),
        ("tomorrow 2pm", local(2026, 11, 24, 14, 0)),
        ("at 3 pm tomorrow", local(2026, 11, 24, 15, 0)),
        ("mai 8:30", local(2026, 11, 24, 8, 30)),
        ("mai 8 : 30", local(2026, 11, 24, 8, 30)),
        # a bare one-digit 1-6 is the afternoon; two digits are as typed
        ("mai 2h", local(2026, 11, 24, 14, 0)),
        ("mai 5:30", local(2026, 11, 24, 17, 30)),
        ("mai 6h", local(2026, 11, 24, 18, 0)),
        ("mai 7h", local(2026, 11, 24, 7, 0)),
        ("mai 02:30", local(2026, 11, 24, 2, 30)),
        ("mai 12h", local(2026, 11, 24, 12, 0)),
        # fillers, and the forms of before
        ("luc 8h ngay mai", local(2026, 11, 24, 8, 0)),
        ("ngay 25/12 luc 14h", local(2026, 12, 25, 14, 0)),
        ("25/12", local(2026, 12, 25, 8, 0)),
        ("25/12/2026", local(2026, 12, 25, 8, 0)),
        ("25 / 12", local(2026, 12, 25, 8, 0)),
        ("25/12 14:30", local(2026, 12, 25, 14, 30)),
        ("25/12, 14h", local(2026, 12, 25, 14, 0)),
        ("25/12 14", local(2026, 12, 25, 14, 0)),
        ("25.12.26 14h30", local(2026, 12, 25, 14, 30)),
        ("5/1", local(2027, 1, 5, 8, 0)),
        ("25/12 8h sang", local(2026, 12, 25, 8, 0)),
    ],
)
def test_typed_dates_and_times(typed, expected):
    assert when.read_datetime(typed, NOW) == expected


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("", when.InvalidDate),
        ("someday", when.InvalidDate),
        ("14", when.InvalidDate),  # a lone number: a day or an hour?
        ("mai thu 3", when.InvalidDate),  # two days
        ("25/12 mai", when.InvalidDate),
        ("8h 9h", when.InvalidDate),  # two times
        ("mai sang chieu", when.InvalidDate),
        ("mai 25h", when.InvalidDate),
        ("mai 8h75", when.InvalidDate),
        ("mai 123h", when.InvalidDate),
        ("h", when.InvalidDate),
        ("31/02", when.InvalidDate),
        ("mai 8h" + " " * 80, when.InvalidDate),  # longer than any date
        ("8h", when.PastDate),  # today's 08:00 is gone at 14:00
        ("2h chieu", when.PastDate),  # 14:00 is now
        ("2pm", when.PastDate),
        ("hom nay", when.PastDate),
        ("23/11 13:00", when.PastDate),
        ("25/12/2099", when.DateTooFar),
    ],
)
def test_unreadable_past_and_far(typed, error):
    with pytest.raises(error) as refused:
        when.read_datetime(typed, NOW)
    assert refused.value.values["date"] == when.shown(typed)


def test_the_words_are_the_catalogues_in_every_language():
    phrases = when.phrases()
    assert phrases[("thu", "2")] == "monday" and phrases[("t", "2")] == "monday"
    assert phrases[("mai",)] == "tomorrow" and phrases[("tomorrow",)] == "tomorrow"
    assert phrases[("chieu",)] == "afternoon" and phrases[("pm",)] == "afternoon"
    assert set(phrases.values()) <= set(when.MEANINGS)
    for language in languages():
        assert render("codes.bad_date", language, date="x")  # every language also has the texts


def test_shown_is_short_plain_ascii():
    assert when.shown("  ngày   mai\n8h ") == "ngay mai 8h"
    assert when.shown("\U0001f600" * 50) == ""
    assert len(when.shown("x" * 200)) == when.SHOWN


@pytest.mark.parametrize(
    ("hours", "days"),
    [
        ("T2-T6 7:30-16:30", {0, 1, 2, 3, 4}),
        ("T2-T7 7:00-17:00", {0, 1, 2, 3, 4, 5}),
        ("T2-T6 7:30-16:00, T7 7:30-11:30", {0, 1, 2, 3, 4, 5}),
        ("Thu 2 - Thu 7", {0, 1, 2, 3, 4, 5}),
        ("Thứ 2 đến Thứ 6", {0, 1, 2, 3, 4}),
        ("Thứ 2-6 7h-17h", {0, 1, 2, 3, 4}),
        ("T2-CN", {0, 1, 2, 3, 4, 5, 6}),
        ("T7-CN 8-12", {5, 6}),
        ("Mon-Fri 8:00-17:00", {0, 1, 2, 3, 4}),
        ("", None),
        ("Gio hanh chinh", None),
        ("Closed on Sundays", None),  # not only days and times: no day is refused
        ("7:30-16:30", None),
    ],
)
def test_open_weekdays_of_an_hours_text(hours, days):
    assert when.open_weekdays(hours) == (frozenset(days) if days is not None else None)


_WORDS = st.sampled_from(
    [
        "mai",
        "ngay",
        "thu",
        "2",
        "7",
        "cn",
        "sang",
        "chieu",
        "toi",
        "trua",
        "h",
        "g",
        ":",
        "/",
        "-",
        "pm",
        "am",
    ]
)


@given(
    st.one_of(
        st.text(max_size=100),
        st.lists(st.one_of(_WORDS, st.integers(0, 99).map(str)), max_size=8).map(" ".join),
        st.from_regex(r"[0-9]{1,3}[/.:h-][0-9]{0,4}([/.-][0-9]{0,5})? ?[a-z]{0,6}", fullmatch=True),
    )
)
def test_any_text_is_a_moment_ahead_or_a_domain_error(text):
    try:
        at = when.read_datetime(text, NOW)
    except DomainError as exc:
        assert isinstance(exc, (when.InvalidDate, when.PastDate, when.DateTooFar))
        assert len(exc.values["date"]) <= when.SHOWN and exc.values["date"].isascii()
    else:
        assert NOW < at <= NOW + when.MAX_AHEAD and at.tzinfo is TZ


@given(st.text(max_size=250))
def test_any_hours_text_is_days_or_none(hours):
    days = when.open_weekdays(hours)
    assert days is None or (days and days <= set(range(7)))
