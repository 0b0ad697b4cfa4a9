"""Text folding for matching what people type: the one place that knows
how to drop Vietnamese diacritics (`đ` too, which Unicode does not
decompose). Keywords, clinic search, USSD screens and code parsing all
fold through here, so `Điện Biên`, `dien bien` and `DIEN BIEN` agree
everywhere."""

from __future__ import annotations

import unicodedata


def strip_diacritics(text: str) -> str:
    """`Hẹn Điện Biên` -> `Hen Dien Bien`: combining marks dropped, `đ`/`Đ`
    as `d`/`D`, case and everything else kept."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def fold(text: str) -> str:
    """Upper case without diacritics (`mã` -> `MA`), for keyword and code matching."""
    return strip_diacritics(text).upper()
