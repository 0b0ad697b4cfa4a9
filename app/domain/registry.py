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
from app.domain.discretion import check_client_visible
from app.domain.errors import NotFound
from app.domain.phones import normalize_phone
from app.domain.staff import (
    ClinicNameTaken,
    Conflict,
    InvalidRegistryInput,
    PhoneIsStaff,
    PhoneIsWorkers,
    set_staff,
    staff_change,
    staff_entries,
)
from app.models import Clinic, ClinicService, ClinicStaff, Service, Worker


@dataclass(frozen=True)
class ClinicView:
    """A clinic with the codes of the services it offers and its staff."""

    clinic: Clinic
    services: list[str]
    staff: list[ClinicStaff]


@dataclass(frozen=True)
class ClinicChange:
    """A clinic after an update, with the staff phones it made active and
    those it deactivated (sorted)."""

    view: ClinicView
    staff_added: list[str]
    staff_removed: list[str]


# what a client reads of a service or a clinic (SMS, USSD): checked for discretion
SERVICE_CLIENT_FIELDS = ("display_name",)
CLINIC_CLIENT_FIELDS = ("display_name", "district", "address", "hours")


def _check_discreet(values: dict[str, Any], fields: Sequence[str]) -> None:
    check_client_visible({name: values[name] for name in fields if name in values})


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
    """A new service; raises Conflict when its code is taken, Indiscreet when
    its display name names a sensitive word (its code and internal name are
    staff-facing and not checked)."""
    _check_discreet(fields, SERVICE_CLIENT_FIELDS)
    code = code.strip().upper()
    if session.exec(select(Service).where(Service.code == code)).first() is not None:
        raise Conflict(f"service code {code} already exists")
    if "coupon_services" in fields:
        fields["coupon_services"] = _coupon_services(session, fields["coupon_services"], own=code)
    row = Service(code=code, created_at=clock.now(), **fields)
    session.add(row)
    session.flush()
    audit.record(session, actor, "service.create", "service", row.id, code=code, **fields)
    return row


def update_service(session: Session, service_id: int, *, actor: str, **values: Any) -> Service:
    """Change the given fields (`active=False` deactivates); raises
    Indiscreet like `create_service`."""
    _check_discreet(values, SERVICE_CLIENT_FIELDS)
    row = get_service(session, service_id)
    if values.get("coupon_services") is not None:
        values["coupon_services"] = _coupon_services(session, values["coupon_services"], own=row.code)
    changed = _changes(row, values)
    if changed:
        session.add(row)
        session.flush()
        audit.record(session, actor, _action("service", changed), "service", row.id, changes=changed)
    return row


def _coupon_services(session: Session, codes: Iterable[str], *, own: str) -> list[str]:
    """The service codes a service's peer coupons are for, in their order
    (upper case); raises InvalidRegistryInput naming the unknown ones (the
    service's own code is known)."""
    wanted = [c.strip().upper() for c in codes]
    known = {own} | set(session.exec(select(Service.code).where(Service.code.in_(wanted))).all())  # type: ignore[union-attr]
    missing = sorted(set(wanted) - known)
    if missing:
        raise InvalidRegistryInput(f"coupon_services: unknown service code(s): {', '.join(missing)}")
    return wanted


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


def _check_name_free(session: Session, name: str | None, clinic_id: int | None) -> None:
    """A clinic's internal name is its own (the DHIS2 export and staff tell
    clinics apart by it): ClinicNameTaken when another clinic has it,
    whatever the case and spacing."""
    if not name:
        return
    wanted = " ".join(name.split()).lower()
    for other_id, other_name in session.exec(select(Clinic.id, Clinic.name)):
        if other_id != clinic_id and " ".join(other_name.split()).lower() == wanted:
            raise ClinicNameTaken(
                f"a clinic named {other_name!r} exists already (clinic {other_id})", name=name
            )


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
    another clinic or of an active worker, InvalidPhone for a bad number,
    Indiscreet for a display name, district, address or hours naming a
    sensitive word (clients read those; the internal `name` is staff-facing)."""
    _check_discreet(fields, CLINIC_CLIENT_FIELDS)
    _check_name_free(session, fields.get("name"), None)
    offered = _services_by_code(session, services)
    entries = staff_entries(staff, region)
    clinic = Clinic(phone=normalize_phone(phone, region) if phone else None, created_at=clock.now(), **fields)
    session.add(clinic)
    session.flush()
    _set_services(session, clinic, offered)
    set_staff(session, clinic, entries, set())
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
        staff=sorted(entries),
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
    add_staff: Sequence[dict[str, Any]] | None = None,
    remove_staff: Sequence[str] | None = None,
    **values: Any,
) -> ClinicChange:
    """Change the given fields; `services` replaces the offered services;
    the staff changes as `staff.staff_change` says, and the audit row and the
    answer list the staff phones added and removed. Raises like
    `create_clinic`, and InvalidRegistryInput for a staff request that does
    not add up."""
    _check_discreet(values, CLINIC_CLIENT_FIELDS)
    _check_name_free(session, values.get("name"), clinic_id)
    clinic = clinics.clinic_by_id(session, clinic_id)
    if clinic is None:
        raise NotFound(f"clinic {clinic_id} not found")
    before = clinic_view(session, clinic)
    staff_plan = staff_change(clinic.id, before.staff, region, staff, add_staff, remove_staff)
    if values.get("phone"):
        values["phone"] = normalize_phone(values["phone"], region)
    changed = _changes(clinic, values)
    if services is not None:
        offered = _services_by_code(session, services)
        _set_services(session, clinic, offered)
        if sorted(s.code for s in offered) != before.services:
            changed["services"] = [before.services, sorted(s.code for s in offered)]
    added: list[str] = []
    removed: list[str] = []
    if staff_plan is not None:
        old = sorted(s.phone for s in before.staff if s.active)
        added, removed = set_staff(session, clinic, *staff_plan)
        if added or removed:
            changed["staff"] = [old, sorted((set(old) - set(removed)) | set(added))]
    if changed:
        session.add(clinic)
        session.flush()
        extra = {"staff_added": added, "staff_removed": removed} if "staff" in changed else {}
        audit.record(
            session, actor, _action("clinic", changed), "clinic", clinic.id, changes=changed, **extra
        )
    return ClinicChange(clinic_view(session, clinic), added, removed)


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


def _check_worker_phone(session: Session, phone: str, worker_id: int | None, *, active: bool = True) -> None:
    """`phone` is about to be a worker's: it may be no other worker's, and,
    when the worker is `active`, no active clinic staff phone (see
    `staff.check_new_staff`)."""
    other = session.exec(select(Worker).where(Worker.phone == phone)).first()
    if other is not None and other.id != worker_id:
        raise PhoneIsWorkers(f"phone {phone} is already worker {other.id}", phone=phone)
    if not active:
        return
    staff = session.exec(
        select(ClinicStaff).where(ClinicStaff.phone == phone, ClinicStaff.active.is_(True))  # type: ignore[attr-defined]
    ).first()
    if staff is not None:
        raise PhoneIsStaff(
            f"phone {phone} is a staff phone of clinic {staff.clinic_id}: one phone cannot be both "
            "a worker's and a clinic's; remove it from the clinic's staff first",
            phone=phone,
        )


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
    """Change the given fields (`active=False`: the phone can no longer issue
    codes). Raises Conflict when the worker would be active on a phone of
    another worker or of a clinic's staff (a new phone, or a reactivation)."""
    row = get_worker(session, worker_id)
    if values.get("phone"):
        values["phone"] = normalize_phone(values["phone"], region)
    phone, active = values.get("phone", row.phone), values.get("active", row.active)
    if phone != row.phone or (active and not row.active):
        _check_worker_phone(session, phone, row.id, active=active)
    changed = _changes(row, values)
    if changed:
        session.add(row)
        session.flush()
        audit.record(session, actor, _action("worker", changed), "worker", row.id, changes=changed)
    return row
