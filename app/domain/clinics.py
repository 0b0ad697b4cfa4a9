"""Clinics as clients see them: active clinics found by district or service,
in a stable order (so a page of a listing is the same page after a restart).

Matching ignores case, Vietnamese diacritics and spaces: `dien bien`,
`Điện Biên` and `DIENBIEN` find the same clinics."""

from __future__ import annotations

import re
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, select

from app.domain.errors import NotFound
from app.domain.text import strip_diacritics
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


def clinic_for_staff(session: Session, staff: ClinicStaff) -> Clinic:
    """The clinic a staff phone works at. Raises NotFound."""
    clinic = session.get(Clinic, staff.clinic_id)
    if clinic is None:
        raise NotFound(f"no clinic {staff.clinic_id}")
    return clinic
