"""The SMS keywords of clinic desks (`app.channels.sms.clinic`) through the
webhook, on both databases: RED redeems a code, APPT books the client.
Each refusal gets its own reply and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from app import clock
from app.channels.sms.clinic import split_code_and_rest
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import code_text
from app.models import Appointment, AuditLog, CodeState, Redemption, Reminder, ReminderKind
from tests.discretion import assert_discreet
from tests.factories import (
    CLIENT,
    CLIENT_LOCAL,
    NOW,
    code_state,
    count_in,
    issue_by_sms,
    notifications_to,
    reply,
    session_of,
    sms,
    sms_text,
    snapshot,
    unknown_code,
)

# ---------------------------------------------------------------- RED


def test_red_redeems_and_tells_the_worker_without_the_client_number(world):
    code = issue_by_sms(world)
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == sms_text(
        "codes.redeemed", code=shown, service="VCT"
    )
    assert code_state(world, code) == CodeState.redeemed
    with session_of(world) as s:
        redemption = s.exec(select(Redemption)).one()
    assert redemption.channel == "sms" and redemption.actor == f"phone:{DEMO_CLINIC_PHONE}"
    assert redemption.redeemed_at == NOW
    told = notifications_to(world, DEMO_WORKER_PHONE)
    assert len(told) == 1 and shown in told[0].text and "Phong kham Him Lam" in told[0].text
    assert "912" not in told[0].text.replace(shown, "")


def test_second_red_of_a_code_is_already_used(world):
    code = issue_by_sms(world)
    sms(world, DEMO_CLINIC_PHONE, f"XN {code.code}")
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == sms_text("codes.already_redeemed", code=shown)
    assert count_in(world, Redemption) == 1
    assert len(notifications_to(world, DEMO_WORKER_PHONE)) == 1


def test_an_expired_code_is_refused_even_before_it_is_marked(world):
    code = issue_by_sms(world)
    clock.freeze(code.expires_at + timedelta(seconds=1))
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == sms_text("codes.expired", code=shown)
    assert reply(world, CLIENT, shown) == sms_text("codes.expired", code=shown)
    assert code_state(world, code) == CodeState.issued and count_in(world, Redemption) == 0


def test_unknown_and_malformed_codes_get_their_own_replies(world):
    shown = unknown_code()
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == sms_text("codes.unknown", code=shown)
    assert reply(world, DEMO_CLINIC_PHONE, "RED 4821-5093") == sms_text(
        "codes.malformed"
    )  # wrong check digit
    with session_of(world) as s:
        outcomes = [
            a.detail["outcome"] for a in s.exec(select(AuditLog).where(AuditLog.action == "code.redeem"))
        ]
    assert outcomes == ["unknown", "malformed"]


def test_a_code_for_a_service_the_clinic_does_not_offer(world):
    code = issue_by_sms(world, f"REF STI {CLIENT_LOCAL}")  # Him Lam offers VCT and MMT
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == sms_text(
        "codes.not_offered", clinic="Phong kham Him Lam", service="STI"
    )
    assert code_state(world, code) == CodeState.issued


def test_red_from_a_client_or_worker_gets_their_help_and_redeems_nothing(world):
    code = issue_by_sms(world)
    assert reply(world, CLIENT, f"RED {code.code}") == sms_text("sms.help_client")
    assert reply(world, DEMO_WORKER_PHONE, f"RED {code.code}") == sms_text("sms.help_worker")
    assert code_state(world, code) == CodeState.issued


@pytest.mark.parametrize("typed", ["4821-59A3", "4821593", "482159331", "4821-5934", "RED"])
def test_bad_codes_get_the_malformed_reply_and_change_nothing(world, typed):
    code = issue_by_sms(world)
    before = snapshot(world)
    text = reply(world, DEMO_CLINIC_PHONE, f"RED {typed}" if typed != "RED" else "RED")
    assert text == (sms_text("codes.red_usage") if typed == "RED" else sms_text("codes.malformed"))
    assert snapshot(world) == before and code_state(world, code) == CodeState.issued


# ---------------------------------------------------------------- APPT


def test_appt_books_the_client_and_hands_it_to_the_reminders(world):
    code = issue_by_sms(world)
    shown = code_text.format_code(code.code)
    text = reply(world, DEMO_CLINIC_PHONE, f"HEN {shown} 25-12 14h")
    assert text == sms_text("codes.booked", code=shown, date="25/12/2026", time="14:00")
    with session_of(world) as s:
        appointment = s.exec(select(Appointment)).one()
        kinds = {r.kind for r in s.exec(select(Reminder).where(Reminder.appointment_id == appointment.id))}
    assert appointment.client_phone == CLIENT and appointment.starts_at == datetime(
        2026, 12, 25, 7, 0, tzinfo=UTC
    )
    assert kinds == {ReminderKind.appointment_day_before, ReminderKind.appointment_soon}
    confirmation = notifications_to(world, CLIENT)[-1]
    assert "25/12/2026" in confirmation.text and "14:00" in confirmation.text
    assert_discreet(confirmation.text)
    # the client's own APPT now shows it
    assert "25/12/2026" in reply(world, CLIENT, "APPT")


def test_appt_without_a_time_is_at_eight(world):
    code = issue_by_sms(world)
    assert reply(world, DEMO_CLINIC_PHONE, f"APPT {code.code[:4]} {code.code[4:]} 25/12") == sms_text(
        "codes.booked", code=code_text.format_code(code.code), date="25/12/2026", time="08:00"
    )


@pytest.mark.parametrize(
    "when, key",
    [
        ("31/02", "codes.bad_date"),
        ("25/12 25h", "codes.bad_date"),
        ("01/01/2026", "codes.past_date"),
        ("23/11 9h", "codes.past_date"),
        ("25/12/2030", "codes.date_too_far"),
    ],
)
def test_appt_refuses_impossible_and_past_dates(world, when, key):
    code = issue_by_sms(world)
    assert reply(world, DEMO_CLINIC_PHONE, f"APPT {code.code} {when}") == sms_text(key, date=when)
    assert count_in(world, Appointment) == 0


def test_appt_bad_input(world):
    code = issue_by_sms(world, "REF VCT")
    assert reply(world, DEMO_CLINIC_PHONE, f"APPT {code.code}") == sms_text("codes.appt_usage")
    assert reply(world, DEMO_CLINIC_PHONE, "APPT 4821-5093 25/12") == sms_text("codes.malformed")
    assert reply(world, DEMO_CLINIC_PHONE, f"APPT {code.code} 25/12") == sms_text(
        "codes.no_client_phone", code=code_text.format_code(code.code)
    )
    assert count_in(world, Appointment) == 0


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("4821 5933 25/12 14h", ("4821 5933", "25/12 14h")),
        ("4821-5933 25/12", ("4821-5933", "25/12")),
        ("48 21 59 33 25/12", ("48 21 59 33", "25/12")),
        ("4821-5933", ("4821-5933", "")),
        ("12 25/12", ("12", "25/12")),  # too few digits: the code is malformed, not longer
        ("abc 25/12", ("abc", "25/12")),  # not a number: the first word is the code
        ("", ("", "")),
    ],
)
def test_appt_takes_a_codes_worth_of_leading_number_words(text, parts):
    assert split_code_and_rest(text) == parts
