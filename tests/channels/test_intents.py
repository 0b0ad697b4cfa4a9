"""The intent of a message without a keyword: phrases from the catalogues,
whole words, any language, case and diacritics ignored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.channels.intents import INTENTS, intent_of, only_thanks
from app.messages import intents, languages


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("toi muon xet nghiem", "clinic"),
        ("Địa chỉ phòng khám ở đâu?", "clinic"),
        ("toi quen ma", "my_code"),
        ("ma cua toi la gi", "my_code"),
        ("xin chao", "greeting"),
        ("khambenh", None),  # a phrase inside a word is not the phrase
        ("", None),
    ],
)
def test_intents(text, meant):
    assert intent_of(text) == meant


def test_thanks_alone_and_thanks_with_a_question():
    assert only_thanks("Cảm ơn bạn nhiều ạ")
    assert not only_thanks("cam on, cho hoi dia chi")
    assert not only_thanks("ban")  # a filler word alone is not thanks


def test_every_language_has_every_intent():
    for language in languages():
        assert set(intents(language)) >= {*INTENTS, "thanks", "filler"}, language


@given(st.text(max_size=400))
def test_any_text_has_at_most_one_intent_and_never_raises(text):
    assert intent_of(text) in (*INTENTS, None)
    assert only_thanks(text) in (True, False)
