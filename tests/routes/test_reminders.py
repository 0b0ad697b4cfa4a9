"""Reminders through the API (`app.routes.reminders`): schedule, list and
cancel a custom reminder; bad ones are refused."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.models import AuditLog
from tests.factories import API, CLIENT


def test_schedule_list_and_cancel_a_custom_reminder(client, keys, session):
    body = {
        "phone": "0912345678",
        "due_at": "2026-03-05T08:00:00+07:00",
        "text_key": "reminder.custom_visit",
        "params": {"clinic": "Phong kham Him Lam", "date": "06/03"},
    }
    r = client.post(f"{API}/reminders", json=body, headers=keys.admin)
    assert r.status_code == 201, r.text
    reminder = r.json()
    assert reminder["phone"] == CLIENT and reminder["status"] == "pending" and reminder["kind"] == "custom"
    listed = client.get(f"{API}/reminders", headers=keys.viewer).json()
    assert listed["total"] == 1 and listed["items"][0]["phone"] == "+8491****678"

    r = client.post(f"{API}/reminders/{reminder['id']}/cancel", headers=keys.admin)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.post(f"{API}/reminders/{reminder['id']}/cancel", headers=keys.admin).status_code == 409
    assert client.post(f"{API}/reminders/999/cancel", headers=keys.admin).status_code == 404
    actions = [a.action for a in session.exec(select(AuditLog).where(AuditLog.entity == "reminder"))]
    assert actions == ["reminder.schedule", "reminder.cancel"]


@pytest.mark.parametrize(
    "change",
    [
        {"text_key": "reminder.custom_nope"},
        {"params": {}},
        {"due_at": "2026-03-05T08:00:00"},
        {"phone": "123"},
        {"text_key": "reminder.retest"},
    ],
)
def test_bad_reminders_are_refused(client, keys, change):
    body = {
        "phone": CLIENT,
        "due_at": "2026-03-05T08:00:00+07:00",
        "text_key": "reminder.custom_visit",
        "params": {"clinic": "A", "date": "B"},
        **change,
    }
    r = client.post(f"{API}/reminders", json=body, headers=keys.admin)
    assert r.status_code == 422, r.text
    assert client.get(f"{API}/reminders", headers=keys.admin).json()["total"] == 0
