"""Who a phone is: role by registration (active worker, active clinic staff,
otherwise client), preferred language and opt-out."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app import clock
from app.config import Settings
from app.models import Clinic, ClinicStaff, Person, Role, Worker


@dataclass(frozen=True)
class Caller:
    phone: str
    role: Role
    language: str
    opted_out: bool
    worker: Worker | None = None
    staff: ClinicStaff | None = None
    former: Role | None = None  # a deactivated worker or clinic phone, now a client


def get_person(session: Session, phone: str) -> Person | None:
    return session.exec(select(Person).where(Person.phone == phone)).first()


def get_or_create_person(session: Session, phone: str) -> Person:
    """The Person row of `phone`, created if new. Safe when two requests
    create the same phone at once (the unique index decides)."""
    person = get_person(session, phone)
    if person is not None:
        return person
    try:
        with session.begin_nested():
            person = Person(phone=phone)
            session.add(person)
            session.flush()
        return person
    except IntegrityError:
        return get_person(session, phone)  # type: ignore[return-value]


def _caller_query():
    worker, staff, person, clinic = (
        Worker.__table__,
        ClinicStaff.__table__,
        Person.__table__,
        Clinic.__table__,
    )
    asked = sa.select(sa.bindparam("phone").label("phone")).subquery()
    old_worker, old_staff = worker.alias("old_worker"), staff.alias("old_staff")
    inactive_worker = sa.exists().where(
        old_worker.c.phone == asked.c.phone, old_worker.c.active == sa.false()
    )

    def clinic_active(staff_table):
        return sa.exists().where(clinic.c.id == staff_table.c.clinic_id, clinic.c.active == sa.true())

    # staff of a deactivated clinic are former staff, like a deactivated staff phone
    inactive_staff = sa.exists().where(
        old_staff.c.phone == asked.c.phone,
        sa.or_(old_staff.c.active == sa.false(), ~clinic_active(old_staff)),
    )
    return (
        sa.select(
            worker.c.id,
            staff.c.id,
            person.c.language,
            person.c.opted_out,
            inactive_worker.label("former_worker"),
            inactive_staff.label("former_staff"),
        )
        .select_from(asked)
        .outerjoin(worker, sa.and_(worker.c.phone == asked.c.phone, worker.c.active == sa.true()))
        .outerjoin(
            staff,
            sa.and_(staff.c.phone == asked.c.phone, staff.c.active == sa.true(), clinic_active(staff)),
        )
        .outerjoin(person, person.c.phone == asked.c.phone)
    )


# Built once, on the tables' columns (Core: no statement to build, no
# entities to load on each call): every inbound SMS and USSD step runs it.
_CALLER = _caller_query()


def resolve_caller(session: Session, phone: str, default_language: str) -> Caller:
    """Role, language and opt-out of `phone`, in one query (every inbound
    SMS and USSD step starts here; a worker's or staff member's row is then
    read by its key); no row is written."""
    worker_id, staff_id, language, opted_out, former_worker, former_staff = session.execute(
        _CALLER, {"phone": phone}
    ).one()
    # a phone registered as both acts as the worker
    worker = session.get(Worker, worker_id) if worker_id is not None else None
    staff = session.get(ClinicStaff, staff_id) if staff_id is not None and worker is None else None
    role = Role.worker if worker else Role.clinic if staff else Role.client
    former = None
    if role is Role.client:
        former = Role.worker if former_worker else Role.clinic if former_staff else None
    return Caller(
        phone=phone,
        role=role,
        language=language or default_language,
        opted_out=bool(opted_out),
        worker=worker,
        staff=staff,
        former=former,
    )


def is_opted_out(session: Session, phone: str) -> bool:
    person = get_person(session, phone)
    return bool(person and person.opted_out)


def set_opt_out(session: Session, phone: str, opted_out: bool) -> Person:
    person = get_or_create_person(session, phone)
    person.opted_out = opted_out
    person.opted_out_at = clock.now() if opted_out else None
    session.add(person)
    return person


def set_language(session: Session, phone: str, language: str) -> Person:
    person = get_or_create_person(session, phone)
    person.language = language
    session.add(person)
    return person


def language_of(session: Session, settings: Settings, phone: str) -> str:
    """The language to write to `phone` in: its own choice, else the default."""
    person = get_person(session, phone)
    return person.language if person and person.language else settings.default_language
