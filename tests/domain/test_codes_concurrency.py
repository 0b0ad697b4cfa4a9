"""A code is redeemed at most once, even when many clinics confirm it at the
same moment: 50 threads, each with its own session and connection, on
PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from app import clock
from app.db import make_engine, session_factory
from app.demo import DEMO_WORKER_PHONE
from app.domain import appointments, clinics, codes, errors
from app.models import (
    Appointment,
    AppointmentStatus,
    AuditLog,
    Channel,
    Clinic,
    CodeState,
    Message,
    Redemption,
    ReferralCode,
    Reminder,
    ReminderStatus,
)
from tests.factories import issue_code

ATTEMPTS = 50


@pytest.mark.postgres_only
def test_fifty_concurrent_redeems_of_one_code_make_exactly_one_redemption(demo, settings, database_url):
    row = issue_code(demo, settings, commit=True)
    vct_clinics = [
        c.id
        for c in demo.exec(select(Clinic).order_by(Clinic.id))
        if clinics.offers(demo, c.id, row.service_id)
    ]
    assert len(vct_clinics) >= 3

    engine = make_engine(database_url, pool_size=ATTEMPTS, max_overflow=0)
    factory = session_factory(engine)
    start = threading.Barrier(ATTEMPTS)

    def attempt(i: int) -> str:
        with factory() as session:
            clinic = session.get(Clinic, vct_clinics[i % len(vct_clinics)])
            session.connection()  # hold a connection before the start line
            start.wait(timeout=60)
            try:
                codes.redeem_code(
                    session, settings, row.code, clinic=clinic, channel=Channel.api, actor=f"clinic-{i}"
                )
            except errors.AlreadyRedeemed:
                session.commit()  # the refused attempt's audit row
                return "already"
            session.commit()
            return "redeemed"

    try:
        with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
            outcomes = list(pool.map(attempt, range(ATTEMPTS)))
    finally:
        engine.dispose()

    assert outcomes.count("redeemed") == 1
    assert outcomes.count("already") == ATTEMPTS - 1
    with Session(demo.get_bind()) as s:
        assert s.exec(select(func.count()).select_from(Redemption)).one() == 1
        assert s.get(ReferralCode, row.id).state == CodeState.redeemed
        attempts = s.exec(select(AuditLog).where(AuditLog.action == "code.redeem")).all()
        assert sorted(a.detail["outcome"] for a in attempts) == ["already_redeemed"] * (ATTEMPTS - 1) + [
            "redeemed"
        ]
        told = s.exec(select(Message).where(Message.phone == DEMO_WORKER_PHONE)).all()
        assert len(told) == 1  # the worker is told once


BOOKINGS = 8


@pytest.mark.postgres_only
def test_bookings_of_one_code_at_the_same_moment_leave_one_upcoming_appointment(demo, settings, database_url):
    row = issue_code(demo, settings, commit=True)
    clinic_id = next(c.id for c in demo.exec(select(Clinic)) if clinics.offers(demo, c.id, row.service_id))
    engine = make_engine(database_url, pool_size=BOOKINGS, max_overflow=0)
    factory = session_factory(engine)
    start = threading.Barrier(BOOKINGS)
    # 08:00 local on a weekday at least three days ahead: inside the demo clinic's hours
    day = (clock.now().astimezone(settings.tz) + timedelta(days=3)).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    base = datetime.combine(day, time(8, 0), tzinfo=settings.tz).astimezone(UTC)

    def book(i: int) -> None:
        with factory() as session:
            clinic = session.get(Clinic, clinic_id)
            session.connection()
            start.wait(timeout=60)
            appointments.book_appointment(
                session, settings, row.code, base + timedelta(hours=i), clinic=clinic, actor=f"desk-{i}"
            )
            session.commit()

    try:
        with ThreadPoolExecutor(max_workers=BOOKINGS) as pool:
            list(pool.map(book, range(BOOKINGS)))
    finally:
        engine.dispose()

    with Session(demo.get_bind()) as s:
        booked = s.exec(
            select(Appointment).where(
                Appointment.code_id == row.id, Appointment.status == AppointmentStatus.booked
            )
        ).all()
        assert len(booked) == 1
        assert len(s.exec(select(Appointment).where(Appointment.code_id == row.id)).all()) == BOOKINGS
        # the reminders of the replaced bookings are cancelled with them: only the standing one's wait
        pending = s.exec(
            select(Reminder).where(
                Reminder.appointment_id.is_not(None), Reminder.status == ReminderStatus.pending
            )
        ).all()
        assert {r.appointment_id for r in pending} == {booked[0].id}


ROUNDS = 12


def test_a_void_racing_a_booking_never_leaves_a_voided_code_booked(demo, settings, database_url):
    clinic_id = next(c.id for c in demo.exec(select(Clinic)) if c.display_name == "Phòng khám Him Lam")
    day = (clock.now().astimezone(settings.tz) + timedelta(days=3)).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    at = datetime.combine(day, time(9, 0), tzinfo=settings.tz).astimezone(UTC)
    rows = [issue_code(demo, settings, client=f"+8491200{i:04d}", commit=True) for i in range(ROUNDS)]
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    factory = session_factory(engine)

    def book(code: str, start: threading.Barrier) -> None:
        with factory() as session:
            clinic = session.get(Clinic, clinic_id)
            session.connection()
            start.wait(timeout=60)
            try:
                appointments.book_appointment(session, settings, code, at, clinic=clinic, actor="desk")
            except errors.CodeVoided:
                return
            session.commit()

    def void(code: str, start: threading.Barrier) -> None:
        with factory() as session:
            session.connection()
            start.wait(timeout=60)
            codes.void_code(session, code, worker=None, actor="staff")
            session.commit()

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for row in rows:
                start = threading.Barrier(2)
                list(pool.map(lambda f, code=row.code, start=start: f(code, start), (book, void)))
    finally:
        engine.dispose()

    with Session(demo.get_bind()) as s:
        ids = [r.id for r in rows]
        assert {s.get(ReferralCode, i).state for i in ids} == {CodeState.voided}
        booked = s.exec(
            select(Appointment).where(
                Appointment.code_id.in_(ids), Appointment.status == AppointmentStatus.booked
            )
        ).all()
        assert booked == []
        pending = s.exec(
            select(Reminder).where(Reminder.code_id.in_(ids), Reminder.status == ReminderStatus.pending)
        ).all()
        assert pending == []
