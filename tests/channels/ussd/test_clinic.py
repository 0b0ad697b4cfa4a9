"""The USSD screens of clinic desks (`app.channels.ussd.clinic`) through the
webhook: redeem a code (after a confirmation), book an appointment, wrong
codes and the throttle (a desk's valid code always goes through), a
deactivated clinic's desk, and the keypad's dates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app import clock
from app.channels.ussd.clinic import keypad_datetime
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import appointments, audit, code_text, codes, people
from app.domain.phones import mask_phone
from app.messages import languages
from app.models import Appointment, Channel, Redemption
from tests.factories import (
    CLIENT,
    NOW,
    audits,
    clinic_named,
    dial,
    issue_code,
    local_ddmm,
    outbound,
    redeem_at,
    unused_code,
    ussd_text,
)

# ---------------------------------------------------------------- redeem


def test_clinic_redeems_a_code_by_ussd_after_confirming_it(client, demo, settings):
    code = issue_code(demo, settings, commit=True).code
    assert ussd_text("ussd.opt_redeem") in dial(client, DEMO_CLINIC_PHONE)
    # the code shows what it is for and whose it is; nothing is redeemed yet
    confirm = dial(client, DEMO_CLINIC_PHONE, "1", code)
    question = ussd_text(
        "ussd.confirm_redeem_to",
        code=code_text.format_code(code),
        service="VCT Tu van suc khoe",
        phone=mask_phone(CLIENT),
    )
    assert confirm == f"CON {question}\n1 {ussd_text('ussd.yes')}\n{ussd_text('ussd.nav')}"
    assert demo.exec(select(Redemption)).first() is None
    # 0 goes back to the code, a wrong choice asks again: still nothing
    assert dial(client, DEMO_CLINIC_PHONE, "1", code, "0") == dial(client, DEMO_CLINIC_PHONE, "1")
    assert dial(client, DEMO_CLINIC_PHONE, "1", code, "7").startswith(
        "CON " + ussd_text("ussd.invalid_choice")
    )
    assert demo.exec(select(Redemption)).first() is None
    done = dial(client, DEMO_CLINIC_PHONE, "1", code, "1")
    assert done == "END " + ussd_text(
        "ussd.redeemed", code=code_text.format_code(code), service="VCT Tu van suc khoe"
    )
    [redemption] = demo.exec(select(Redemption)).all()
    assert redemption.channel == Channel.ussd
    # the worker is told
    assert any(code_text.format_code(code) in m.text for m in outbound(demo, phone=DEMO_WORKER_PHONE))
    # the path replayed runs nothing again: the code, now used, says so
    replayed = dial(client, DEMO_CLINIC_PHONE, "1", code, "1", "1")
    assert replayed == "END " + ussd_text("codes.already_redeemed", code=code_text.format_code(code))
    assert len(demo.exec(select(Redemption)).all()) == 1
    # a second time: its own reason at the code, no confirmation, no second redemption
    again = dial(client, DEMO_CLINIC_PHONE, "1", code)
    assert again == "END " + ussd_text("codes.already_redeemed", code=code_text.format_code(code))
    demo.expire_all()
    assert len(demo.exec(select(Redemption)).all()) == 1


def test_the_confirmation_of_a_code_without_a_client_phone_shows_its_service(client, demo, settings):
    code = issue_code(demo, settings, client=None, commit=True).code
    confirm = dial(client, DEMO_CLINIC_PHONE, "1", code)
    assert confirm.startswith(
        "CON "
        + ussd_text("ussd.confirm_redeem", code=code_text.format_code(code), service="VCT Tu van suc khoe")
    )


def test_a_code_used_elsewhere_before_the_confirmation_gets_its_reason_at_the_confirmation(
    client, demo, settings
):
    code = issue_code(demo, settings, commit=True).code
    assert dial(client, DEMO_CLINIC_PHONE, "1", code).startswith("CON ")
    redeem_at(demo, settings, code, "Phong kham Dong Da")
    demo.commit()
    done = dial(client, DEMO_CLINIC_PHONE, "1", code, "1")
    assert done == "END " + ussd_text("codes.already_redeemed", code=code_text.format_code(code))
    assert len(demo.exec(select(Redemption)).all()) == 1


def test_clinic_cannot_redeem_a_service_it_does_not_offer(client, demo, settings):
    code = issue_code(demo, settings, service="STI", commit=True).code  # Him Lam offers VCT and MMT only
    answer = dial(client, DEMO_CLINIC_PHONE, "1", code)  # at the code, not after a confirmation
    assert answer.startswith("END ") and "STI" in answer and answer != "END " + ussd_text("ussd.error")
    assert demo.exec(select(Redemption)).first() is None
    [attempt] = audits(demo, "code.redeem")
    assert attempt.detail["outcome"] == "not_offered"


@pytest.mark.parametrize("state", ["expired", "voided"])
def test_a_code_that_cannot_be_redeemed_is_answered_at_the_code(client, demo, settings, state):
    row = issue_code(demo, settings)
    if state == "expired":
        row.expires_at = clock.now() - timedelta(days=1)
    else:
        codes.void_code(demo, row.code, worker=None, actor="test")
    demo.add(row)
    demo.commit()
    answer = dial(client, DEMO_CLINIC_PHONE, "1", row.code)
    assert answer == "END " + ussd_text(f"codes.{state}", code=code_text.format_code(row.code))
    assert demo.exec(select(Redemption)).first() is None


# ---------------------------------------------------------------- wrong codes and the throttle


def _wrong_attempts(demo) -> list:
    demo.expire_all()
    rows = [*audits(demo, "code.redeem"), *audits(demo, "code.attempt")]
    return [
        r
        for r in rows
        if r.actor == audit.phone_actor(DEMO_CLINIC_PHONE) and r.detail["outcome"] == "unknown"
    ]


@pytest.mark.parametrize("menu", ["1", "2", "3"], ids=["redeem", "book", "check"])
def test_a_wrong_code_in_any_clinic_screen_ends_the_attempt_counted_and_audited(client, demo, menu):
    wrong = unused_code(demo)
    answer = dial(client, DEMO_CLINIC_PHONE, menu, wrong)
    assert answer == "END " + ussd_text("codes.unknown", code=code_text.format_code(wrong))
    [attempt] = _wrong_attempts(demo)
    assert attempt.detail["code"] == wrong
    # one code a request: of the codes in a session's answers, only the one
    # typed last is tried (the earlier ones were, when they were typed)
    for path in ([wrong, unused_code(demo)], [wrong, "0", unused_code(demo)]):
        before = len(_wrong_attempts(demo))
        dial(client, DEMO_CLINIC_PHONE, menu, *path)
        assert len(_wrong_attempts(demo)) <= before + 1


@pytest.mark.parametrize(
    ("menu", "after"), [("1", ["9"]), ("1", ["1"]), ("2", ["0712"]), ("2", ["0712", "0900"])]
)
def test_a_path_typed_past_a_wrong_code_is_counted_and_tells_nothing(client, demo, menu, after):
    """A gateway sends only what a person typed, but a request can carry
    any path: answers after a wrong code never reach a screen that reads it."""
    wrong = unused_code(demo)
    answer = dial(client, DEMO_CLINIC_PHONE, menu, wrong, *after)
    assert answer == "END " + ussd_text("codes.unknown", code=code_text.format_code(wrong))
    [attempt] = _wrong_attempts(demo)
    assert attempt.detail["code"] == wrong


def test_a_throttled_desk_still_redeems_and_checks_valid_codes(client, demo, settings):
    limit = settings.wrong_code_limit_per_hour
    menus = ["1", "2", "3"]
    for n in range(limit - 1):  # wrong codes in every screen count toward one limit
        wrong = unused_code(demo)
        assert dial(client, DEMO_CLINIC_PHONE, menus[n % 3], wrong) == "END " + ussd_text(
            "codes.unknown", code=code_text.format_code(wrong)
        )
    throttled = "END " + ussd_text("codes.throttled")
    for menu in menus:  # the limit reached: each wrong code gets the limit's notice
        assert dial(client, DEMO_CLINIC_PHONE, menu, unused_code(demo)) == throttled
    assert len(_wrong_attempts(demo)) == limit + 2
    # a valid code always goes through: checked, booked, confirmed
    row = issue_code(demo, settings, commit=True)
    code, until = row.code, row.expires_at.astimezone(settings.tz).strftime("%d/%m/%Y")
    assert dial(client, DEMO_CLINIC_PHONE, "3", code) == "END " + ussd_text(
        "ussd.code_valid", code=code_text.format_code(code), until=until, service="VCT Tu van suc khoe"
    )
    assert dial(client, DEMO_CLINIC_PHONE, "2", code).startswith("CON " + ussd_text("ussd.enter_date"))
    assert dial(client, DEMO_CLINIC_PHONE, "1", code).startswith("CON ")
    done = dial(client, DEMO_CLINIC_PHONE, "1", code, "1")
    assert done.startswith("END ") and code_text.format_code(code) in done and done != throttled
    assert len(demo.exec(select(Redemption)).all()) == 1


def test_a_malformed_code_is_asked_again_and_tries_nothing(client, demo):
    for menu in ("1", "2", "3"):
        answer = dial(client, DEMO_CLINIC_PHONE, menu, "1234")
        assert answer.startswith("CON " + ussd_text("ussd.bad_code") + "\n" + ussd_text("ussd.enter_code"))
    assert _wrong_attempts(demo) == []


# ---------------------------------------------------------------- a deactivated clinic


def test_the_desk_of_a_deactivated_clinic_gets_no_clinic_menu(client, demo, settings):
    code = issue_code(demo, settings).code
    clinic = clinic_named(demo)  # the demo desk's clinic
    clinic.active = False
    demo.add(clinic)
    demo.commit()
    inactive = "END " + ussd_text("codes.staff_inactive")
    assert dial(client, DEMO_CLINIC_PHONE) == inactive
    assert dial(client, DEMO_CLINIC_PHONE, "1", code) == inactive
    assert dial(client, DEMO_CLINIC_PHONE, "1", code, "1") == inactive
    assert demo.exec(select(Redemption)).first() is None
    # active again: the menu is back
    clinic.active = True
    demo.add(clinic)
    demo.commit()
    assert dial(client, DEMO_CLINIC_PHONE).startswith("CON ") and ussd_text("ussd.opt_redeem") in dial(
        client, DEMO_CLINIC_PHONE
    )


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
    local = appt.starts_at.astimezone(settings.tz)
    when = f"{local:%H:%M} ngay {local:%d/%m/%Y}"  # the time first, as people say it
    assert done == "END " + ussd_text("ussd.booked_no_sms", when=when)


def test_booking_asks_again_for_a_bad_code_date_or_time(client, demo, settings, frozen_clock):
    frozen_clock(NOW)
    code = issue_code(demo, settings, commit=True).code
    assert dial(client, DEMO_CLINIC_PHONE, "2", "1234").startswith("CON " + ussd_text("ussd.bad_code"))
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
    assert done.startswith("END ") and "vao 09:00 ngay 24/11/2026" in done
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
