"""The USSD screens of clients (`app.channels.ussd.client`) through the
webhook: find a clinic and get its details by SMS, the next appointment,
stop and resume messages."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app import clock
from app.channels.ussd.client import DETAILS_SMS_PER_HOUR
from app.domain import people
from app.models import Clinic, MessageStatus, Person
from tests.discretion import assert_discreet
from tests.factories import CLIENT, NOW, clinic_named, dial, issue_code, outbound, ussd_text


def test_client_finds_a_clinic_and_gets_its_details_by_sms(client, demo):
    main = dial(client, CLIENT)
    assert main.startswith("CON ") and ussd_text("ussd.opt_find_clinic") in main
    provinces = dial(client, CLIENT, "1")
    assert provinces.startswith("CON " + ussd_text("ussd.pick_province"))
    assert "1 Dien Bien\n2 Ha Noi\n" in provinces
    # Dien Bien has one district: its clinics at once, the title naming it
    clinics = dial(client, CLIENT, "1", "1")
    assert clinics.startswith("CON " + ussd_text("ussd.pick_clinic", district="Dien Bien Phu"))
    assert "1 Phong kham Him Lam" in clinics and "2 Phong kham Muong Thanh" in clinics
    details = dial(client, CLIENT, "1", "1", "1")
    assert details.startswith(
        "CON Phong kham Him Lam\n12 Vo Nguyen Giap, Him Lam, Dien Bien Phu\nT2-T6 7:30-16:30"
    )
    assert "Tu van suc khoe" in details and "VCT" not in details

    done = dial(client, CLIENT, "1", "1", "1", "1")
    assert done == "END " + ussd_text("ussd.sms_sent")
    [sms] = outbound(demo, phone=CLIENT)
    assert sms.status == MessageStatus.sent  # right after the step's commit, before any tick
    assert "Phong kham Him Lam" in sms.text and "12 Vo Nguyen Giap" in sms.text
    assert sms.text.isascii()  # vi-ascii: the demo's name "Phòng khám Him Lam" goes folded
    assert_discreet(sms.text)


def test_a_province_with_several_districts_lists_only_its_own(client, demo):
    districts = dial(client, CLIENT, "1", "2")  # Ha Noi
    assert districts.startswith("CON " + ussd_text("ussd.pick_district"))
    assert "1 Dong Da\n2 Long Bien\n" in districts and "Dien Bien" not in districts
    clinics = dial(client, CLIENT, "1", "2", "2")
    assert "1 Phong kham Long Bien" in clinics and "Dong Da" not in clinics
    assert dial(client, CLIENT, "1", "2", "2", "0") == districts  # 0 goes back one screen


def test_one_province_skips_the_province_screen(client, demo):
    for clinic in demo.exec(select(Clinic)):
        if clinic.province == "Ha Noi":
            clinic.active = False
            demo.add(clinic)
    demo.add(
        Clinic(
            name="Tuan Giao centre",
            display_name="Phong kham Tuan Giao",
            district="Tuan Giao",
            province="Dien Bien",
            address="x",
            hours="y",
        )
    )
    demo.commit()
    districts = dial(client, CLIENT, "1")
    assert districts.startswith("CON " + ussd_text("ussd.pick_district"))
    assert "1 Dien Bien Phu\n2 Tuan Giao\n" in districts


def test_a_clinic_without_a_province_is_listed_with_its_district(client, demo):
    demo.add(
        Clinic(
            name="No province",
            display_name="Diem cham soc Ba Dinh",
            district="Ba Dinh",
            address="x",
            hours="y",
        )
    )
    demo.add(
        Clinic(
            name="Dong Da, no province",
            display_name="Diem cham soc Dong Da",
            district="Dong Da",
            address="x",
            hours="y",
        )
    )
    demo.commit()
    provinces = dial(client, CLIENT, "1")
    assert "1 Ha Noi\n2 Dien Bien\n3 " + ussd_text("ussd.other_area") + "\n" in provinces
    assert "Diem cham soc Dong Da" in dial(client, CLIENT, "1", "1", "1")  # Ha Noi, Dong Da
    assert "1 Diem cham soc Ba Dinh" in dial(client, CLIENT, "1", "3")


def test_details_by_sms_are_capped_at_three_an_hour_per_phone(client, demo, frozen_clock):
    frozen_clock(NOW)
    for _ in range(DETAILS_SMS_PER_HOUR):
        assert dial(client, CLIENT, "1", "1", "1", "1") == "END " + ussd_text("ussd.sms_sent")
    assert dial(client, CLIENT, "1", "1", "2", "1") == "END " + ussd_text("ussd.sms_already_sent")
    assert len(outbound(demo, phone=CLIENT)) == DETAILS_SMS_PER_HOUR  # nothing queued over the cap
    frozen_clock(clock.now() + timedelta(hours=1, minutes=1))
    assert dial(client, CLIENT, "1", "1", "1", "1") == "END " + ussd_text("ussd.sms_sent")
    assert len(outbound(demo, phone=CLIENT)) == DETAILS_SMS_PER_HOUR + 1


def test_details_by_sms_name_services_in_english_for_an_english_phone(client, demo):
    people.set_language(demo, CLIENT, "en")
    demo.commit()
    details = dial(client, CLIENT, "1", "1", "1")
    assert "Care support, Health counselling" in details and "Tu van" not in details
    dial(client, CLIENT, "1", "1", "1", "1")
    [sms] = outbound(demo, phone=CLIENT)
    assert "Services: Care support, Health counselling." in sms.text
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
        "CON Phong kham Dien Bien\n12 Vo Nguyen Giap, ??, Dien Bien Phu\n"
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
        and "09:30 ngay " + starts.strftime("%d/%m/%Y") in answer  # the time, then the date
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
