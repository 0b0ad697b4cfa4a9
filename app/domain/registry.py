"""The program's registry: services, clinics (with the services they offer
and their staff phones) and outreach workers. Create, list, show, update,
deactivate; every change is audited in the same transaction.

Deactivation is `active = False`: the SMS and USSD channels read `active`
(an inactive worker is a client again, an inactive clinic is not listed and
cannot redeem). Rows are never deleted, so history keeps its references."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app import clock
from app.domain import audit, clinics
from app.domain.errors import DomainError, NotFound
from app.domain.phones import normalize_phone
from app.models import Clinic, ClinicService, ClinicStaff, Service, Worker


class Conflict(DomainError):
    key = "error.conflict"
    status = 409


class InvalidRegistryInput(DomainError):
    key = "error.invalid"
    status = 422


@dataclass(frozen=True)
class ClinicView:
    """A clinic with the codes of the services it offers and its staff."""

    clinic: Clinic
    services: list[str]
    staff: list[ClinicStaff]


def _page(session: Session, stmt, order, limit: int, offset: int) -> tuple[list, int]:
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(order).limit(limit).offset(offset)).all()
    return list(rows), int(total)


def _changes(row: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Apply `values` to `row`; returns {field: [old, new]} for what changed."""
    changed = {}
    for name, new in values.items():
        old = getattr(row, name)
        if old != new:
            setattr(row, name, new)
            changed[name] = [old, new]
    return changed


def _action(entity: str, changed: dict[str, list[Any]]) -> str:
    if changed.get("active") == [True, False]:
        return f"{entity}.deactivate"
    if changed.get("active") == [False, True]:
        return f"{entity}.reactivate"
    return f"{entity}.update"


# ---------------------------------------------------------------- services


def get_service(session: Session, service_id: int) -> Service:
    row = clinics.service_by_id(session, service_id)
    if row is None:
        raise NotFound(f"service {service_id} not found")
    return row


def list_services(
    session: Session, *, active: bool | None = None, limit: int, offset: int
) -> tuple[list[Service], int]:
    stmt = select(Service)
    if active is not None:
        stmt = stmt.where(Service.active == active)
    return _page(session, stmt, Service.id, limit, offset)


def create_service(session: Session, *, actor: str, code: str, **fields: Any) -> Service:
    """A new service; raises Conflict when its code is taken."""
    code = code.strip().upper()
    if session.exec(select(Service).where(Service.code == code)).first() is not None:
        raise Conflict(f"service code {code} already exists")
    row = Service(code=code, created_at=clock.now(), **fields)
    session.add(row)
    session.flush()
    audit.record(session, actor, "service.create", "service", row.id, code=code, **fields)
    return row


def update_service(session: Session, service_id: int, *, actor: str, **values: Any) -> Service:
    """Change the given fields (`active=False` deactivates)."""
    row = get_service(session, service_id)
    changed = _changes(row, values)
    if changed:
        session.add(row)
        session.flush()
        audit.record(session, actor, _action("service", changed), "service", row.id, changes=changed)
    return row


# ---------------------------------------------------------------- clinics


def _services_by_code(session: Session, codes: Iterable[str]) -> list[Service]:
    wanted = sorted({c.strip().upper() for c in codes})
    if not wanted:
        return []
    found = session.exec(select(Service).where(Service.code.in_(wanted))).all()  # type: ignore[union-attr]
    missing = sorted(set(wanted) - {s.code for s in found})
    if missing:
        raise InvalidRegistryInput(f"unknown service code(s): {', '.join(missing)}")
    return list(found)


def _staff_phones(
    session: Session, staff: Sequence[dict[str, Any]], region: str, clinic_id: int | None
) -> list[dict]:
    """Normalised staff entries; a phone may belong to one clinic only."""
    entries: dict[str, dict] = {}
    for item in staff:
        phone = normalize_phone(item["phone"], region)
        if phone in entries:
            raise InvalidRegistryInput(f"staff phone {phone} is listed twice")
        entries[phone] = {"phone": phone, "name": item.get("name") or ""}
    if entries:
        taken = session.exec(
            select(ClinicStaff).where(ClinicStaff.phone.in_(list(entries)))  # type: ignore[union-attr]
        ).all()
        for other in taken:
            if other.clinic_id != clinic_id:
                raise Conflict(f"staff phone {other.phone} already belongs to clinic {other.clinic_id}")
    return list(entries.values())


def clinic_view(session: Session, clinic: Clinic) -> ClinicView:
    codes = session.exec(
        select(Service.code)
        .join(ClinicService, ClinicService.service_id == Service.id)
        .where(ClinicService.clinic_id == clinic.id)
        .order_by(Service.code)
    ).all()
    staff = session.exec(
        select(ClinicStaff).where(ClinicStaff.clinic_id == clinic.id).order_by(ClinicStaff.id)
    ).all()
    return ClinicView(clinic, list(codes), list(staff))


def get_clinic(session: Session, clinic_id: int) -> ClinicView:
    row = clinics.clinic_by_id(session, clinic_id)
    if row is None:
        raise NotFound(f"clinic {clinic_id} not found")
    return clinic_view(session, row)


def clinic_for_redemption(session: Session, clinic_id: int | None) -> Clinic:
    """The clinic an API redemption happens at (the domain checks it is active)."""
    if clinic_id is None:
        raise InvalidRegistryInput("clinic_id is required: the clinic where the client came")
    clinic = clinics.clinic_by_id(session, clinic_id)
    if clinic is None:
        raise NotFound(f"clinic {clinic_id} not found")
    return clinic


def list_clinics(
    session: Session, *, active: bool | None = None, district: str | None = None, limit: int, offset: int
) -> tuple[list[ClinicView], int]:
    stmt = select(Clinic)
    if active is not None:
        stmt = stmt.where(Clinic.active == active)
    if district:
        stmt = stmt.where(func.lower(Clinic.district) == district.strip().lower())
    rows, total = _page(session, stmt, Clinic.id, limit, offset)
    return [clinic_view(session, c) for c in rows], total


def _set_services(session: Session, clinic: Clinic, services: list[Service]) -> None:
    current = {
        link.service_id: link
        for link in session.exec(select(ClinicService).where(ClinicService.clinic_id == clinic.id))
    }
    wanted = {s.id for s in services}
    for service_id, link in current.items():
        if service_id not in wanted:
            session.delete(link)
    for service_id in wanted - set(current):
        session.add(ClinicService(clinic_id=clinic.id, service_id=service_id))


def _set_staff(session: Session, clinic: Clinic, staff: list[dict]) -> None:
    """Replace the staff list: listed phones are (re)activated, the others
    deactivated (kept for history)."""
    current = {
        s.phone: s for s in session.exec(select(ClinicStaff).where(ClinicStaff.clinic_id == clinic.id))
    }
    wanted = {s["phone"]: s for s in staff}
    for phone, row in current.items():
        if phone not in wanted and row.active:
            row.active = False
            session.add(row)
    for phone, entry in wanted.items():
        row = current.get(phone)
        if row is None:
            session.add(
                ClinicStaff(clinic_id=clinic.id, phone=phone, name=entry["name"], created_at=clock.now())
            )
        else:
            row.active = True
            row.name = entry["name"]
            session.add(row)


def create_clinic(
    session: Session,
    *,
    actor: str,
    region: str,
    services: Sequence[str] = (),
    staff: Sequence[dict[str, Any]] = (),
    phone: str | None = None,
    **fields: Any,
) -> ClinicView:
    """A new clinic with its offered services and staff phones. Raises
    InvalidRegistryInput for an unknown service, Conflict for a staff phone of
    another clinic, InvalidPhone for a bad number."""
    offered = _services_by_code(session, services)
    entries = _staff_phones(session, staff, region, None)
    clinic = Clinic(phone=normalize_phone(phone, region) if phone else None, created_at=clock.now(), **fields)
    session.add(clinic)
    session.flush()
    _set_services(session, clinic, offered)
    _set_staff(session, clinic, entries)
    session.flush()
    audit.record(
        session,
        actor,
        "clinic.create",
        "clinic",
        clinic.id,
        **fields,
        phone=clinic.phone,
        services=[s.code for s in offered],
        staff=[e["phone"] for e in entries],
    )
    return clinic_view(session, clinic)


def update_clinic(
    session: Session,
    clinic_id: int,
    *,
    actor: str,
    region: str,
    services: Sequence[str] | None = None,
    staff: Sequence[dict[str, Any]] | None = None,
    **values: Any,
) -> ClinicView:
    """Change the given fields; `services` and `staff` replace the lists."""
    clinic = clinics.clinic_by_id(session, clinic_id)
    if clinic is None:
        raise NotFound(f"clinic {clinic_id} not found")
    before = clinic_view(session, clinic)
    if values.get("phone"):
        values["phone"] = normalize_phone(values["phone"], region)
    changed = _changes(clinic, values)
    if services is not None:
        offered = _services_by_code(session, services)
        _set_services(session, clinic, offered)
        if sorted(s.code for s in offered) != before.services:
            changed["services"] = [before.services, sorted(s.code for s in offered)]
    if staff is not None:
        entries = _staff_phones(session, staff, region, clinic.id)
        old = sorted(s.phone for s in before.staff if s.active)
        new = sorted(e["phone"] for e in entries)
        _set_staff(session, clinic, entries)
        if old != new:
            changed["staff"] = [old, new]
    if changed:
        session.add(clinic)
        session.flush()
        audit.record(session, actor, _action("clinic", changed), "clinic", clinic.id, changes=changed)
    return clinic_view(session, clinic)


# ---------------------------------------------------------------- workers


def get_worker(session: Session, worker_id: int) -> Worker:
    row = session.get(Worker, worker_id)
    if row is None:
        raise NotFound(f"worker {worker_id} not found")
    return row


def list_workers(
    session: Session, *, active: bool | None = None, district: str | None = None, limit: int, offset: int
) -> tuple[list[Worker], int]:
    stmt = select(Worker)
    if active is not None:
        stmt = stmt.where(Worker.active == active)
    if district:
        stmt = stmt.where(func.lower(Worker.district) == district.strip().lower())
    return _page(session, stmt, Worker.id, limit, offset)


def _check_worker_phone(session: Session, phone: str, worker_id: int | None) -> None:
    other = session.exec(select(Worker).where(Worker.phone == phone)).first()
    if other is not None and other.id != worker_id:
        raise Conflict(f"phone {phone} is already worker {other.id}")
    staff = session.exec(
        select(ClinicStaff).where(ClinicStaff.phone == phone, ClinicStaff.active.is_(True))  # type: ignore[attr-defined]
    ).first()
    if staff is not None:
        raise Conflict(f"phone {phone} is a staff phone of clinic {staff.clinic_id}")


def create_worker(
    session: Session, *, actor: str, region: str, name: str, phone: str, district: str = ""
) -> Worker:
    """A new outreach worker; raises InvalidPhone, or Conflict when the phone
    is already a worker's or a clinic's."""
    phone = normalize_phone(phone, region)
    _check_worker_phone(session, phone, None)
    row = Worker(name=name, phone=phone, district=district, created_at=clock.now())
    session.add(row)
    session.flush()
    audit.record(session, actor, "worker.create", "worker", row.id, name=name, phone=phone, district=district)
    return row


def update_worker(session: Session, worker_id: int, *, actor: str, region: str, **values: Any) -> Worker:
    """Change the given fields (`active=False`: the phone can no longer issue codes)."""
    row = get_worker(session, worker_id)
    if values.get("phone"):
        values["phone"] = normalize_phone(values["phone"], region)
        _check_worker_phone(session, values["phone"], row.id)
    changed = _changes(row, values)
    if changed:
        session.add(row)
        session.flush()
        audit.record(session, actor, _action("worker", changed), "worker", row.id, changes=changed)
    return row
