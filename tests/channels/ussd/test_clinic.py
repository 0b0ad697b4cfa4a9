"""The USSD screens of clinic desks (`app.channels.ussd.clinic`) through the
webhook: redeem a code, book an appointment, and the keypad's dates."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.channels.ussd.clinic import keypad_datetime
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import appointments, code_text, people
from app.messages import languages
from app.models import Appointment, Channel, Redemption
from tests.factories import CLIENT, NOW, dial, issue_code, local_ddmm, outbound, unused_code, ussd_text

# ---------------------------------------------------------------- redeem


def test_clinic_redeems_a_code_by_ussd(client, demo, settings):
    code = issue_code(demo, settings, commit=True).code
    assert ussd_text("ussd.opt_redeem") in dial(client, DEMO_CLINIC_PHONE)
    done = dial(client, DEMO_CLINIC_PHONE, "1", code)
    assert done.startswith("END ") and code_text.format_code(code) in done
    [redemption] = demo.exec(select(Redemption)).all()
    assert redemption.channel == Channel.ussd
    # the worker is told
    assert any(code_text.format_code(code) in m.text for m in outbound(demo, phone=DEMO_WORKER_PHONE))
    # a second time: its own reason, no second redemption
    again = dial(client, DEMO_CLINIC_PHONE, "1", code)
    assert again.startswith("END ") and again != done
    demo.expire_all()
    assert len(demo.exec(select(Redemption)).all()) == 1


def test_clinic_cannot_redeem_a_service_it_does_not_offer(client, demo, settings):
    code = issue_code(demo, settings, service="STI", commit=True).code  # Him Lam offers VCT and MMT only
    answer = dial(client, DEMO_CLINIC_PHONE, "1", code)
    assert answer.startswith("END ") and answer != "END " + ussd_text("ussd.error")
    assert demo.exec(select(Redemption)).first() is None


# ---------------------------------------------------------------- book


def test_clinic_books_an_appointment(client, demo, settings, frozen_clock):
    frozen_clock(NOW)  # a Monday: two days on, a day the clinic is open
    code = issue_code(demo, settings, commit=True).code
    day = local_ddmm(2, settings)
    assert dial(client, DEMO_CLINIC_PHONE, "2", code).startswith("CON " + ussd_text("ussd.enter_date"))
    assert dial(client, DEMO_CLINIC_PHONE, "2", code, day).startswith("CON " + ussd_text("ussd.enter_time"))
    confirm = dial(client, DEMO_CLINIC_PHONE, "2", code, day, "1430")
    assert confirm.startswith("CON ") and code_text.format_code(code) in confirm and "14:30" in confirm
    assert demo.exec(select(Appointment)).first() is None
    done = dial(client, DEMO_CLINIC_PHONE, "2", code, day, "1430", "1")
    assert done.startswith("END ") and "14:30" in done
    [appt] = demo.exec(select(Appointment)).all()
    assert appt.client_phone == CLIENT
    local = appt.starts_at.astimezone(settings.tz)
    assert (local.strftime("%d%m"), local.hour, local.minute) == (day, 14, 30)
    assert dial(client, CLIENT, "3").startswith("END ")
    assert "14:30" in dial(client, CLIENT, "3")


def test_booking_for_a_client_who_stopped_messages_says_no_reminders_go(client, demo, settings, frozen_clock):
    frozen_clock(NOW)
    code = issue_code(demo, settings, commit=True).code
    people.set_opt_out(demo, CLIENT, True)
    demo.commit()
    day = local_ddmm(2, settings)
    done = dial(client, DEMO_CLINIC_PHONE, "2", code, day, "1430", "1")
    [appt] = demo.exec(select(Appointment)).all()
    when = appt.starts_at.astimezone(settings.tz).strftime("%d/%m/%Y %H:%M")
    assert done == "END " + ussd_text("ussd.booked_no_sms", when=when)


def test_booking_asks_again_for_a_bad_code_date_or_time(client, demo, settings, frozen_clock):
    frozen_clock(NOW)
    code = issue_code(demo, settings, commit=True).code
    assert dial(client, DEMO_CLINIC_PHONE, "2", unused_code(demo)).startswith(
        "CON " + ussd_text("ussd.bad_code")
    )
    assert dial(client, DEMO_CLINIC_PHONE, "2", code, "3102").startswith("CON " + ussd_text("ussd.bad_date"))
    assert dial(client, DEMO_CLINIC_PHONE, "2", code, "1").startswith("CON " + ussd_text("ussd.bad_date"))
    day = local_ddmm(2, settings)
    assert dial(client, DEMO_CLINIC_PHONE, "2", code, day, "2561").startswith(
        "CON " + ussd_text("ussd.bad_time")
    )
    assert demo.exec(select(Appointment)).first() is None


def test_booking_a_code_that_cannot_be_booked_ends_at_the_code_not_after_date_and_time(
    client, demo, settings
):
    no_phone = issue_code(demo, settings, client=None, commit=True).code
    answer = dial(client, DEMO_CLINIC_PHONE, "2", no_phone)
    assert answer == "END " + ussd_text("codes.no_client_phone", code=code_text.format_code(no_phone))
    not_offered = issue_code(
        demo, settings, service="STI", commit=True
    ).code  # Him Lam offers VCT and MMT only
    answer = dial(client, DEMO_CLINIC_PHONE, "2", not_offered)
    assert answer.startswith("END ") and "STI" in answer and answer != "END " + ussd_text("ussd.error")
    assert demo.exec(select(Appointment)).first() is None


# Monday 23/11/2026, 14:00 in Hanoi; the code is valid to 23/12; Him Lam is open T2-T6
@pytest.mark.parametrize(
    ("answers", "notice"),
    [
        (("2512",), "ussd.appt_after_expiry"),
        (("2911",), "ussd.appt_closed"),  # a Sunday
        (("2811",), "ussd.appt_closed"),  # a Saturday
        (("2411", "2200"), "ussd.appt_night"),
        (("2411", "0630"), "ussd.appt_night"),
        (("2411", "2000"), "ussd.appt_night"),
    ],
)
def test_booking_asks_again_saying_why_a_day_or_hour_cannot_be_booked(
    client, demo, settings, frozen_clock, answers, notice
):
    frozen_clock(NOW)
    code = issue_code(demo, settings, commit=True).code
    screen = dial(client, DEMO_CLINIC_PHONE, "2", code, *answers)
    prompt = "ussd.enter_date" if len(answers) == 1 else "ussd.enter_time"
    assert screen.startswith(f"CON {ussd_text(notice)}\n{ussd_text(prompt)}"), screen
    # a good answer after the notice goes on, and only the confirmation books
    done = dial(
        client,
        DEMO_CLINIC_PHONE,
        "2",
        code,
        *answers,
        *(["2411", "0900"] if len(answers) == 1 else ["0900"]),
        "1",
    )
    assert done.startswith("END ") and "24/11/2026 09:00" in done
    [appt] = demo.exec(select(Appointment)).all()
    assert appt.starts_at.astimezone(settings.tz).strftime("%d/%m %H:%M") == "24/11 09:00"


@pytest.mark.parametrize("language", languages())
def test_the_night_notice_states_the_hours_the_domain_books(language):
    text = ussd_text("ussd.appt_night", language)
    assert (
        appointments.DAY_OPENS.strftime("%H:%M") in text and appointments.DAY_CLOSES.strftime("%H:%M") in text
    )


@pytest.mark.parametrize(
    ("day", "hour", "expected"),
    [
        ("2512", "1430", "25/12 14:30"),
        ("25122026", "9", "25/12/2026 09:00"),
        ("2512", "14", "25/12 14:00"),
        ("25/12", "14", None),
        ("251", "14", None),
        ("2512", "abc", None),
    ],
)
def test_keypad_dates(day, hour, expected):
    assert keypad_datetime(day, hour) == expected
