"""The CLINIC listing as SMS: clinics in the domain's listing order (by
province, then district), each with its address ending in district and
province, cut into replies of at most two segments, every page but the
last ending with the MORE hint."""

from __future__ import annotations

from collections.abc import Callable

from app.domain.clinics import full_address
from app.domain.message_log import ASCII_LANGUAGES
from app.domain.text import strip_diacritics
from app.messages import count_segments, render
from app.models import Clinic

MAX_REPLY_SEGMENTS = 2


def _fits(text: str) -> bool:
    return count_segments(text).segments <= MAX_REPLY_SEGMENTS


def _shorten(entry: str, frame: Callable[[str], str]) -> str:
    """Cut one entry until `frame(entry)` fits in the reply's segments."""
    if _fits(frame(entry)):
        return entry
    lo, hi = 0, len(entry)
    while lo < hi:  # longest prefix that fits
        mid = (lo + hi + 1) // 2
        if _fits(frame(entry[:mid].rstrip() + "..")):
            lo = mid
        else:
            hi = mid - 1
    return entry[:lo].rstrip() + ".."


def clinic_pages(found: list[Clinic], language: str) -> list[str]:
    """The listing of `found` as replies. Deterministic, so page N can be
    recomputed at any time (MORE does). In a language sent without
    diacritics, pages are cut as sent (a name typed with them stays GSM-7)."""

    def as_sent(text: str) -> str:
        return strip_diacritics(text) if language in ASCII_LANGUAGES else text

    header = as_sent(render("sms.clinic_header", language))
    footer = as_sent(render("sms.clinic_more", language))
    entries = [
        as_sent(
            render(
                "sms.clinic_entry",
                language,
                n=i + 1,
                name=c.display_name,
                address=full_address(c),
                hours=c.hours,
            )
        )
        for i, c in enumerate(found)
    ]

    def page_text(items: list[str], more: bool) -> str:
        return "\n".join([header, *items, *([footer] if more else [])])

    pages: list[str] = []
    i = 0
    while i < len(entries):
        more_after_first = i + 1 < len(entries)
        first = _shorten(entries[i], lambda e, m=more_after_first: page_text([e], m))
        items, j = [first], i + 1
        while j < len(entries) and _fits(page_text([*items, entries[j]], j + 1 < len(entries))):
            items.append(entries[j])
            j += 1
        pages.append(page_text(items, j < len(entries)))
        i = j
    return pages
