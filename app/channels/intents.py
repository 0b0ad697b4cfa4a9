"""What a message without a keyword means: `toi muon xet nghiem`, `dia chi
phong kham o dau`, `toi quen ma`, `xin chao`, `cam on`. The phrases of each
intent are in the catalogues (`[intents]`, per language); a message means an
intent when one of its phrases, in any shipped language, appears in it as
whole words (case, diacritics and punctuation ignored). Pure functions."""

from __future__ import annotations

import re
from functools import lru_cache

from app.domain.text import fold
from app.messages import intents, languages

# the order decides when a message holds phrases of several intents
INTENTS = ("my_code", "clinic", "greeting")
_ALL = (*INTENTS, "thanks", "filler")
_MAX_TEXT = 300  # a longer message is not a short question


def _words(text: str) -> str:
    return " ".join(re.findall(r"[A-Z0-9]+", fold(text)))


@lru_cache
def _phrases() -> dict[str, tuple[str, ...]]:
    found: dict[str, set[str]] = {name: set() for name in _ALL}
    for language in languages():
        for name, phrases in intents(language).items():
            if name in found:
                found[name].update(w for w in (_words(p) for p in phrases) if w)
    return {name: tuple(sorted(words, key=len, reverse=True)) for name, words in found.items()}


def intent_of(text: str | None) -> str | None:
    """The intent (`my_code`, `clinic`, `greeting`) of a message without a
    keyword, or None."""
    if not text or len(text) > _MAX_TEXT:
        return None
    padded = f" {_words(text)} "
    for name in INTENTS:
        if any(f" {phrase} " in padded for phrase in _phrases()[name]):
            return name
    return None


def only_thanks(text: str | None) -> bool:
    """True when the message is nothing but thanks (`cam on`, `ok`, `cam on
    ban nhieu`): the phrases of `thanks`, and the `filler` words around them."""
    words = f" {_words(text or '')} "
    if not words.strip() or len(words) > _MAX_TEXT:
        return False
    thanked = False
    for phrase in _phrases()["thanks"]:
        if f" {phrase} " in words:
            thanked = True
            words = words.replace(f" {phrase} ", " ")
    for phrase in _phrases()["filler"]:
        words = words.replace(f" {phrase} ", " ")
    return thanked and not words.strip()
