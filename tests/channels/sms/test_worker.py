"""Referral codes by SMS, through the Africa's Talking webhook, on both
databases: workers issue (REF), void (VOID), report (REACH, STATS); clinics
redeem (RED) and book (APPT); anyone checks a code (CODE or a bare code).
Each refusal gets its own reply and changes nothing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from app import clock
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import code_text
from app.main import create_app
from app.messages import render
from app.models import (
    Appointment,
    AuditLog,
    CodeState,
    Message,
    MessageKind,
    OutreachReport,
    Redemption,
    ReferralCode,
    Reminder,
    ReminderKind,
)
from app.sending.gateways.memory import MemoryGateway
from tests.conftest import WEBHOOK_TOKEN, SettledClient, make_settings
from tests.discretion import assert_discreet

PATH = f"/webhooks/africastalking/sms?token={WEBHOOK_TOKEN}"
CLIENT = "+84912345678"
CLIENT_LOCAL = "0912345678"
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # Monday 14:00 in Hanoi
LANG = "vi-ascii"  # the default language of every phone here
_ids = itertools.count(1)


@pytest.fixture
def settings(db, database_url):
    # these tests send many messages from one phone: the auto-reply cap (its
    # own tests are in the SMS router's suite) is raised out of the way
    return make_settings(database_url, AUTO_REPLY_LIMIT_PER_HOUR=100)


@pytest.fixture
def world(demo, client, frozen_clock):
    frozen_clock(NOW)
    return client


def sms(client, phone: str, text: str) -> list[str]:
    """Send `text` from `phone` through the webhook; the replies to it."""
    r = client.post(
        PATH,
        data={
            "from": phone,
            "to": "8088",
            "text": text,
            "date": "2026-11-23 14:00:00",
            "id": f"ATXid_{next(_ids)}",
        },
    )
    assert r.status_code == 200, r.text
    with Session(client.app.state.engine) as s:
        rows = s.exec(
            select(Message).where(Message.in_reply_to == r.json()["message_id"]).order_by(Message.id)
        )
        return [m.text for m in rows]


def reply(client, phone: str, text: str) -> str:
    replies = sms(client, phone, text)
    assert len(replies) == 1, replies
    return replies[0]


def t(key: str, **values) -> str:
    return render(key, LANG, **values)


def open_db(client) -> Session:
    return Session(client.app.state.engine)


def count(client, model, *where) -> int:
    with open_db(client) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def last_code(client) -> ReferralCode:
    with open_db(client) as s:
        return s.exec(select(ReferralCode).order_by(ReferralCode.id.desc())).first()


def notifications_to(client, phone: str) -> list[Message]:
    with open_db(client) as s:
        return list(
            s.exec(
                select(Message)
                .where(Message.phone == phone, Message.kind == MessageKind.notification)
                .order_by(Message.id)
            )
        )


def state_of(client, code: ReferralCode) -> str:
    with open_db(client) as s:
        return s.get(ReferralCode, code.id).state


def snapshot(client) -> tuple:
    return tuple(count(client, m) for m in (ReferralCode, Redemption, Appointment, OutreachReport)) + (
        tuple(c.state for c in _codes(client)),
    )


def _codes(client):
    with open_db(client) as s:
        return list(s.exec(select(ReferralCode).order_by(ReferralCode.id)))


def issue(client, text=f"REF VCT {CLIENT_LOCAL}") -> ReferralCode:
    sms(client, DEMO_WORKER_PHONE, text)
    return last_code(client)


# ---------------------------------------------------------------- REF


def test_ref_gives_the_worker_a_code_and_the_client_a_discreet_sms(world, gateway):
    text = reply(world, DEMO_WORKER_PHONE, f"REF VCT {CLIENT_LOCAL}")
    code = last_code(world)
    shown = code_text.format_code(code.code)
    assert text == t("codes.issued_sent", code=shown, service="VCT", until="23/12/2026", phone="+8491****678")
    assert code.client_phone == CLIENT and code.state == CodeState.issued
    [to_client] = notifications_to(world, CLIENT)
    assert to_client.text == t(
        "codes.client_issued_any", code=shown, until="23/12/2026", service="Tu van suc khoe"
    )
    assert_discreet(to_client.text)
    assert "VCT" not in to_client.text
    # sent with the reply, right after the webhook answered (not at the next tick)
    assert gateway.to(CLIENT) == [to_client.text]
    assert gateway.to(DEMO_WORKER_PHONE) == [text]
    assert count(world, Reminder, Reminder.kind == ReminderKind.code_expiry) == 1


def test_ref_with_a_spaced_phone_and_a_clinic_name_names_the_clinic(world):
    text = reply(world, DEMO_WORKER_PHONE, "gt vct 0912 345 678 him lam")
    code = last_code(world)
    assert code_text.format_code(code.code) in text
    [to_client] = notifications_to(world, CLIENT)
    assert "Phong kham Him Lam" in to_client.text and "12 Vo Nguyen Giap" in to_client.text
    assert_discreet(to_client.text)


@pytest.mark.parametrize("text", ["Gt, Vct, 0912345678.", "REF: vct; 0912 345 678; Him Lam!"])
def test_ref_tolerates_commas_and_punctuation_around_its_words(world, text):
    answer = reply(world, DEMO_WORKER_PHONE, text)
    code = last_code(world)
    assert code is not None and code.client_phone == CLIENT
    shown = code_text.format_code(code.code)
    assert answer == t(
        "codes.issued_sent", code=shown, service="VCT", until="23/12/2026", phone="+8491****678"
    )


def test_ref_without_a_client_phone_and_with_a_clinic_number(world):
    with open_db(world) as s:
        from app.models import Clinic

        dong_da = s.exec(select(Clinic).where(Clinic.display_name == "Phong kham Dong Da")).one()
    text = reply(world, DEMO_WORKER_PHONE, f"REF PREP {dong_da.id}")
    code = last_code(world)
    assert code.client_phone is None and code.clinic_id == dong_da.id
    assert text == t("codes.issued", code=code_text.format_code(code.code), service="PREP", until="23/12/2026")


def test_ref_to_an_opted_out_client_tells_the_worker_to_hand_it_over(world):
    reply(world, CLIENT, "STOP")
    text = reply(world, DEMO_WORKER_PHONE, f"REF VCT {CLIENT_LOCAL}")
    code = last_code(world)
    assert text.startswith(
        t("codes.issued", code=code_text.format_code(code.code), service="VCT", until="23/12/2026")[:40]
    )
    assert text == t(
        "codes.issued_not_sent",
        code=code_text.format_code(code.code),
        service="VCT",
        until="23/12/2026",
        phone="+8491****678",
    )
    assert [m.status for m in notifications_to(world, CLIENT)] == ["skipped"]


@pytest.mark.parametrize(
    "text, key, values",
    [
        ("REF XYZ", "codes.unknown_service", {"service": "XYZ", "services": "VCT MMT STI PREP"}),
        ("REF VCT 0912 345", "codes.bad_client_phone", {}),
        ("REF VCT 091234567", "codes.bad_client_phone", {}),
        ("REF VCT 0912345678 Sapa", "codes.unknown_clinic", {"clinic": "Sapa"}),
        (
            "REF STI 0912345678 him lam",
            "codes.not_offered",
            {"clinic": "Phong kham Him Lam", "service": "STI"},
        ),
        ("REF", "codes.ref_usage", {"services": "VCT MMT STI PREP"}),
    ],
)
def test_bad_ref_input_gets_a_clear_reply_and_issues_nothing(world, text, key, values):
    assert reply(world, DEMO_WORKER_PHONE, text) == t(key, **values)
    assert count(world, ReferralCode) == 0
    assert notifications_to(world, CLIENT) == []


def test_ref_from_a_client_gets_the_client_help_and_issues_nothing(world):
    assert reply(world, CLIENT, "REF VCT 0987654321") == t("sms.help_client")
    assert reply(world, DEMO_CLINIC_PHONE, "REF VCT") == t("sms.help_clinic")
    assert count(world, ReferralCode) == 0


# ---------------------------------------------------------------- RED


def test_red_redeems_and_tells_the_worker_without_the_client_number(world):
    code = issue(world)
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == t("codes.redeemed", code=shown, service="VCT")
    assert state_of(world, code) == CodeState.redeemed
    with open_db(world) as s:
        redemption = s.exec(select(Redemption)).one()
    assert redemption.channel == "sms" and redemption.actor == f"phone:{DEMO_CLINIC_PHONE}"
    assert redemption.redeemed_at == NOW
    told = notifications_to(world, DEMO_WORKER_PHONE)
    assert len(told) == 1 and shown in told[0].text and "Phong kham Him Lam" in told[0].text
    assert "912" not in told[0].text.replace(shown, "")


def test_second_red_of_a_code_is_already_used(world):
    code = issue(world)
    sms(world, DEMO_CLINIC_PHONE, f"XN {code.code}")
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == t("codes.already_redeemed", code=shown)
    assert count(world, Redemption) == 1
    assert len(notifications_to(world, DEMO_WORKER_PHONE)) == 1


def test_an_expired_code_is_refused_even_before_it_is_marked(world):
    code = issue(world)
    clock.freeze(code.expires_at + timedelta(seconds=1))
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == t("codes.expired", code=shown)
    assert reply(world, CLIENT, shown) == t("codes.expired", code=shown)
    assert state_of(world, code) == CodeState.issued and count(world, Redemption) == 0


def test_a_voided_code_is_refused(world):
    code = issue(world)
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_WORKER_PHONE, f"HUYMA {shown}") == t("codes.voided_done", code=shown)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == t("codes.voided", code=shown)
    assert reply(world, DEMO_WORKER_PHONE, f"VOID {shown}") == t("codes.voided", code=shown)
    assert state_of(world, code) == CodeState.voided and count(world, Redemption) == 0


def test_only_the_issuing_worker_can_void(world):
    code = issue(world)
    from app.models import Worker

    with open_db(world) as s:
        s.add(Worker(name="Second worker", phone="+84900000011"))
        s.commit()
    shown = code_text.format_code(code.code)
    assert reply(world, "+84900000011", f"VOID {shown}") == t("codes.not_issuer", code=shown)
    assert state_of(world, code) == CodeState.issued


def unknown_code() -> str:
    body = "0000001"
    return code_text.format_code(body + code_text.damm.calc_check_digit(body))


def test_unknown_and_malformed_codes_get_their_own_replies(world):
    shown = unknown_code()
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == t("codes.unknown", code=shown)
    assert reply(world, DEMO_CLINIC_PHONE, "RED 4821-5093") == t("codes.malformed")  # wrong check digit
    with open_db(world) as s:
        outcomes = [
            a.detail["outcome"] for a in s.exec(select(AuditLog).where(AuditLog.action == "code.redeem"))
        ]
    assert outcomes == ["unknown", "malformed"]


def test_a_code_for_a_service_the_clinic_does_not_offer(world):
    code = issue(world, f"REF STI {CLIENT_LOCAL}")  # Him Lam offers VCT and MMT
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == t(
        "codes.not_offered", clinic="Phong kham Him Lam", service="STI"
    )
    assert state_of(world, code) == CodeState.issued


def test_red_from_a_client_or_worker_gets_their_help_and_redeems_nothing(world):
    code = issue(world)
    assert reply(world, CLIENT, f"RED {code.code}") == t("sms.help_client")
    assert reply(world, DEMO_WORKER_PHONE, f"RED {code.code}") == t("sms.help_worker")
    assert state_of(world, code) == CodeState.issued


@pytest.mark.parametrize("typed", ["4821-59A3", "4821593", "482159331", "4821-5934", "RED"])
def test_bad_codes_get_the_malformed_reply_and_change_nothing(world, typed):
    code = issue(world)
    before = snapshot(world)
    text = reply(world, DEMO_CLINIC_PHONE, f"RED {typed}" if typed != "RED" else "RED")
    assert text == (t("codes.red_usage") if typed == "RED" else t("codes.malformed"))
    assert snapshot(world) == before and state_of(world, code) == CodeState.issued


# ---------------------------------------------------------------- CODE


def test_anyone_can_check_a_code_discreetly(world):
    code = issue(world, f"REF VCT {CLIENT_LOCAL} Him Lam")
    shown = code_text.format_code(code.code)
    expected = t(
        "codes.status_valid_clinic",
        code=shown,
        until="23/12/2026",
        service="Tu van suc khoe",
        clinic="Phong kham Him Lam",
        address="12 Vo Nguyen Giap, Him Lam",
        hours="T2-T6 7:30-16:30",
    )
    for typed in (f"CODE {shown}", f"ma {code.code}", f"{code.code[:4]} {code.code[4:]}", shown):
        text = reply(world, CLIENT, typed)
        assert text == expected
        assert_discreet(text)
    sms(world, DEMO_CLINIC_PHONE, f"RED {shown}")
    assert reply(world, CLIENT, shown) == t("codes.already_redeemed", code=shown)


def test_a_code_without_clinic_points_to_any_clinic_offering_the_service(world):
    code = issue(world, "REF MMT")
    shown = code_text.format_code(code.code)
    text = reply(world, "+84987654321", f"CODE {shown}")
    assert text == t("codes.status_valid_any", code=shown, until="23/12/2026", service="Cham soc dinh ky")
    assert_discreet(text)


def test_too_many_wrong_codes_get_one_notice_then_silence(demo, db, database_url, frozen_clock):
    frozen_clock(NOW)
    settings = make_settings(database_url, WRONG_CODE_LIMIT_PER_HOUR=3)
    with SettledClient(create_app(settings, gateway=MemoryGateway(), engine=db)) as client:
        good = issue(client)
        phone = "+84987654321"
        assert reply(client, phone, "CODE 4821-5093") == t("codes.malformed")
        assert reply(client, phone, unknown_code()) == t("codes.unknown", code=unknown_code())
        assert reply(client, phone, "RED 1234") == t("sms.help_client")  # not a code attempt: no count
        assert reply(client, phone, "ma 12345") == t("codes.malformed")
        assert reply(client, phone, code_text.format_code(good.code)) == t("codes.throttled")
        assert sms(client, phone, code_text.format_code(good.code)) == []  # silence, even for a good code
        assert sms(client, phone, "CODE 1") == []
        assert reply(client, "+84987654322", code_text.format_code(good.code)).startswith(
            "Ma "
        )  # others unaffected
        clock.freeze(NOW + timedelta(hours=1, minutes=1))
        assert reply(client, phone, code_text.format_code(good.code)).startswith("Ma ")
        with open_db(client) as s:
            throttled = s.exec(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.detail["outcome"].as_string() == "throttled")
            ).one()
        assert throttled == 3  # every refused attempt is audited, the notice sent once


# ---------------------------------------------------------------- REACH and STATS


def test_reach_is_stored_and_a_second_one_the_same_day_replaces_it(world):
    assert reply(world, DEMO_WORKER_PHONE, "REACH 12 30") == t(
        "codes.reach_done", day="23/11/2026", people=12, condoms=30
    )
    assert reply(world, DEMO_WORKER_PHONE, "tiepcan 15") == t(
        "codes.reach_done", day="23/11/2026", people=15, condoms=0
    )
    with open_db(world) as s:
        [report] = s.exec(select(OutreachReport)).all()
    assert (report.people_reached, report.condoms) == (15, 0)
    assert reply(world, DEMO_WORKER_PHONE, "REACH many") == t("codes.reach_usage")
    assert reply(world, DEMO_WORKER_PHONE, "REACH 1000000") == t("codes.bad_count", max=100000)
    assert reply(world, CLIENT, "REACH 3") == t("sms.help_client")
    assert count(world, OutreachReport) == 1


def test_stats_counts_this_month(world):
    a = issue(world)
    issue(world, "REF MMT")
    sms(world, DEMO_CLINIC_PHONE, f"RED {a.code}")
    sms(world, DEMO_WORKER_PHONE, "REACH 7 20")
    assert reply(world, DEMO_WORKER_PHONE, "TK") == t(
        "codes.stats", month="11/2026", issued=2, redeemed=1, people=7, condoms=20
    )


# ---------------------------------------------------------------- clinic APPT


def test_appt_books_the_client_and_hands_it_to_the_reminders(world):
    code = issue(world)
    shown = code_text.format_code(code.code)
    text = reply(world, DEMO_CLINIC_PHONE, f"HEN {shown} 25-12 14h")
    assert text == t("codes.booked", code=shown, date="25/12/2026", time="14:00")
    with open_db(world) as s:
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
    code = issue(world)
    assert reply(world, DEMO_CLINIC_PHONE, f"APPT {code.code[:4]} {code.code[4:]} 25/12") == t(
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
    code = issue(world)
    assert reply(world, DEMO_CLINIC_PHONE, f"APPT {code.code} {when}") == t(key, date=when)
    assert count(world, Appointment) == 0


def test_appt_bad_input(world):
    code = issue(world, "REF VCT")
    assert reply(world, DEMO_CLINIC_PHONE, f"APPT {code.code}") == t("codes.appt_usage")
    assert reply(world, DEMO_CLINIC_PHONE, "APPT 4821-5093 25/12") == t("codes.malformed")
    assert reply(world, DEMO_CLINIC_PHONE, f"APPT {code.code} 25/12") == t(
        "codes.no_client_phone", code=code_text.format_code(code.code)
    )
    assert count(world, Appointment) == 0


def test_every_code_reply_is_in_the_callers_language(world):
    sms(world, DEMO_WORKER_PHONE, "LANG en")
    text = reply(world, DEMO_WORKER_PHONE, "REF XYZ")
    assert text == render("codes.unknown_service", "en", service="XYZ", services="VCT MMT STI PREP")
