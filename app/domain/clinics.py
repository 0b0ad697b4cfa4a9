"""The catalogue: every look-up of clinics and services, for SMS, USSD and the
API alike. Active clinics are found by district or service in a stable order
(so a page of a listing is the same page after a restart); a service by its
code; a clinic a worker names by its number or part of its name.

Matching ignores case, Vietnamese diacritics and spaces: `dien bien`,
`Điện Biên` and `DIENBIEN` find the same clinics."""

from __future__ import annotations

import re
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, select

from app.domain.errors import AmbiguousClinic, NotFound, UnknownClinic, UnknownService
from app.domain.text import fold, strip_diacritics
from app.models import Clinic, ClinicService, ClinicStaff, Service

_NOT_ALNUM = re.compile(r"[\W_]+")
_MAX_QUERY = 80


def _key(text: str | None) -> str:
    """Folded form for matching: lower case, no diacritics, no spaces."""
    return _NOT_ALNUM.sub("", strip_diacritics(text or "").lower())


_CLINIC = Clinic.__table__.c
_LISTING_ORDER = (_CLINIC.district, _CLINIC.display_name, _CLINIC.id)


def _active_clinics(session: Session) -> list[Clinic]:
    return list(
        session.exec(
            select(Clinic)
            .where(Clinic.active == True)  # noqa: E712
            .order_by(*_LISTING_ORDER)
        ).all()
    )


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


def find_clinics(session: Session, query: str | None) -> list[Clinic]:
    """Active clinics, ordered by district then name. With a `query`, only
    those whose district, province or name contains it, or that offer a
    service whose code or neutral display name matches it. An empty query
    lists them all."""
    clinics = _active_clinics(session)
    q = _key((query or "")[:_MAX_QUERY])
    if not q:
        return clinics
    services = _services_by_clinic(session, [c.id for c in clinics])

    def matches(clinic: Clinic) -> bool:
        if any(q in _key(field) for field in (clinic.district, clinic.province, clinic.display_name)):
            return True
        return any(q == _key(s.code) or q in _key(s.display_name) for s in services[clinic.id])

    return [c for c in clinics if matches(c)]


def _district_names(values) -> list[str]:
    return sorted({d for d in values if d})


def districts(session: Session) -> list[str]:
    """Districts that have at least one active clinic, sorted."""
    rows = session.exec(select(Clinic.district).where(Clinic.active == True).distinct()).all()  # noqa: E712
    return _district_names(rows)


class ListedClinic(NamedTuple):
    id: int
    display_name: str
    district: str


# built once, on the table's columns (a Core statement, no ORM loading): a
# USSD menu reads the listing on every step of a "find a clinic" session
_LISTING = (
    sa.select(_CLINIC.id, _CLINIC.display_name, _CLINIC.district)
    .where(_CLINIC.active == sa.true())
    .order_by(*_LISTING_ORDER)
)


class ClinicListing(NamedTuple):
    """Every active clinic (id, neutral name, district) in the order of
    `find_clinics`, and the districts of `districts`, from one light query."""

    clinics: list[ListedClinic]
    districts: list[str]


def clinic_listing(session: Session) -> ClinicListing:
    clinics = [ListedClinic(*row) for row in session.execute(_LISTING)]
    return ClinicListing(clinics, _district_names(c.district for c in clinics))


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
    its display name, internal name or district (case and diacritics
    ignored). Raises UnknownClinic, or AmbiguousClinic when a fragment
    matches several."""
    text = (query or "").strip().lstrip("#")
    if text.isdigit():
        clinic = session.get(Clinic, int(text))
        if clinic is None or not clinic.active:
            raise UnknownClinic(f"no clinic {text}", clinic=text)
        return clinic
    needle = fold(text)
    if len(needle) < 2:
        raise UnknownClinic("clinic name too short", clinic=text[:40])
    active = session.exec(select(Clinic).where(Clinic.active == True).order_by(Clinic.id)).all()  # noqa: E712
    exact = [c for c in active if fold(c.display_name) == needle]
    found = exact or [c for c in active if needle in fold(f"{c.display_name} | {c.name} | {c.district}")]
    if not found:
        raise UnknownClinic(f"no clinic matches {text!r}", clinic=text[:40])
    if len(found) > 1:
        raise AmbiguousClinic(
            f"{len(found)} clinics match {text!r}",
            clinic=text[:40],
            choices=", ".join(f"{c.id} {c.display_name}" for c in found[:4]),
        )
    return found[0]
