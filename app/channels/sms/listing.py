"""The CLINIC listing as SMS: clinics cut into replies of at most two
segments, every page but the last ending with the MORE hint."""

from __future__ import annotations

from collections.abc import Callable

from app.domain.text import fold
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


def _address_with_district(clinic: Clinic) -> str:
    """The address, then the district unless the address already names it
    (`108 Ton Duc Thang, Dong Da`, not `..., Dong Da, Dong Da`)."""
    if not clinic.district or fold(clinic.district) in fold(clinic.address or ""):
        return clinic.address
    return f"{clinic.address}, {clinic.district}"


def clinic_pages(found: list[Clinic], language: str) -> list[str]:
    """The listing of `found` as replies. Deterministic, so page N can be
    recomputed at any time (MORE does)."""
    header = render("sms.clinic_header", language)
    footer = render("sms.clinic_more", language)
    entries = [
        render(
            "sms.clinic_entry",
            language,
            n=i + 1,
            name=c.display_name,
            address=_address_with_district(c),
            hours=c.hours,
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
