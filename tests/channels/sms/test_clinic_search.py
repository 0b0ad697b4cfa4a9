"""Finding a clinic by SMS through the webhook (`CLINIC`/`PK`, and a message
that only names a place): the listing order by province, a province, a
district or a service named in any spelling, full addresses, and the
demo's Vietnamese names in every language; and the words of the code
replies around it (service labels in English, a mistyped digit, times
before dates)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import code_text
from app.messages import count_segments, render
from app.models import Clinic, ClinicService, Service
from tests.discretion import assert_discreet
from tests.factories import (
    CLIENT,
    CLIENT_LOCAL,
    clinic_named,
    issue_by_sms,
    last_code,
    notifications_to,
    reply,
    session_of,
    sms,
    sms_text,
    with_check,
)

DIEN_BIEN = ["Him Lam", "Muong Thanh"]
HA_NOI = ["Dong Da", "Long Bien"]


def _add_clinic(client, name: str, district: str, province: str, services=("VCT",), address="1 Duong Moi"):
    with session_of(client) as s:
        clinic = Clinic(
            name=f"Internal {name}",
            display_name=f"Phong kham {name}",
            district=district,
            province=province,
            address=address,
            hours="T2-T6 8:00-17:00",
        )
        s.add(clinic)
        s.flush()
        for code in services:
            service = s.exec(select(Service).where(Service.code == code)).one()
            s.add(ClinicService(clinic_id=clinic.id, service_id=service.id))
        s.commit()


def _listed(text: str) -> list[str]:
    """The clinic names of one listing reply, in order (`Phong kham X` -> `X`)."""
    return [
        line.split(", ")[0].split("Phong kham ", 1)[1] for line in text.splitlines()[1:] if ". Phong" in line
    ]


def _all_pages(client, phone: str, text: str) -> list[str]:
    pages = sms(client, phone, text)
    while pages[-1].endswith(render("sms.clinic_more", "vi-ascii")):
        pages += sms(client, phone, "THEM")
    return [name for page in pages for name in _listed(page)]


# ---------------------------------------------------------------- the listing order


def test_plain_clinic_lists_province_by_province_most_clinics_first(world):
    _add_clinic(world, "Tuan Giao", "Tuan Giao", "Dien Bien")  # Dien Bien: 3 clinics, Ha Noi: 2
    assert _all_pages(world, CLIENT, "PK") == [*DIEN_BIEN, "Tuan Giao", *HA_NOI]


def test_a_province_with_more_clinics_comes_first_whatever_its_districts_are_called(world):
    _add_clinic(world, "Ba Dinh", "Ba Dinh", "Ha Noi")  # Ha Noi: 3; "Ba Dinh" sorts before "Dien Bien Phu"
    assert _all_pages(world, CLIENT, "PK") == ["Ba Dinh", *HA_NOI, *DIEN_BIEN]


def test_provinces_with_as_many_clinics_go_alphabetically(world):
    assert _all_pages(world, CLIENT, "CLINIC") == [*DIEN_BIEN, *HA_NOI]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("PK Dien Bien", DIEN_BIEN),
        ("PK DienBien", DIEN_BIEN),
        ("PK ĐIỆN BIÊN", DIEN_BIEN),
        ("PK Ha Noi", HA_NOI),
        ("PK hanoi", HA_NOI),
        ("PK HaNoi", HA_NOI),
        ("PK Hà Nội", HA_NOI),
        ("PK DongDa", ["Dong Da"]),
        ("PK MuongThanh", ["Muong Thanh"]),
        ("PK muong  thanh", ["Muong Thanh"]),
    ],
)
def test_a_province_district_or_clinic_is_found_in_any_spelling(world, typed, expected):
    assert _listed(reply(world, CLIENT, typed)) == expected


def test_a_message_that_only_names_a_place_gets_its_clinics(world):
    assert _listed(reply(world, CLIENT, "MuongThanh")) == ["Muong Thanh"]
    assert _listed(reply(world, CLIENT, "Ha Noi")) == HA_NOI
    assert reply(world, CLIENT, "zzz qqq") == sms_text("sms.unknown")


def test_a_worker_names_a_clinic_without_spaces(world):
    code = issue_by_sms(world, f"REF VCT {CLIENT_LOCAL} MuongThanh")
    with session_of(world) as s:
        assert code.clinic_id == clinic_named(s, "Phong kham Muong Thanh").id


# ---------------------------------------------------------------- services


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("PK xet nghiem", ["Him Lam", "Muong Thanh", "Dong Da"]),  # VCT
        ("PK xét nghiệm", ["Him Lam", "Muong Thanh", "Dong Da"]),
        ("PK XetNghiem", ["Him Lam", "Muong Thanh", "Dong Da"]),
        ("CLINIC testing", ["Him Lam", "Muong Thanh", "Dong Da"]),
        ("PK xet nghiem Ha Noi", ["Dong Da"]),
        ("PK VCT dien bien", DIEN_BIEN),
        ("PK methadone", ["Him Lam", "Dong Da", "Long Bien"]),  # MMT
        ("PK PrEP", ["Muong Thanh", "Dong Da"]),
    ],
)
def test_a_service_named_by_its_words_lists_the_clinics_offering_it(world, typed, expected):
    text = reply(world, CLIENT, typed)
    assert _listed(text) == expected
    assert_discreet(text)  # the words typed are never echoed


def test_a_service_in_a_place_without_it_finds_nothing_and_says_nothing_of_it(world):
    text = reply(world, CLIENT, "PK methadone Muong Thanh")
    assert text.startswith(render("sms.clinic_none", "vi-ascii", districts="")[:20])
    assert_discreet(text)


# ---------------------------------------------------------------- addresses and names


def test_a_clinic_address_ends_with_its_district_and_province(world):
    _add_clinic(world, "Ba Dinh", "Ba Dinh", "Ha Noi", address="5 Tran Phu")
    assert "Phong kham Ba Dinh, 5 Tran Phu, Ba Dinh, Ha Noi. Gio:" in reply(world, CLIENT, "PK Ba Dinh")
    dong_da = reply(world, CLIENT, "PK Dong Da")
    assert "108 Ton Duc Thang, Dong Da, Ha Noi. Gio:" in dong_da  # named once
    him_lam = reply(world, CLIENT, "PK Him Lam")
    assert "12 Vo Nguyen Giap, Him Lam, Dien Bien Phu. Gio:" in him_lam  # Dien Bien Phu names Dien Bien


def test_the_demo_names_are_vietnamese_and_folded_where_sent_without_diacritics(world):
    vi_ascii = reply(world, CLIENT, "PK Muong Thanh")
    assert "Phong kham Muong Thanh" in vi_ascii and count_segments(vi_ascii).encoding == "GSM-7"
    sms(world, CLIENT, "LANG vi")
    assert "Phòng khám Mường Thanh" in reply(world, CLIENT, "PK Muong Thanh")


# ---------------------------------------------------------------- code replies


def test_an_english_client_reads_an_english_service_label(world):
    code = issue_by_sms(world, "REF VCT")
    shown = code_text.format_code(code.code)
    sms(world, CLIENT, "LANG en")
    text = reply(world, CLIENT, f"CODE {shown}")
    assert text == render(
        "codes.status_valid_any", "en", code=shown, until="23/12/2026", service="Health counselling"
    )
    assert "Tu van" not in text
    assert_discreet(text)


def _mistyped(code: str) -> str:
    """`code` with its second digit changed: the check digit catches it."""
    return code[0] + str((int(code[1]) + 1) % 10) + code[2:]


def test_a_code_with_one_wrong_digit_is_said_to_be_mistyped_not_malformed(world):
    code = issue_by_sms(world)
    wrong = code_text.format_code(_mistyped(code.code))
    assert reply(world, CLIENT, f"CODE {wrong}") == sms_text("codes.mistyped")
    assert reply(world, CLIENT, wrong) == sms_text("codes.mistyped")
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {wrong}") == sms_text("codes.mistyped")
    assert reply(world, CLIENT, "CODE 1234-567") == sms_text("codes.malformed")  # 7 digits: the format
    assert reply(world, CLIENT, f"CODE {with_check('1234567')}") != sms_text("codes.mistyped")


def test_the_client_code_sms_is_short_sentences_within_its_segments(world):
    sms(world, DEMO_WORKER_PHONE, f"REF VCT {CLIENT_LOCAL} Muong Thanh")
    code = last_code(world)
    [to_client] = notifications_to(world, CLIENT)
    assert to_client.text == sms_text(
        "codes.client_issued_clinic",
        code=code_text.format_code(code.code),
        service="Tu van suc khoe",
        until="23/12/2026",
        clinic="Phong kham Muong Thanh",
        address="Duong 7/5, Muong Thanh, Dien Bien Phu",
    )
    assert "cho quay tiep don" in to_client.text and to_client.segments == 1
    assert_discreet(to_client.text)


def test_a_refused_redemption_says_plainly_that_nothing_was_done(world):
    code = issue_by_sms(world, f"REF STI {CLIENT_LOCAL}")  # Him Lam offers VCT and MMT
    text = reply(world, DEMO_CLINIC_PHONE, f"RED {code_text.format_code(code.code)}")
    assert text == sms_text("codes.not_offered", clinic="Phong kham Him Lam", service="STI")
    assert text.endswith("Yeu cau chua duoc thuc hien.") and "Khong co gi thay doi" not in text


def test_an_appointment_is_said_time_first_then_date(world):
    code = issue_by_sms(world)  # Monday 23/11/2026; Him Lam opens T2-T6
    shown = code_text.format_code(code.code)
    booked = reply(world, DEMO_CLINIC_PHONE, f"HEN {shown} 25/11 14h30")
    assert "vao 14:30 ngay 25/11/2026" in booked and "luc" not in booked
    told = notifications_to(world, CLIENT)[-1].text
    assert told.endswith(": vao 14:30 ngay 25/11/2026.") and "luc" not in told
