"""`hen simulate`: the simulated phone's own messages are played, and
nothing else in the database is touched."""

from __future__ import annotations

from datetime import timedelta

from app import clock
from app.messages import render
from app.models import Reminder, ReminderKind, ReminderStatus
from app.simulator import Simulator


def test_simulating_an_sms_sends_its_reply_and_leaves_other_peoples_reminders_alone(settings, session):
    due = Reminder(
        kind=ReminderKind.custom,
        phone="+84987654321",
        due_at=clock.now() - timedelta(minutes=1),
        text_key="reminder.custom_visit",
        params={"clinic": "Phong kham Him Lam", "date": "24/12/2026"},
    )
    session.add(due)
    session.commit()
    with Simulator(settings.model_copy(update={"quiet_hours": ""})) as sim:
        status, out, _ = sim.sms("+84912345678", "HELP")
    assert status == 200
    assert [(m.phone, m.text, m.status) for m in out] == [
        ("+84912345678", render("sms.help_client", "vi-ascii"), "sent")
    ]
    session.refresh(due)
    assert due.status == ReminderStatus.pending  # left for the real dispatcher and gateway
