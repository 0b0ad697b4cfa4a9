"""The SMS keywords of every role (`app.channels.sms.anyone`) through the
webhook: HELP, LANG, STOP and START, CLINIC and MORE, and checking a code
(CODE or a bare code)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from app import clock
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import code_text
from app.domain.message_log import queue_rendered
from app.main import create_app
from app.messages import count_segments, render
from app.models import AuditLog, Clinic, ClinicService, Message, MessageKind, Person, Service
from app.sending.gateways.memory import MemoryGateway
from tests.conftest import SettledClient, make_settings
from tests.discretion import assert_discreet
from tests.factories import (
    CLIENT,
    CLIENT_LOCAL,
    NOW,
    inbound,
    issue_by_sms,
    outbound,
    reply,
    send,
    session_of,
    sms,
    sms_text,
    unknown_code,
)

# ---------------------------------------------------------------- HELP per role and language


def test_each_role_gets_its_own_help_in_its_language(client, demo, gateway):
    send(client, "HELP", phone=DEMO_WORKER_PHONE)
    send(client, "giup", phone=DEMO_CLINIC_PHONE)
    send(client, "?", phone=CLIENT)
    assert gateway.to(DEMO_WORKER_PHONE) == [render("sms.help_worker", "vi-ascii")]
    assert gateway.to(DEMO_CLINIC_PHONE) == [render("sms.help_clinic", "vi-ascii")]
    assert gateway.to(CLIENT) == [render("sms.help_client", "vi-ascii")]
    assert "GT" in gateway.to(DEMO_WORKER_PHONE)[0] and "XN" in gateway.to(DEMO_CLINIC_PHONE)[0]


# ---------------------------------------------------------------- LANG


def test_lang_switches_every_later_reply(client, session, gateway):
    send(client, "NGÔN NGỮ en")
    send(client, "HELP")
    send(client, "lang vi")
    send(client, "giúp")
    assert gateway.to(CLIENT) == [
        render("sms.lang_set", "en", name="English"),
        render("sms.help_client", "en"),
        render("sms.lang_set", "vi", name="Tiếng Việt"),
        render("sms.help_client", "vi"),
    ]
    session.expire_all()
    assert session.exec(select(Person).where(Person.phone == CLIENT)).one().language == "vi"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("LANG English", "en"),
        ("NGONNGU tiếng việt", "vi"),
        ("ngon ngu Tieng Viet khong dau", "vi-ascii"),
        ("LANG VI-ASCII.", "vi-ascii"),
    ],
)
def test_lang_takes_a_language_code_or_its_name(client, session, gateway, text, language):
    send(client, text)
    name = render("sms.language_name", language)
    assert gateway.to(CLIENT) == [render("sms.lang_set", language, name=name)]
    session.expire_all()
    assert session.exec(select(Person).where(Person.phone == CLIENT)).one().language == language


def test_an_unknown_language_gets_the_list(client, gateway):
    send(client, "LANG klingon")
    (text,) = gateway.to(CLIENT)
    assert text == render("sms.lang_usage", "vi-ascii", languages="en, vi, vi-ascii")


# ---------------------------------------------------------------- STOP and START


def test_stop_confirms_once_then_nothing_reaches_the_phone(client, session, gateway):
    send(client, "STOP")
    assert gateway.to(CLIENT) == [render("sms.stop_confirm", "vi-ascii")]
    send(client, "HELP")
    send(client, "Từ chối")  # STOP again: not even a stored reply
    assert gateway.to(CLIENT) == [render("sms.stop_confirm", "vi-ascii")]
    replies = outbound(session)
    assert [(m.status, m.error) for m in replies] == [("sent", None), ("skipped", "opted_out")]
    # a notification or reminder queued later is skipped too
    later = queue_rendered(
        session, phone=CLIENT, key="sms.help_client", language="vi-ascii", kind=MessageKind.notification
    )
    session.commit()
    assert (later.status, later.error) == ("skipped", "opted_out")


@pytest.mark.parametrize("alias", ["STOP", "tc", "TUCHOI", "Huỷ", "ngừng", "stop."])
def test_every_stop_alias_opts_out(client, session, alias):
    send(client, alias)
    session.expire_all()
    assert session.exec(select(Person).where(Person.phone == CLIENT)).one().opted_out


def test_start_opts_back_in(client, session, gateway):
    send(client, "STOP")
    send(client, "Bắt đầu")
    send(client, "HELP")
    assert gateway.to(CLIENT) == [
        render("sms.stop_confirm", "vi-ascii"),
        render("sms.start_confirm", "vi-ascii"),
        render("sms.help_client", "vi-ascii"),
    ]


def test_the_stop_confirmation_is_sent_even_over_the_reply_cap(client, settings, gateway):
    for _ in range(settings.auto_reply_limit_per_hour + 1):
        send(client, "HELP")
    send(client, "STOP")
    assert gateway.to(CLIENT)[-1] == render("sms.stop_confirm", "vi-ascii")


# ---------------------------------------------------------------- CLINIC and MORE


def _add_clinics(session, count: int, district="Ba Dinh") -> list[str]:
    service = session.exec(select(Service).where(Service.code == "VCT")).first()
    names = []
    for i in range(count):
        clinic = Clinic(
            name=f"Internal clinic {i}",
            display_name=f"Phong kham so {i:02d}",
            district=district,
            province="Ha Noi",
            address=f"{100 + i} Duong rat dai ten la Hoang Hoa Tham, phuong Lieu Giai",
            hours="T2-T6 7:30-16:30, T7 7:30-11:30",
        )
        session.add(clinic)
        session.flush()
        if service:
            session.add(ClinicService(clinic_id=clinic.id, service_id=service.id))
        names.append(clinic.display_name)
    session.commit()
    return names


def test_clinic_filters_by_district_with_or_without_diacritics(client, demo, gateway):
    send(client, "PK Điện Biên")
    send(client, "clinic long bien")
    first, second = gateway.to(CLIENT)
    assert "Phong kham Him Lam" in first and "Phong kham Muong Thanh" in first
    assert "Dong Da" not in first and "Long Bien" not in first
    assert "Phong kham Long Bien" in second and "Him Lam" not in second
    for text in (first, second):
        assert count_segments(text).segments <= 2
        assert_discreet(text)


def test_clinic_filters_by_service_display_name(client, demo, gateway):
    send(client, "CLINIC du phong")  # PREP's neutral display name: "Cham soc du phong"
    (text,) = gateway.to(CLIENT)
    assert "Muong Thanh" in text and "Dong Da" in text and "Him Lam" not in text


def test_clinic_never_repeats_what_the_client_typed(client, demo, gateway):
    send(client, "CLINIC HIV")
    (text,) = gateway.to(CLIENT)
    assert_discreet(text)
    assert text.startswith(render("sms.clinic_none", "vi-ascii", districts="")[:20])


@pytest.mark.parametrize("language", ["vi-ascii", "vi", "en"])
def test_clinic_pages_fit_two_segments_and_more_walks_through_all(
    client, session, demo, gateway, settings, db, language
):

    names = _add_clinics(session, 12)
    if language != "vi-ascii":
        send(client, f"LANG {language}")
        gateway.clear()
    pages = []
    send(client, "CLINIC ba dinh")
    pages += gateway.to(CLIENT)
    # the paging state is in the database: a restarted service continues
    for _ in range(20):
        gateway.clear()
        with SettledClient(create_app(settings, gateway=gateway, engine=db)) as restarted:
            send(restarted, "THEM")
        (text,) = gateway.to(CLIENT)
        if text == render("sms.clinic_end", language):
            break
        pages.append(text)
        session.execute(
            Message.__table__.delete().where(Message.__table__.c.direction == "out")
        )  # no reply cap
        session.commit()
    assert len(pages) >= 3
    for page in pages[:-1]:
        assert page.endswith(render("sms.clinic_more", language))
    assert not pages[-1].endswith(render("sms.clinic_more", language))
    for page in pages:
        assert count_segments(page).segments <= 2, page
        assert_discreet(page)
    shown = [name for name in names for page in pages if name in page]
    assert shown == names  # every clinic once, in order


def test_a_clinic_entry_names_its_district_once(client, demo, gateway):
    send(client, "PK dong da")
    send(client, "PK him lam")
    dong_da, him_lam = gateway.to(CLIENT)
    assert "108 Ton Duc Thang, Dong Da, Ha Noi. Gio:" in dong_da  # the address already names them
    assert "12 Vo Nguyen Giap, Him Lam, Dien Bien Phu. Gio:" in him_lam


def test_more_without_a_listing_says_how_to_start(client, gateway):
    send(client, "MORE")
    assert gateway.to(CLIENT) == [render("sms.more_none", "vi-ascii")]


def test_a_clinic_with_a_huge_address_is_cut_to_fit(client, session, demo, gateway):
    session.add(
        Clinic(name="x", display_name="Phong kham Xa", district="Xa Xa", address="Duong " * 30, hours="T2-T6")
    )
    session.commit()
    send(client, "PK xa xa")
    (text,) = gateway.to(CLIENT)
    assert "Phong kham Xa" in text and count_segments(text).segments <= 2


# ---------------------------------------------------------------- CODE


@pytest.mark.parametrize("text", ["4821-5093", "4821 5093", "Mã 4821 5093", "CODE 48215093"])
def test_a_code_goes_to_the_code_handler(client, session, gateway, text):
    send(client, text)
    (row,) = inbound(session)
    assert row.keyword == "CODE"
    (reply,) = gateway.to(CLIENT)
    assert reply not in (render("sms.unknown", "vi-ascii"), render("sms.help_client", "vi-ascii"))
    assert_discreet(reply)


def test_anyone_can_check_a_code_discreetly(world):
    code = issue_by_sms(world, f"REF VCT {CLIENT_LOCAL} Him Lam")
    shown = code_text.format_code(code.code)
    expected = sms_text(
        "codes.status_valid_clinic",
        code=shown,
        until="23/12/2026",
        service="Tu van suc khoe",
        clinic="Phong kham Him Lam",
        address="12 Vo Nguyen Giap, Him Lam, Dien Bien Phu",
        hours="T2-T6 7:30-16:30",
    )
    for typed in (f"CODE {shown}", f"ma {code.code}", f"{code.code[:4]} {code.code[4:]}", shown):
        text = reply(world, CLIENT, typed)
        assert text == expected
        assert_discreet(text)
    sms(world, DEMO_CLINIC_PHONE, f"RED {shown}")
    assert reply(world, CLIENT, shown) == sms_text("codes.already_redeemed", code=shown)


def test_a_code_without_clinic_points_to_any_clinic_offering_the_service(world):
    code = issue_by_sms(world, "REF MMT")
    shown = code_text.format_code(code.code)
    text = reply(world, "+84987654321", f"CODE {shown}")
    assert text == sms_text(
        "codes.status_valid_any", code=shown, until="23/12/2026", service="Cham soc dinh ky"
    )
    assert_discreet(text)


def test_too_many_wrong_codes_get_one_notice_then_silence(demo, db, database_url, frozen_clock):
    frozen_clock(NOW)
    settings = make_settings(database_url, WRONG_CODE_LIMIT_PER_HOUR=3)
    with SettledClient(create_app(settings, gateway=MemoryGateway(), engine=db)) as client:
        good = issue_by_sms(client)
        phone = "+84987654321"
        assert reply(client, phone, "CODE 4821-5093") == sms_text("codes.mistyped")  # counted all the same
        assert reply(client, phone, unknown_code()) == sms_text("codes.unknown", code=unknown_code())
        assert reply(client, phone, "RED 1234") == sms_text("sms.help_client")  # not a code attempt: no count
        assert reply(client, phone, "ma 12345") == sms_text("codes.malformed")
        assert reply(client, phone, code_text.format_code(good.code)) == sms_text("codes.throttled")
        assert sms(client, phone, code_text.format_code(good.code)) == []  # silence, even for a good code
        assert sms(client, phone, "CODE 1") == []
        assert reply(client, "+84987654322", code_text.format_code(good.code)).startswith(
            "Ma "
        )  # others unaffected
        clock.freeze(NOW + timedelta(hours=1, minutes=1))
        assert reply(client, phone, code_text.format_code(good.code)).startswith("Ma ")
        with session_of(client) as s:
            throttled = s.exec(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.detail["outcome"].as_string() == "throttled")
            ).one()
        assert throttled == 3  # every refused attempt is audited, the notice sent once
