"""The SMS keywords of outreach workers (`app.channels.sms.worker`) through
the webhook, on both databases: REF issues a code, VOID voids it, REACH
and STATS report. Each refusal gets its own reply and changes nothing.
And the pure word splitting of REF."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.channels.sms.worker import ref_words, split_phone_and_clinic
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import code_text
from app.domain.errors import InvalidPhone
from app.messages import render
from app.models import CodeState, OutreachReport, Redemption, ReferralCode, Reminder, ReminderKind
from tests.discretion import assert_discreet
from tests.factories import (
    CLIENT,
    CLIENT_LOCAL,
    clinic_named,
    code_state,
    count_in,
    issue_by_sms,
    last_code,
    notifications_to,
    reply,
    session_of,
    sms,
    sms_text,
)

# ---------------------------------------------------------------- REF


def test_ref_gives_the_worker_a_code_and_the_client_a_discreet_sms(world, gateway):
    text = reply(world, DEMO_WORKER_PHONE, f"REF VCT {CLIENT_LOCAL}")
    code = last_code(world)
    shown = code_text.format_code(code.code)
    assert text == sms_text(
        "codes.issued_sent", code=shown, service="VCT", until="23/12/2026", phone="+8491****678"
    )
    assert code.client_phone == CLIENT and code.state == CodeState.issued
    [to_client] = notifications_to(world, CLIENT)
    assert to_client.text == sms_text(
        "codes.client_issued_any", code=shown, until="23/12/2026", service="Tu van suc khoe"
    )
    assert_discreet(to_client.text)
    assert "VCT" not in to_client.text
    # sent with the reply, right after the webhook answered (not at the next tick)
    assert gateway.to(CLIENT) == [to_client.text]
    assert gateway.to(DEMO_WORKER_PHONE) == [text]
    assert count_in(world, Reminder, Reminder.kind == ReminderKind.code_expiry) == 1


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
    assert answer == sms_text(
        "codes.issued_sent", code=shown, service="VCT", until="23/12/2026", phone="+8491****678"
    )


def test_ref_without_a_client_phone_and_with_a_clinic_number(world):
    with session_of(world) as s:
        dong_da = clinic_named(s, "Phong kham Dong Da")
    text = reply(world, DEMO_WORKER_PHONE, f"REF PREP {dong_da.id}")
    code = last_code(world)
    assert code.client_phone is None and code.clinic_id == dong_da.id
    assert text == sms_text(
        "codes.issued", code=code_text.format_code(code.code), service="PREP", until="23/12/2026"
    )


def test_ref_to_an_opted_out_client_tells_the_worker_to_hand_it_over(world):
    reply(world, CLIENT, "STOP")
    text = reply(world, DEMO_WORKER_PHONE, f"REF VCT {CLIENT_LOCAL}")
    code = last_code(world)
    assert text.startswith(
        sms_text("codes.issued", code=code_text.format_code(code.code), service="VCT", until="23/12/2026")[
            :40
        ]
    )
    assert text == sms_text(
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
    assert reply(world, DEMO_WORKER_PHONE, text) == sms_text(key, **values)
    assert count_in(world, ReferralCode) == 0
    assert notifications_to(world, CLIENT) == []


def test_ref_from_a_client_gets_the_client_help_and_issues_nothing(world):
    assert reply(world, CLIENT, "REF VCT 0987654321") == sms_text("sms.help_client")
    assert reply(world, DEMO_CLINIC_PHONE, "REF VCT") == sms_text("sms.help_clinic")
    assert count_in(world, ReferralCode) == 0


def test_every_code_reply_is_in_the_callers_language(world):
    sms(world, DEMO_WORKER_PHONE, "LANG en")
    text = reply(world, DEMO_WORKER_PHONE, "REF XYZ")
    assert text == render("codes.unknown_service", "en", service="XYZ", services="VCT MMT STI PREP")


# ---------------------------------------------------------------- REF's words


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ("Vct, 0912345678.", ["Vct", "0912345678"]),
        ("vct; 0912 345 678; Him Lam!", ["vct", "0912", "345", "678", "Him", "Lam"]),
        (" , ; ", []),
        ("", []),
    ],
)
def test_ref_words_drop_commas_and_the_punctuation_around_words(args, words):
    assert ref_words(args) == words


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["0912", "345", "678", "him", "lam"], ("+84912345678", "him lam")),
        (["+84912345678"], ("+84912345678", "")),
        (["0912345678", "3"], ("+84912345678", "3")),
        (["12"], (None, "12")),  # a short number alone: a clinic number
        (["Him", "Lam"], (None, "Him Lam")),
        ([], (None, "")),
    ],
)
def test_the_longest_leading_phone_then_the_clinic(words, expected):
    assert split_phone_and_clinic(words, "VN") == expected


@pytest.mark.parametrize("words", [["0912", "345"], ["091234567"], ["1234567"]])
def test_leading_numbers_that_are_not_a_phone_are_an_invalid_phone(words):
    with pytest.raises(InvalidPhone):
        split_phone_and_clinic(words, "VN")


# ---------------------------------------------------------------- VOID


def test_a_voided_code_is_refused(world):
    code = issue_by_sms(world)
    shown = code_text.format_code(code.code)
    assert reply(world, DEMO_WORKER_PHONE, f"HUYMA {shown}") == sms_text("codes.voided_done", code=shown)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == sms_text("codes.voided", code=shown)
    assert reply(world, DEMO_WORKER_PHONE, f"VOID {shown}") == sms_text("codes.voided", code=shown)
    assert code_state(world, code) == CodeState.voided and count_in(world, Redemption) == 0


def test_only_the_issuing_worker_can_void(world):
    code = issue_by_sms(world)
    from app.models import Worker

    with session_of(world) as s:
        s.add(Worker(name="Second worker", phone="+84900000011"))
        s.commit()
    shown = code_text.format_code(code.code)
    assert reply(world, "+84900000011", f"VOID {shown}") == sms_text("codes.not_issuer", code=shown)
    assert code_state(world, code) == CodeState.issued


# ---------------------------------------------------------------- REACH and STATS


def test_reach_is_stored_and_a_second_one_the_same_day_replaces_it(world):
    assert reply(world, DEMO_WORKER_PHONE, "REACH 12 30") == sms_text(
        "codes.reach_done", day="23/11/2026", people=12, condoms=30
    )
    assert reply(world, DEMO_WORKER_PHONE, "tiepcan 15") == sms_text(
        "codes.reach_done", day="23/11/2026", people=15, condoms=0
    )
    with session_of(world) as s:
        [report] = s.exec(select(OutreachReport)).all()
    assert (report.people_reached, report.condoms) == (15, 0)
    assert reply(world, DEMO_WORKER_PHONE, "REACH many") == sms_text("codes.reach_usage")
    assert reply(world, DEMO_WORKER_PHONE, "REACH 1000000") == sms_text("codes.bad_count", max=100000)
    assert reply(world, CLIENT, "REACH 3") == sms_text("sms.help_client")
    assert count_in(world, OutreachReport) == 1


def test_stats_counts_this_month(world):
    a = issue_by_sms(world)
    issue_by_sms(world, "REF MMT")
    sms(world, DEMO_CLINIC_PHONE, f"RED {a.code}")
    sms(world, DEMO_WORKER_PHONE, "REACH 7 20")
    assert reply(world, DEMO_WORKER_PHONE, "TK") == sms_text(
        "codes.stats", month="11/2026", issued=2, redeemed=1, people=7, condoms=20
    )
