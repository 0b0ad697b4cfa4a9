"""The SMS keywords of clients (`app.channels.sms.client`) through the
webhook: APPT, the next appointment."""

from __future__ import annotations

from datetime import UTC, datetime

from app.messages import render
from app.models import Appointment
from tests.discretion import assert_discreet
from tests.factories import CLIENT, clinic_named, send


def test_appt_without_an_appointment(client, gateway):
    send(client, "HẸN")
    assert gateway.to(CLIENT) == [render("sms.appt_none", "vi-ascii")]


def test_appt_shows_the_next_appointment_in_local_time(client, session, demo, gateway):
    clinic = clinic_named(session)
    session.add(
        Appointment(
            client_phone=CLIENT, clinic_id=clinic.id, starts_at=datetime(2026, 11, 25, 2, 30, tzinfo=UTC)
        )
    )
    session.commit()
    send(client, "APPT")
    (text,) = gateway.to(CLIENT)
    assert "09:30" in text and "25/11/2026" in text and "Phong kham Him Lam" in text
    assert_discreet(text)
