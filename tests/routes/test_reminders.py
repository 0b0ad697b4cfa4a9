"""Reminders through the API (`app.routes.reminders`): schedule, list and
cancel a custom reminder; bad ones are refused (a time past or out of range,
a value naming a sensitive word); the phone filter is for admin keys."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.models import AuditLog, Message, Reminder
from tests.factories import API, CLIENT, CLIENT_LOCAL, count_rows


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
        {"params": {"clinic": "Phong kham HIV", "date": "B"}},
        {"params": {"clinic": "A", "date": "sau khi xét nghiệm"}},
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


def _custom(due_at: str) -> dict:
    return {
        "phone": CLIENT,
        "due_at": due_at,
        "text_key": "reminder.custom_visit",
        "params": {"clinic": "Phong kham Him Lam", "date": "06/03"},
    }


@pytest.mark.parametrize(
    "due_at, words",
    [
        ("2026-03-02T09:00:00+07:00", "in the past"),  # an hour ago (10:00 in Hanoi)
        ("2026-03-01T10:00:00+07:00", "in the past"),
        ("0001-01-01T00:00:00+14:00", "in the past"),
        ("0001-01-01T00:00:00-14:00", "in the past"),
        ("9999-12-31T23:59:59-14:00", "days ahead"),
        ("2028-03-02T10:00:00+07:00", "days ahead"),  # 731 days ahead
    ],
)
def test_a_reminder_due_in_the_past_or_out_of_range_is_refused(client, keys, session, due_at, words):
    r = client.post(f"{API}/reminders", json=_custom(due_at), headers=keys.admin)
    assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert count_rows(session, Reminder) == 0 and count_rows(session, Message) == 0


def test_a_reminder_a_few_minutes_late_is_allowed_for_clock_skew(client, keys, session):
    r = client.post(f"{API}/reminders", json=_custom("2026-03-02T09:56:00+07:00"), headers=keys.admin)
    assert r.status_code == 201, r.text
    r = client.post(f"{API}/reminders", json=_custom("2028-02-29T10:00:00+07:00"), headers=keys.admin)
    assert r.status_code == 201, r.text  # 729 days ahead


def test_the_phone_filter_of_reminders_is_for_admin_keys(client, keys):
    assert client.post(
        f"{API}/reminders", json=_custom("2026-03-05T08:00:00+07:00"), headers=keys.admin
    ).is_success
    r = client.get(f"{API}/reminders", params={"phone": CLIENT}, headers=keys.viewer)
    assert r.status_code == 403 and "phone" in r.json()["detail"]
    assert (
        client.get(f"{API}/reminders", params={"phone": "0912345679"}, headers=keys.viewer).status_code == 403
    )
    assert client.get(f"{API}/reminders", headers=keys.viewer).json()["total"] == 1
    assert (
        client.get(f"{API}/reminders", params={"phone": CLIENT_LOCAL}, headers=keys.admin).json()["total"]
        == 1
    )
