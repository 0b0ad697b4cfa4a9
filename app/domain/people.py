"""Who a phone is: role by registration (active worker, active clinic staff,
otherwise client), preferred language and opt-out."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app import clock
from app.models import ClinicStaff, Person, Role, Worker


@dataclass(frozen=True)
class Caller:
    phone: str
    role: Role
    language: str
    opted_out: bool
    worker: Worker | None = None
    staff: ClinicStaff | None = None


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


def _caller_statement():
    """Built once (the phone is a parameter): constructing this three-way
    outer join was most of the look-up's cost, and every inbound SMS and
    USSD step asks it."""
    asked = select(bindparam("phone", type_=Person.__table__.c.phone.type).label("phone")).subquery()
    return (
        select(Worker, ClinicStaff, Person)
        .select_from(asked)
        .outerjoin(Worker, and_(Worker.phone == asked.c.phone, Worker.active == True))  # noqa: E712
        .outerjoin(ClinicStaff, and_(ClinicStaff.phone == asked.c.phone, ClinicStaff.active == True))  # noqa: E712
        .outerjoin(Person, Person.phone == asked.c.phone)
    )


_CALLER = _caller_statement()


def resolve_caller(session: Session, phone: str, default_language: str) -> Caller:
    """Role, language and opt-out of `phone`, in one query (every inbound
    SMS and USSD step starts here); no row is written."""
    row = session.exec(_CALLER, params={"phone": phone}).first()
    worker, staff, person = row if row is not None else (None, None, None)
    if worker is not None:
        staff = None  # a phone registered as both acts as the worker
    role = Role.worker if worker else Role.clinic if staff else Role.client
    return Caller(
        phone=phone,
        role=role,
        language=(person.language if person and person.language else default_language),
        opted_out=bool(person and person.opted_out),
        worker=worker,
        staff=staff,
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
