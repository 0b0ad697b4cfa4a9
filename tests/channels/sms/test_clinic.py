"""The SMS keywords of clinic desks (`app.channels.sms.clinic`) through the
webhook, on both databases: RED redeems a code, APPT books the client.
Each refusal gets its own reply and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import select

from app import clock
from app.channels.sms.clinic import split_code_and_rest
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import appointments, code_text
from app.messages import count_segments
from app.models import Appointment, AuditLog, CodeState, Redemption, Reminder, ReminderKind
from tests.discretion import assert_discreet
from tests.factories import (
    CLIENT,
    CLIENT_LOCAL,
    NOW,
    clinic_named,
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

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# date-like text: digits, separators and the words of the catalogues, mixed
_TYPED = r"[0-9 /:.hg-]{0,12}( ?(mai|ngay|thu|cn|sang|chieu|toi|pm|am|hom nay|t[2-8]|[0-9]{1,3}h?)){0,4}"

# ---------------------------------------------------------------- RED


def test_red_redeems_and_tells_the_worker_without_the_client_number(world):
    code = issue_by_sms(world)
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == sms_text(
        "coupons.redeemed_with_coupons",
        code=shown,
        service="VCT",
        count=3,  # the demo's VCT peer coupons
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
    # eight digits with a wrong check digit: one digit may be mistyped
    assert reply(world, DEMO_CLINIC_PHONE, "RED 4821-5093") == sms_text("codes.mistyped")
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
    expected = {"RED": "codes.red_usage", "4821-5934": "codes.mistyped"}.get(typed, "codes.malformed")
    assert text == sms_text(expected)
    assert snapshot(world) == before and code_state(world, code) == CodeState.issued


# ---------------------------------------------------------------- APPT


def test_appt_books_the_client_and_hands_it_to_the_reminders(world):
    code = issue_by_sms(world)
    shown = code_text.format_code(code.code)
    text = reply(world, DEMO_CLINIC_PHONE, f"HEN {shown} 10-12 14h")  # a Thursday, the code valid to 23/12
    assert text == sms_text("codes.booked", code=shown, date="10/12/2026", time="14:00")
    with session_of(world) as s:
        appointment = s.exec(select(Appointment)).one()
        kinds = {r.kind for r in s.exec(select(Reminder).where(Reminder.appointment_id == appointment.id))}
    assert appointment.client_phone == CLIENT and appointment.starts_at == datetime(
        2026, 12, 10, 7, 0, tzinfo=UTC
    )
    assert kinds == {ReminderKind.appointment_day_before, ReminderKind.appointment_soon}
    confirmation = notifications_to(world, CLIENT)[-1]
    assert "10/12/2026" in confirmation.text and "14:00" in confirmation.text
    assert_discreet(confirmation.text)
    # the client's own APPT now shows it
    assert "10/12/2026" in reply(world, CLIENT, "APPT")


def test_appt_without_a_time_is_at_eight(world):
    code = issue_by_sms(world)
    assert reply(world, DEMO_CLINIC_PHONE, f"APPT {code.code[:4]} {code.code[4:]} 10/12") == sms_text(
        "codes.booked", code=code_text.format_code(code.code), date="10/12/2026", time="08:00"
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
    assert reply(world, DEMO_CLINIC_PHONE, "APPT 4821-5093 25/12") == sms_text("codes.mistyped")
    assert reply(world, DEMO_CLINIC_PHONE, f"APPT {code.code} 25/12") == sms_text(
        "codes.no_client_phone", code=code_text.format_code(code.code)
    )
    assert count_in(world, Appointment) == 0


# ---------------------------------------------------------------- APPT: dates and times as people type them
# (Monday 23/11/2026, 14:00 in Hanoi; a code issued now is valid to 23/12; Him
# Lam is open T2-T6)


@pytest.mark.parametrize(
    ("when", "local"),
    [
        ("ngay mai", datetime(2026, 11, 24, 8, 0)),
        ("mai", datetime(2026, 11, 24, 8, 0)),
        ("ngày mai 9h30", datetime(2026, 11, 24, 9, 30)),
        ("hom nay 16h", datetime(2026, 11, 23, 16, 0)),
        ("hôm nay 15:30", datetime(2026, 11, 23, 15, 30)),
        ("thu 2", datetime(2026, 11, 30, 8, 0)),  # a Monday: the next one, never today
        ("thứ 2 9h", datetime(2026, 11, 30, 9, 0)),
        ("thu 3", datetime(2026, 11, 24, 8, 0)),
        ("T6 10h", datetime(2026, 11, 27, 10, 0)),
        ("mai 8g", datetime(2026, 11, 24, 8, 0)),
        ("mai 8h sang", datetime(2026, 11, 24, 8, 0)),
        ("mai 2h chieu", datetime(2026, 11, 24, 14, 0)),
        ("4h chiều", datetime(2026, 11, 23, 16, 0)),  # no date: today, still ahead
        ("14h30", datetime(2026, 11, 23, 14, 30)),
        ("3pm", datetime(2026, 11, 23, 15, 0)),
        ("tomorrow 2pm", datetime(2026, 11, 24, 14, 0)),
        ("mai 8:30", datetime(2026, 11, 24, 8, 30)),
        ("mai 3h", datetime(2026, 11, 24, 15, 0)),  # a bare 1-6 is the afternoon
        ("7h toi", datetime(2026, 11, 23, 19, 0)),
        ("chieu mai", datetime(2026, 11, 24, 14, 0)),
        ("10/12", datetime(2026, 12, 10, 8, 0)),  # the forms of before still work
        ("10/12/2026", datetime(2026, 12, 10, 8, 0)),
        ("10/12 14:30", datetime(2026, 12, 10, 14, 30)),
        ("10-12 14h", datetime(2026, 12, 10, 14, 0)),
    ],
)
def test_appt_books_dates_and_times_as_people_type_them(world, when, local):
    code = issue_by_sms(world)
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_CLINIC_PHONE, f"HEN {shown} {when}") == sms_text(
        "codes.booked", code=shown, date=local.strftime("%d/%m/%Y"), time=local.strftime("%H:%M")
    )
    with session_of(world) as s:
        appointment = s.exec(select(Appointment)).one()
    assert appointment.starts_at == local.replace(tzinfo=TZ).astimezone(UTC)


@pytest.mark.parametrize("when", ["8h", "8:30", "2h chieu", "2pm", "hom nay"])
def test_appt_a_time_already_gone_today_is_past(world, when):
    code = issue_by_sms(world)
    assert reply(world, DEMO_CLINIC_PHONE, f"APPT {code.code} {when}") == sms_text(
        "codes.past_date", date=when
    )
    assert count_in(world, Appointment) == 0


def _refused(world, row, when: str, key: str, **values) -> None:
    before = snapshot(world)
    client_messages = len(notifications_to(world, CLIENT))
    text = reply(world, DEMO_CLINIC_PHONE, f"HEN {code_text.format_code(row.code)} {when}")
    assert text == sms_text(key, **values)
    assert_discreet(text)
    assert snapshot(world) == before and count_in(world, Appointment) == 0
    assert len(notifications_to(world, CLIENT)) == client_messages


def test_appt_after_the_code_expires_is_refused(world):
    code = issue_by_sms(world)
    until = code.expires_at.astimezone(TZ).strftime("%d/%m/%Y")
    assert until == "23/12/2026"
    shown = code_text.format_code(code.code)
    _refused(world, code, "25/12", "codes.appt_after_expiry", code=shown, until=until)
    _refused(world, code, "15/01", "codes.appt_after_expiry", code=shown, until=until)


def test_appt_after_expiry_is_allowed_once_the_code_was_used(world):
    code = issue_by_sms(world)
    sms(world, DEMO_CLINIC_PHONE, f"XN {code.code}")  # the client came: a follow-up visit
    assert reply(world, DEMO_CLINIC_PHONE, f"HEN {code.code} 28/12 9h") == sms_text(
        "codes.booked", code=code_text.format_code(code.code), date="28/12/2026", time="09:00"
    )


@pytest.mark.parametrize(
    ("when", "at"), [("mai 22h", "22:00"), ("8h toi", "20:00"), ("mai 6h sang", "06:00")]
)
def test_appt_at_night_is_refused(world, when, at):
    code = issue_by_sms(world)
    opens, closes = (t.strftime("%H:%M") for t in (appointments.DAY_OPENS, appointments.DAY_CLOSES))
    _refused(world, code, when, "codes.appt_night", opens=opens, closes=closes, time=at)


@pytest.mark.parametrize(("when", "day"), [("chu nhat", "29/11/2026"), ("28/11 9h", "28/11/2026")])
def test_appt_on_a_day_the_clinic_is_closed_is_refused(world, when, day):
    code = issue_by_sms(world)  # Him Lam: T2-T6 7:30-16:30
    _refused(world, code, when, "codes.appt_closed", date=day, hours="T2-T6 7:30-16:30")


def test_appt_a_clinic_whose_hours_cannot_be_read_closes_no_day(world):
    with session_of(world) as s:
        clinic = clinic_named(s, "Phong kham Him Lam")
        clinic.hours = "Gio hanh chinh, goi truoc"
        s.add(clinic)
        s.commit()
    code = issue_by_sms(world)
    assert reply(world, DEMO_CLINIC_PHONE, f"HEN {code.code} cn 9h") == sms_text(
        "codes.booked", code=code_text.format_code(code.code), date="29/11/2026", time="09:00"
    )


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(when=st.text(max_size=80) | st.from_regex(_TYPED, fullmatch=True))
def test_appt_any_date_text_gets_one_reply_within_two_segments(world, when):
    code = issue_by_sms(world) if count_in(world, Appointment) == 0 else None
    shown = code_text.format_code(code.code) if code else "4821 5933"
    text = reply(world, DEMO_CLINIC_PHONE, f"HEN {shown} {when}")
    assert count_segments(text).segments <= 2, text
    assert_discreet(text)


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


# ---------------------------------------------------------------- APPT: one clinic, one code's bookings

OTHER_DESK = "+84900000072"


def _second_desk(world, clinic_name: str = "Phong kham Muong Thanh") -> None:
    from app.models import ClinicStaff

    with session_of(world) as s:
        s.add(ClinicStaff(clinic_id=clinic_named(s, clinic_name).id, phone=OTHER_DESK, name="Second desk"))
        s.commit()


def test_another_clinic_cannot_replace_a_clinics_appointment(world):
    _second_desk(world)
    code = issue_by_sms(world)
    shown = code_text.format_code(code.code)
    reply(world, DEMO_CLINIC_PHONE, f"HEN {shown} 10-12 14h")
    told_before = len(notifications_to(world, CLIENT))
    before = snapshot(world)
    text = reply(world, OTHER_DESK, f"HEN {shown} 11-12 9h")
    assert text == sms_text(
        "codes.appt_elsewhere", code=shown, clinic="Phong kham Him Lam", time="14:00", date="10/12/2026"
    )
    assert snapshot(world) == before
    with session_of(world) as s:
        booked = s.exec(select(Appointment).where(Appointment.status == "booked")).all()
    assert [a.starts_at for a in booked] == [datetime(2026, 12, 10, 7, 0, tzinfo=UTC)]
    assert len(notifications_to(world, CLIENT)) == told_before  # the client is not told of the other clinic
    # the first clinic still moves its own booking
    assert reply(world, DEMO_CLINIC_PHONE, f"HEN {shown} 11-12 9h") == sms_text(
        "codes.booked", code=shown, date="11/12/2026", time="09:00"
    )


def test_voiding_a_booked_code_cancels_its_appointment_and_reminders(world):
    code = issue_by_sms(world)
    shown = code_text.format_code(code.code)
    reply(world, DEMO_CLINIC_PHONE, f"HEN {shown} 10-12 14h")
    assert reply(world, DEMO_WORKER_PHONE, f"HUYMA {shown}") == sms_text("codes.voided_done", code=shown)
    with session_of(world) as s:
        appointment = s.exec(select(Appointment)).one()
        pending = s.exec(select(Reminder).where(Reminder.status == "pending")).all()
    assert appointment.status == "cancelled"
    assert pending == []
    assert "10/12/2026" not in reply(world, CLIENT, "APPT")


def test_appt_guesses_count_toward_the_wrong_code_limit_and_a_valid_code_still_books(world):
    code = issue_by_sms(world)
    shown = code_text.format_code(code.code)
    for _ in range(9):
        assert reply(world, DEMO_CLINIC_PHONE, f"HEN {unknown_code()} 10-12 14h") == sms_text(
            "codes.unknown", code=unknown_code()
        )
    assert reply(world, DEMO_CLINIC_PHONE, f"HEN {unknown_code()} 10-12 14h") == sms_text("codes.throttled")
    with session_of(world) as s:
        tried = s.exec(select(AuditLog).where(AuditLog.action == "code.attempt")).all()
    assert [a.detail["outcome"] for a in tried].count("unknown") == 10
    assert reply(world, DEMO_CLINIC_PHONE, f"HEN {shown} 10-12 14h") == sms_text(
        "codes.booked", code=shown, date="10/12/2026", time="14:00"
    )
