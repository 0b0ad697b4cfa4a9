"""Clinic staff phones: who may become staff (a phone belongs to one clinic
and is never also an active worker's), and the three ways an update names
staff (`staff`: the whole list; `add_staff` / `remove_staff`: only the
phones named). Also the registry's refusals, `Conflict` (and its kinds,
each with its own text) and `InvalidRegistryInput`, which
`app.domain.registry` raises too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, select

from app import clock
from app.domain.errors import DomainError
from app.domain.phones import normalize_phone
from app.models import Clinic, ClinicStaff, Worker


class Conflict(DomainError):
    key = "error.conflict"
    status = 409


class InvalidRegistryInput(DomainError):
    key = "error.invalid"
    status = 422


class PhoneIsWorkers(Conflict):
    key = "registry.phone_is_workers"


class PhoneIsStaff(Conflict):
    key = "registry.phone_is_staff"


class StaffPhoneTaken(Conflict):
    key = "registry.staff_phone_taken"


class ClinicNameTaken(Conflict):
    key = "registry.clinic_name_taken"


def staff_entries(staff: Sequence[dict[str, Any]], region: str) -> dict[str, dict]:
    """Normalised staff entries by phone; a phone listed twice is refused."""
    entries: dict[str, dict] = {}
    for item in staff:
        phone = normalize_phone(item["phone"], region)
        if phone in entries:
            raise InvalidRegistryInput(f"staff phone {phone} is listed twice")
        entries[phone] = {"phone": phone, "name": item.get("name") or ""}
    return entries


def check_new_staff(session: Session, phones: Sequence[str], clinic_id: int | None) -> None:
    """Phones about to become active staff of `clinic_id`: a phone belongs to
    one clinic only, and is either a worker's or a clinic's (never both, so
    what it may do by SMS is never a guess)."""
    if not phones:
        return
    for other in session.exec(select(ClinicStaff).where(ClinicStaff.phone.in_(phones))):  # type: ignore[union-attr]
        if other.clinic_id != clinic_id:
            raise StaffPhoneTaken(
                f"staff phone {other.phone} already belongs to clinic {other.clinic_id}", phone=other.phone
            )
    worker = session.exec(
        select(Worker).where(Worker.phone.in_(phones), Worker.active.is_(True))  # type: ignore[union-attr,attr-defined]
    ).first()
    if worker is not None:
        raise PhoneIsWorkers(
            f"phone {worker.phone} is the phone of active outreach worker {worker.id}: "
            "one phone cannot be both a worker's and a clinic's; deactivate the worker first",
            phone=worker.phone,
        )


def set_staff(
    session: Session, clinic: Clinic, add: dict[str, dict], remove: set[str]
) -> tuple[list[str], list[str]]:
    """Add (or reactivate, or rename) the `add` entries and deactivate the
    `remove` phones (rows are kept for history); returns the phones made
    active and those deactivated. Raises Conflict (see `check_new_staff`)."""
    current = {
        s.phone: s for s in session.exec(select(ClinicStaff).where(ClinicStaff.clinic_id == clinic.id))
    }
    added = sorted(p for p in add if p not in current or not current[p].active)
    check_new_staff(session, added, clinic.id)
    removed = sorted(p for p in remove if p in current and current[p].active)
    for phone in removed:
        current[phone].active = False
        session.add(current[phone])
    for phone, entry in add.items():
        row = current.get(phone)
        if row is None:
            session.add(
                ClinicStaff(clinic_id=clinic.id, phone=phone, name=entry["name"], created_at=clock.now())
            )
        else:
            row.active = True
            row.name = entry["name"]
            session.add(row)
    return added, removed


def staff_change(
    clinic_id: int,
    current: Sequence[ClinicStaff],
    region: str,
    staff: Sequence[dict[str, Any]] | None,
    add_staff: Sequence[dict[str, Any]] | None,
    remove_staff: Sequence[str] | None,
) -> tuple[dict[str, dict], set[str]] | None:
    """(entries to add, phones to deactivate) of a clinic update, or None
    when its staff is left alone. `staff` is the whole list (the phones not
    in it are deactivated); `add_staff` / `remove_staff` change only the
    phones they name, and cannot be combined with `staff`."""
    if staff is None and add_staff is None and remove_staff is None:
        return None
    if staff is not None and (add_staff is not None or remove_staff is not None):
        raise InvalidRegistryInput(
            "staff replaces the whole staff list: send either staff, or add_staff / remove_staff"
        )
    if staff is not None:
        entries = staff_entries(staff, region)
        return entries, {s.phone for s in current if s.active} - set(entries)
    entries = staff_entries(add_staff or (), region)
    remove = {normalize_phone(p, region) for p in remove_staff or ()}
    both = sorted(remove & set(entries))
    if both:
        raise InvalidRegistryInput(f"staff phone {both[0]} is both in add_staff and remove_staff")
    known = {s.phone for s in current}
    unknown = sorted(remove - known)
    if unknown:
        raise InvalidRegistryInput(f"remove_staff: {unknown[0]} is not a staff phone of clinic {clinic_id}")
    return entries, remove
