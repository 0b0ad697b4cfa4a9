"""The discretion rule, as one check every client-facing text goes through."""

import re
import unicodedata

SENSITIVE = re.compile(
    r"\b(hiv|aids|ma ?tuy|methadone|metadon|chich|heroin|drugs?|inject\w*|duong tinh|am tinh|"
    r"positive|negative|reactive|result|ket qua|xet nghiem|arv|art|prep)\b"
)


def fold(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn").lower()


def sensitive_words(text: str) -> list[str]:
    return SENSITIVE.findall(fold(text))


def assert_discreet(text: str) -> None:
    found = sensitive_words(text)
    assert not found, f"client-facing text names {found}: {text!r}"
