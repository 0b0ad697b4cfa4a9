"""The USSD screens of clients (`app.channels.ussd.client`) through the
webhook: find a clinic and get its details by SMS, the next appointment,
stop and resume messages."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app import clock
from app.domain import people
from app.models import MessageStatus, Person
from tests.discretion import assert_discreet
from tests.factories import CLIENT, clinic_named, dial, issue_code, outbound, ussd_text


def test_client_finds_a_clinic_and_gets_its_details_by_sms(client, demo):
    main = dial(client, CLIENT)
    assert main.startswith("CON ") and ussd_text("ussd.opt_find_clinic") in main
    districts = dial(client, CLIENT, "1")
    assert "1 Dien Bien Phu" in districts and "Dong Da" in districts
    clinics = dial(client, CLIENT, "1", "1")
    assert "1 Phong kham Him Lam" in clinics and "2 Phong kham Muong Thanh" in clinics
    details = dial(client, CLIENT, "1", "1", "1")
    assert details.startswith("CON Phong kham Him Lam\n12 Vo Nguyen Giap, Him Lam\nT2-T6 7:30-16:30")
    assert "Tu van suc khoe" in details and "VCT" not in details

    done = dial(client, CLIENT, "1", "1", "1", "1")
    assert done == "END " + ussd_text("ussd.sms_sent")
    [sms] = outbound(demo, phone=CLIENT)
    assert sms.status == MessageStatus.sent  # right after the step's commit, before any tick
    assert "Phong kham Him Lam" in sms.text and "12 Vo Nguyen Giap" in sms.text
    assert_discreet(sms.text)


def test_details_by_sms_to_an_opted_out_phone_are_not_sent(client, demo):
    people.set_opt_out(demo, CLIENT, True)
    demo.commit()
    assert dial(client, CLIENT, "1", "1", "1", "1") == "END " + ussd_text("ussd.sms_opted_out")
    assert all(m.status == MessageStatus.skipped for m in outbound(demo, phone=CLIENT))


def test_stray_diacritics_in_clinic_data_are_folded(client, demo):
    clinic = clinic_named(demo)
    clinic.display_name = "Phòng khám Điện Biên"
    clinic.address = "12 Võ Nguyên Giáp, 北京"
    demo.add(clinic)
    demo.commit()
    listing = dial(client, CLIENT, "1", "1")
    [number] = [line[0] for line in listing.splitlines() if line.endswith(" Phong kham Dien Bien")]
    assert dial(client, CLIENT, "1", "1", number).startswith(
        "CON Phong kham Dien Bien\n12 Vo Nguyen Giap, ??\n"
    )


def test_client_next_appointment(client, demo, settings):
    assert dial(client, CLIENT, "3") == "END " + ussd_text("ussd.appt_none")
    code = issue_code(demo, settings, commit=True).code
    clinic = clinic_named(demo)
    from app.domain.appointments import book_appointment

    starts = (
        (clock.now() + timedelta(days=2))
        .astimezone(settings.tz)
        .replace(hour=9, minute=30, second=0, microsecond=0)
    )
    while starts.weekday() >= 5:  # the demo clinic opens Monday to Friday
        starts += timedelta(days=1)
    book_appointment(demo, settings, code, starts, clinic=clinic, actor="test")
    demo.commit()
    answer = dial(client, CLIENT, "3")
    assert (
        answer.startswith("END ")
        and starts.strftime("%d/%m/%Y 09:30") in answer
        and "Phong kham Him Lam" in answer
    )


def test_client_stops_messages_after_confirming(client, demo):
    confirm = dial(client, CLIENT, "4")
    assert confirm.startswith("CON " + ussd_text("ussd.confirm_stop"))
    assert demo.exec(select(Person).where(Person.phone == CLIENT)).first() is None  # nothing yet
    assert dial(client, CLIENT, "4", "1") == "END " + ussd_text("ussd.stopped")
    demo.expire_all()
    assert people.is_opted_out(demo, CLIENT)
    again = dial(client, CLIENT)
    assert ussd_text("ussd.opt_resume") in again and ussd_text("ussd.opt_stop") not in again
    assert dial(client, CLIENT, "4", "1") == "END " + ussd_text("ussd.resumed")
    demo.expire_all()
    assert not people.is_opted_out(demo, CLIENT)
