"""`/console/reminders`: a reminder scheduled by a referral sent through the
SMS webhook shows among the upcoming ones, masked for a viewer and whole for
an admin; a voided code's reminder moves to the recent ones, cancelled; a
clinic user is refused as a clinic key is by `GET /reminders`."""

from __future__ import annotations

from markupsafe import escape
from sqlmodel import select

from app.demo import DEMO_WORKER_PHONE
from app.domain.code_text import format_code
from app.messages import datetime_text, render
from app.models import Reminder, ReminderKind
from tests.factories import CLIENT, CLIENT_LOCAL, issue_by_sms, session_of, sms
from tests.routes.console.test_messages import row_of

MASKED_CLIENT = "+8491****678"


def _reminder(client) -> Reminder:
    with session_of(client) as s:
        return s.exec(select(Reminder).where(Reminder.phone == CLIENT)).one()


def _due(reminder: Reminder, settings) -> str:
    local = reminder.due_at.astimezone(settings.tz)
    return datetime_text(local.strftime("%d/%m/%Y"), local.strftime("%H:%M"), "vi")


def test_a_referrals_reminder_is_upcoming_masked_for_a_viewer_and_whole_for_an_admin(staff, settings):
    client = staff("viewer")
    issue_by_sms(client, f"GT VCT {CLIENT_LOCAL}")
    reminder = _reminder(client)
    assert reminder.kind == ReminderKind.code_expiry
    page = client.get("/console/reminders")
    assert page.status_code == 200
    upcoming = page.text.split('id="recent-title"')[0]
    row = row_of(upcoming, "reminder", reminder.id)
    assert MASKED_CLIENT in row and CLIENT not in page.text and CLIENT_LOCAL not in page.text
    assert str(escape(render("console_logs.kind_code_expiry", "vi"))) in row
    assert str(escape(render("console_logs.status_pending", "vi"))) in row
    assert _due(reminder, settings) in row
    assert str(escape(render("console_logs.phones_masked", "vi"))) in page.text

    client.cookies.clear()
    admin = staff("admin")
    row = row_of(admin.get("/console/reminders").text, "reminder", reminder.id)
    assert CLIENT in row and MASKED_CLIENT not in row


def test_a_voided_codes_reminder_is_among_the_recent_ones_cancelled(staff):
    client = staff("admin")
    code = issue_by_sms(client, f"GT VCT {CLIENT_LOCAL}")
    sms(client, DEMO_WORKER_PHONE, f"VOID {format_code(code.code)}")
    reminder = _reminder(client)
    assert reminder.status == "cancelled"
    page = client.get("/console/reminders?lang=en").text
    upcoming, recent = page.split('id="recent-title"')
    assert f'data-reminder="{reminder.id}"' not in upcoming
    row = row_of(recent, "reminder", reminder.id)
    assert render("console_logs.status_cancelled", "en") in row and CLIENT in row


def test_a_clinic_user_is_refused_as_a_clinic_key_is(staff):
    client = staff("clinic", clinic="Phong kham Him Lam")
    issue_by_sms(client, f"GT VCT {CLIENT_LOCAL}")
    page = client.get("/console/reminders")
    assert page.status_code == 403
    assert str(escape(render("console.not_yours", "vi"))) in page.text and "data-reminder" not in page.text


def test_signed_out_the_page_leads_to_the_sign_in(client):
    r = client.get("/console/reminders", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
