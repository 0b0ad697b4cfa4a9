"""Helpers for the admin API tests: keys per role, small factories."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from app.domain.apikeys import create_api_key
from app.models import Clinic, ClinicStaff, Service, Worker

API = "/api/v1"


@dataclass
class Keys:
    admin: dict
    viewer: dict
    clinic: dict
    clinic_id: int
    other_clinic_id: int

    def of(self, role: str) -> dict:
        return getattr(self, role)


def bearer(plain: str) -> dict:
    return {"Authorization": f"Bearer {plain}"}


def make_keys(session: Session) -> Keys:
    """One key per role; the clinic key is bound to the demo clinic with a
    staff phone (offers VCT and MMT). Needs the demo data."""
    staff = session.exec(select(ClinicStaff)).first()
    assert staff is not None, "load the demo data first"
    other = session.exec(select(Clinic).where(Clinic.id != staff.clinic_id).order_by(Clinic.id)).first()
    headers = {}
    for role in ("admin", "viewer", "clinic"):
        _, plain = create_api_key(
            session, role=role, name=f"test {role}", clinic_id=staff.clinic_id if role == "clinic" else None
        )
        headers[role] = bearer(plain)
    session.commit()
    return Keys(headers["admin"], headers["viewer"], headers["clinic"], staff.clinic_id, other.id)


def service_id(session: Session, code: str) -> int:
    return session.exec(select(Service).where(Service.code == code)).one().id


def demo_worker(session: Session) -> Worker:
    return session.exec(select(Worker).order_by(Worker.id)).first()
