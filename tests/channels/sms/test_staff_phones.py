"""Worker and clinic phones through the SMS webhook: `HUY <code>` cancels
the code (never an opt-out), STOP keeps the answers to their own keywords,
and a deactivated phone is told its account is not active."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain.code_text import format_code
from app.domain.phones import mask_phone
from app.main import create_app
from app.messages import render
from app.models import ClinicStaff, MessageStatus, Person, Worker
from app.sending.gateways.memory import MemoryGateway
from tests.conftest import SettledClient, make_settings
from tests.factories import (
    CLIENT_LOCAL,
    NOW,
    code_state,
    issue_by_sms,
    last_code,
    outbound,
    reply,
    sms,
    unknown_code,
)

LANG = "vi-ascii"


def opted_out(session, phone: str) -> bool:
    session.expire_all()
    person = session.exec(select(Person).where(Person.phone == phone)).first()
    return bool(person and person.opted_out)


def test_huy_and_a_code_cancels_the_code_and_does_not_opt_the_worker_out(world, session):
    code = issue_by_sms(world)
    answer = reply(world, DEMO_WORKER_PHONE, f"HUY {format_code(code.code)}")
    assert answer == render("codes.voided_done", LANG, code=format_code(code.code))
    assert code_state(world, code) == "voided"
    assert not opted_out(session, DEMO_WORKER_PHONE)
    # the next referral's reply, the one with the new code, goes out
    sms(world, DEMO_WORKER_PHONE, f"GT VCT {CLIENT_LOCAL}")
    assert outbound(session, phone=DEMO_WORKER_PHONE)[-1].status == MessageStatus.sent


def test_huy_and_a_code_with_a_digit_missing_asks_again_and_does_not_opt_out(world, session):
    answer = reply(world, DEMO_WORKER_PHONE, "HUY 7003-366")
    assert answer == render("codes.malformed", LANG)
    assert not opted_out(session, DEMO_WORKER_PHONE)


def test_huy_alone_still_stops_messages(world, session):
    assert reply(world, "+84987000111", "HUY") == render("sms.stop_confirm", LANG)
    assert opted_out(session, "+84987000111")


def test_a_client_sending_huy_and_a_code_is_not_opted_out(world, session):
    code = issue_by_sms(world)
    reply(world, "+84987000112", f"HUY {format_code(code.code)}")
    assert not opted_out(session, "+84987000112")
    assert code_state(world, code) == "issued"


def test_a_worker_who_sent_stop_still_gets_the_code_just_issued(world, session):
    assert reply(world, DEMO_WORKER_PHONE, "STOP") == render("sms.stop_confirm_staff", LANG)
    assert opted_out(session, DEMO_WORKER_PHONE)
    sms(world, DEMO_WORKER_PHONE, f"GT VCT {CLIENT_LOCAL}")
    code = last_code(world)
    [answer] = [m for m in outbound(session, phone=DEMO_WORKER_PHONE) if format_code(code.code) in m.text]
    assert answer.status == MessageStatus.sent


def test_a_desk_that_sent_stop_still_gets_the_confirmation_of_its_redemption(world, session):
    code = issue_by_sms(world)
    assert reply(world, DEMO_CLINIC_PHONE, "TC") == render("sms.stop_confirm_staff", LANG)
    sms(world, DEMO_CLINIC_PHONE, f"XN {format_code(code.code)}")
    assert code_state(world, code) == "redeemed"
    assert outbound(session, phone=DEMO_CLINIC_PHONE)[-1].status == MessageStatus.sent


def test_a_deactivated_worker_is_told_the_account_is_not_active(world, session):
    worker = session.exec(select(Worker).where(Worker.phone == DEMO_WORKER_PHONE)).one()
    worker.active = False
    session.commit()
    for text in (f"GT VCT {CLIENT_LOCAL}", "TK", "HUYMA 1234-5678"):
        assert reply(world, DEMO_WORKER_PHONE, text) == render("codes.worker_inactive", LANG)
    # a client keyword still answers as for anyone
    assert reply(world, DEMO_WORKER_PHONE, "GIUP") == render("sms.help_client", LANG)


def test_a_deactivated_clinic_phone_is_told_the_phone_is_not_active(world, session):
    staff = session.exec(select(ClinicStaff).where(ClinicStaff.phone == DEMO_CLINIC_PHONE)).one()
    staff.active = False
    session.commit()
    assert reply(world, DEMO_CLINIC_PHONE, "XN 1234-5678") == render("codes.staff_inactive", LANG)


def test_the_desk_of_a_deactivated_clinic_is_told_the_phone_is_not_active(world, session):
    from app.models import Clinic

    staff = session.exec(select(ClinicStaff).where(ClinicStaff.phone == DEMO_CLINIC_PHONE)).one()
    session.get(Clinic, staff.clinic_id).active = False
    session.commit()
    code = issue_by_sms(world)
    for text in (f"XN {format_code(code.code)}", f"HEN {format_code(code.code)} 10/12"):
        assert reply(world, DEMO_CLINIC_PHONE, text) == render("codes.staff_inactive", LANG)
    assert code_state(world, code) == "issued"


def test_a_desk_over_the_wrong_code_limit_still_confirms_the_client_at_the_counter(
    demo, db, database_url, frozen_clock
):
    frozen_clock(NOW)
    settings = make_settings(database_url, WRONG_CODE_LIMIT_PER_HOUR=3)
    with SettledClient(create_app(settings, gateway=MemoryGateway(), engine=db)) as client:
        good = issue_by_sms(client)
        for _ in range(4):  # over the limit
            sms(client, DEMO_CLINIC_PHONE, f"XN {unknown_code()}")
        # each wrong code over the limit is answered with the limit's notice, never silence
        assert reply(client, DEMO_CLINIC_PHONE, f"XN {unknown_code()}") == render("codes.throttled", LANG)
        answer = reply(client, DEMO_CLINIC_PHONE, f"XN {format_code(good.code)}")
        assert answer.startswith(
            render("codes.redeemed", LANG, code=format_code(good.code), service="VCT")[:20]
        )
        assert code_state(client, good) == "redeemed"


def test_an_old_11_digit_mobile_is_referred_under_its_new_number(world):
    code = issue_by_sms(world, "GT VCT 01689123456")
    assert code.client_phone == "+84389123456"


def test_a_landline_is_refused_as_a_client_phone_and_nothing_is_issued(world, session):
    before = last_code(world)
    answer = reply(world, DEMO_WORKER_PHONE, "GT VCT 02033845678")
    assert answer == render("codes.not_mobile", LANG, phone=mask_phone("+842033845678"))
    assert last_code(world) == before


def test_a_desk_far_over_the_limit_stops_guessing_valid_codes_too(demo, db, database_url, frozen_clock):
    """Below three times the limit a valid code goes through; at it, nothing
    is looked up for the hour, by SMS or USSD, so guessing stays throttled."""
    from tests.factories import dial

    frozen_clock(NOW)
    settings = make_settings(database_url, WRONG_CODE_LIMIT_PER_HOUR=2)
    with SettledClient(create_app(settings, gateway=MemoryGateway(), engine=db)) as client:
        good = issue_by_sms(client)
        for _ in range(6):  # three times the limit
            sms(client, DEMO_CLINIC_PHONE, f"XN {unknown_code()}")
        stopped = render("codes.throttled_staff", LANG)
        assert reply(client, DEMO_CLINIC_PHONE, f"XN {format_code(good.code)}") == stopped
        assert dial(client, DEMO_CLINIC_PHONE, "1", good.code) == "END " + stopped
        assert code_state(client, good) == "issued"
        frozen_clock(NOW + timedelta(hours=1, minutes=1))  # the hour over: the client is confirmed
        assert code_state(client, good) == "issued"
        assert reply(client, DEMO_CLINIC_PHONE, f"XN {format_code(good.code)}").startswith(
            render("codes.redeemed", LANG, code=format_code(good.code), service="VCT")[:20]
        )
