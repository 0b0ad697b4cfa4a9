"""The catalogue: every look-up of clinics and services, for SMS, USSD and the
API alike. Active clinics are listed in one stable order (so a page of a
listing is the same page after a restart): by province, the province with
the most active clinics first (ties alphabetical; a clinic without one
counts in its district's province, else comes last), then district, name. A search text names a
place (province, district, clinic), a service (its code, words of its
display name, or the words people use for it in the catalogues'
`[service_words]`), or both; a service by its code; a clinic a worker
names by its number or part of its name.

Matching ignores case, Vietnamese diacritics and spaces: `dien bien`,
`Điện Biên`, `DienBien` and `DIENBIEN` find the same clinics."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import NamedTuple, Protocol, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, select

from app.domain.errors import AmbiguousClinic, NotFound, UnknownClinic, UnknownService
from app.domain.text import fold, strip_diacritics
from app.messages import catalogue, languages, word_lists
from app.models import Clinic, ClinicService, ClinicStaff, Service

_NOT_ALNUM = re.compile(r"[\W_]+")
_MAX_QUERY = 80
SERVICE_WORDS = "service_words"  # the catalogue table: service code -> what people type for it


def search_key(text: str | None) -> str:
    """Folded form for matching: lower case, no diacritics, no spaces or
    punctuation (`Mường Thanh`, `MuongThanh` -> `muongthanh`)."""
    return _NOT_ALNUM.sub("", strip_diacritics(text or "").lower())


_key = search_key


# ---------------------------------------------------------------- the listing order


class _Placed(Protocol):
    id: int
    display_name: str
    district: str
    province: str


_T = TypeVar("_T", bound=_Placed)


def _provinces_by_district(rows: list[_Placed]) -> dict[str, str]:
    """District (folded) -> the first province named by a clinic there: the
    province of a clinic entered without one."""
    found: dict[str, str] = {}
    for r in rows:
        if _key(r.province):
            found.setdefault(_key(r.district), r.province)
    return found


def effective_provinces(rows: Iterable[_Placed]) -> dict[int, str]:
    """Clinic id -> its province: its own, else that of the other clinics of
    its district, else ""."""
    rows = list(rows)
    by_district = _provinces_by_district(rows)
    return {r.id: r.province if _key(r.province) else by_district.get(_key(r.district), "") for r in rows}


def in_listing_order(rows: Iterable[_T]) -> list[_T]:
    """`rows` in the listing order: provinces by their number of clinics in
    `rows` (most first, ties alphabetical, no province last; a clinic
    without one counts in the province of its district), then district,
    then name, then id."""
    rows = list(rows)
    province = {i: _key(p) for i, p in effective_provinces(rows).items()}
    counts = Counter(province.values())

    def order(r: _Placed):
        p = province[r.id]
        return (not p, -counts[p], p, _key(r.district), _key(r.display_name), r.id)

    return sorted(rows, key=order)


def _active_clinics(session: Session) -> list[Clinic]:
    return in_listing_order(session.exec(select(Clinic).where(Clinic.active == True)).all())  # noqa: E712


def _services_by_clinic(session: Session, clinic_ids: list[int]) -> dict[int, list[Service]]:
    out: dict[int, list[Service]] = {cid: [] for cid in clinic_ids}
    if not clinic_ids:
        return out
    rows = session.exec(
        select(ClinicService.clinic_id, Service)
        .join(Service, Service.id == ClinicService.service_id)
        .where(ClinicService.clinic_id.in_(clinic_ids), Service.active == True)  # noqa: E712
        .order_by(Service.code)
    ).all()
    for clinic_id, service in rows:
        out[clinic_id].append(service)
    return out


# ---------------------------------------------------------------- search text


class ClinicSearch(NamedTuple):
    """What a search text asks for: the services it names (codes) and the
    place left once their words are taken out (folded, see `search_key`)."""

    services: frozenset[str]
    place: str


@lru_cache
def catalogue_service_words() -> dict[str, tuple[str, ...]]:
    """Service code -> the words people type for it, from every shipped
    catalogue's `[service_words]` (read once per process)."""
    found: dict[str, set[str]] = {}
    for language in languages():
        for code, phrases in word_lists(language, SERVICE_WORDS).items():
            found.setdefault(code.upper(), set()).update(phrases)
    return {code: tuple(sorted(words)) for code, words in found.items()}


def parse_search(text: str | None, service_words: Mapping[str, Iterable[str]]) -> ClinicSearch:
    """The services a search text names (by any of `service_words`: code ->
    phrases) and the place text left. Case, diacritics and spaces are
    ignored; the longest phrase is taken first, each phrase once. Pure."""
    rest = _key((text or "")[:_MAX_QUERY])
    phrases = sorted(
        {(k, code.upper()) for code, words in service_words.items() for k in map(_key, words) if len(k) >= 2},
        key=lambda item: (-len(item[0]), item),
    )
    named: set[str] = set()
    for phrase, code in phrases:
        if phrase in rest:
            named.add(code)
            rest = rest.replace(phrase, "", 1)
    return ClinicSearch(frozenset(named), rest)


def _service_words(services: Iterable[Service]) -> dict[str, list[str]]:
    words: dict[str, list[str]] = {code: list(p) for code, p in catalogue_service_words().items()}
    for s in services:
        words.setdefault(s.code.upper(), []).extend([s.code, s.display_name])
    return words


def _in_place(clinic: Clinic, place: str) -> bool:
    return any(place in _key(field) for field in (clinic.district, clinic.province, clinic.display_name))


def find_clinics(session: Session, query: str | None) -> list[Clinic]:
    """Active clinics in the listing order. With a `query`, only those whose
    district, province or name contains it, or that offer a service whose
    code or neutral display name matches it; failing that, those offering
    the services the query names (`xet nghiem`, `VCT`) in the place it names
    (`VCT Dien Bien`). An empty query lists them all."""
    clinics = _active_clinics(session)
    q = _key((query or "")[:_MAX_QUERY])
    if not q:
        return clinics
    services = _services_by_clinic(session, [c.id for c in clinics])

    def matches(clinic: Clinic) -> bool:
        if _in_place(clinic, q):
            return True
        return any(q == _key(s.code) or q in _key(s.display_name) for s in services[clinic.id])

    found = [c for c in clinics if matches(c)]
    if found:
        return found
    offered = {s.code.upper(): s for offers in services.values() for s in offers}
    search = parse_search(query, _service_words(offered.values()))
    if not search.services:
        return []
    return [
        c
        for c in clinics
        if search.services & {s.code.upper() for s in services[c.id]}
        and (not search.place or _in_place(c, search.place))
    ]


def clinics_named(session: Session, text: str | None) -> list[Clinic]:
    """Active clinics, in the listing order, that a message of nothing but
    a place names: its folded text (4 characters or more) is a district's,
    a province's, or the end of a clinic's name (`MuongThanh`, `Dong Da`,
    `ha noi`). For a message without a keyword, where a looser match would
    answer chatter with a listing."""
    q = _key((text or "")[:_MAX_QUERY])
    if len(q) < 4:
        return []
    return [
        c
        for c in _active_clinics(session)
        if q in (_key(c.district), _key(c.province)) or _key(c.display_name).endswith(q)
    ]


def districts(session: Session) -> list[str]:
    """Districts that have at least one active clinic, in the listing order."""
    return clinic_listing(session).districts()


class ListedClinic(NamedTuple):
    id: int
    display_name: str
    district: str
    province: str


# built once, on the table's columns (a Core statement, no ORM loading): a
# USSD menu reads the listing on every step of a "find a clinic" session
_CLINIC = Clinic.__table__.c
_LISTING = sa.select(_CLINIC.id, _CLINIC.display_name, _CLINIC.district, _CLINIC.province).where(
    _CLINIC.active == sa.true()
)


def _distinct(names: Iterable[str]) -> list[str]:
    """The first spelling of each name, by folded key, in order; no blanks."""
    seen: dict[str, str] = {}
    for name in names:
        if _key(name):
            seen.setdefault(_key(name), name)
    return list(seen.values())


class ClinicListing(NamedTuple):
    """Every active clinic (id, neutral name, district, province as
    `effective_provinces` says) in the order of `find_clinics`, from one
    light query; its provinces and districts in that order (one spelling
    each, matched folded)."""

    clinics: list[ListedClinic]

    def provinces(self) -> list[str]:
        """The provinces, most clinics first; "" at the end when some
        clinics have none."""
        names = _distinct(c.province for c in self.clinics)
        return names + [""] if any(not _key(c.province) for c in self.clinics) else names

    def in_province(self, province: str | None) -> list[ListedClinic]:
        """The clinics of `province` (folded; "" for those without one),
        every clinic when `province` is None."""
        if province is None:
            return list(self.clinics)
        return [c for c in self.clinics if _key(c.province) == _key(province)]

    def districts(self, province: str | None = None) -> list[str]:
        return _distinct(c.district for c in self.in_province(province))

    def in_district(self, province: str | None, district: str) -> list[ListedClinic]:
        return [c for c in self.in_province(province) if _key(c.district) == _key(district)]


def clinic_listing(session: Session) -> ClinicListing:
    rows = [ListedClinic(*row) for row in session.execute(_LISTING)]
    provinces = effective_provinces(rows)
    return ClinicListing(in_listing_order(c._replace(province=provinces[c.id]) for c in rows))


# ---------------------------------------------------------------- a clinic's facts


def full_address(clinic: Clinic) -> str:
    """The address, then the district and the province unless the address
    already names them (`108 Ton Duc Thang, Dong Da, Ha Noi`, not `..., Dong
    Da, Dong Da`); case, diacritics and spaces ignored in that check."""
    text = clinic.address or ""
    for part in (clinic.district, clinic.province):
        if part and _key(part) not in _key(text):
            text = f"{text}, {part}" if text else part
    return text


def service_label(service: Service, language: str) -> str:
    """How a client-facing text in `language` names `service`: the
    catalogue's `services.<CODE>` when that language has a non-empty one
    (English replies get an English neutral label), else the display name
    the program set."""
    label = catalogue(language).get(f"services.{service.code.upper()}", "") if language in languages() else ""
    return label or service.display_name


def services_of(session: Session, clinic_id: int) -> list[Service]:
    """Active services offered by the clinic, by code."""
    return _services_by_clinic(session, [clinic_id])[clinic_id]


def active_clinic(session: Session, clinic_id: int | None) -> Clinic | None:
    """The clinic of `clinic_id` if it is active, else None: where a client
    can still be sent (a code naming a closed clinic is good at any clinic)."""
    clinic = session.get(Clinic, clinic_id) if clinic_id else None
    return clinic if clinic is not None and clinic.active else None


def clinic_by_id(session: Session, clinic_id: int | None) -> Clinic | None:
    """The clinic of `clinic_id`, active or not; None when there is none."""
    return session.get(Clinic, clinic_id) if clinic_id else None


def clinic_for_staff(session: Session, staff: ClinicStaff) -> Clinic:
    """The clinic a staff phone works at. Raises NotFound."""
    clinic = session.get(Clinic, staff.clinic_id)
    if clinic is None:
        raise NotFound(f"no clinic {staff.clinic_id}")
    return clinic


# ---------------------------------------------------------------- services


def active_service_codes(session: Session) -> list[str]:
    """The codes of the active services (VCT, MMT, ...), in creation order."""
    return list(session.exec(select(Service.code).where(Service.active == True).order_by(Service.id)).all())  # noqa: E712


def active_services(session: Session) -> list[Service]:
    """The active services, in creation order."""
    return list(session.exec(select(Service).where(Service.active == True).order_by(Service.id)).all())  # noqa: E712


def service_by_id(session: Session, service_id: int) -> Service:
    """The service of `service_id` (a code's service: always there)."""
    return session.get(Service, service_id)


def service_by_code(session: Session, code: str) -> Service | None:
    """The service whose code is exactly `code`, active or not."""
    return session.exec(select(Service).where(Service.code == code)).first()


def find_service(session: Session, text: str) -> Service:
    """The active service whose code is `text` (any case). Raises UnknownService."""
    wanted = fold(text or "").strip()
    found = (
        session.exec(select(Service).where(sa.func.upper(Service.code) == wanted)).first() if wanted else None
    )
    if found is None or not found.active:
        known = " ".join(active_service_codes(session))
        raise UnknownService(f"no service {wanted!r}", service=(text or "")[:16], services=known)
    return found


def offers(session: Session, clinic_id: int, service_id: int) -> bool:
    """Whether the clinic offers the service (clinic_service row)."""
    return (
        session.exec(
            select(ClinicService).where(
                ClinicService.clinic_id == clinic_id, ClinicService.service_id == service_id
            )
        ).first()
        is not None
    )


# ---------------------------------------------------------------- a clinic named by a worker


def resolve_clinic(session: Session, query: str) -> Clinic:
    """The active clinic meant by `query`: its number (id) or a fragment of
    its display name, internal name, district or province (case, diacritics
    and spaces ignored: `MuongThanh`). Raises UnknownClinic, or
    AmbiguousClinic when a fragment matches several."""
    text = (query or "").strip().lstrip("#")
    if text.isdigit():
        clinic = session.get(Clinic, int(text))
        if clinic is None or not clinic.active:
            raise UnknownClinic(f"no clinic {text}", clinic=text)
        return clinic
    needle = _key(text)
    if len(needle) < 2:
        raise UnknownClinic("clinic name too short", clinic=text[:40])
    active = session.exec(select(Clinic).where(Clinic.active == True).order_by(Clinic.id)).all()  # noqa: E712
    exact = [c for c in active if _key(c.display_name) == needle]
    found = exact or [
        c for c in active if any(needle in _key(f) for f in (c.display_name, c.name, c.district, c.province))
    ]
    if not found:
        raise UnknownClinic(f"no clinic matches {text!r}", clinic=text[:40])
    if len(found) > 1:
        raise AmbiguousClinic(
            f"{len(found)} clinics match {text!r}",
            clinic=text[:40],
            choices=", ".join(f"{c.id} {c.display_name}" for c in found[:4]),
        )
    return found[0]
