"""The SMS keywords of outreach workers (`app.channels.sms.worker`) through
the webhook, on both databases: REF issues a code, VOID voids it, REACH
and STATS report. Each refusal gets its own reply and changes nothing.
And the pure word splitting of REF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import select

from app.channels.sms.worker import new_code_words, ref_words, split_phone_and_clinic
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import code_text
from app.domain.errors import InvalidPhone
from app.domain.outreach import MAX_REACH_CONDOMS, MAX_REACH_PEOPLE
from app.messages import count_segments, languages, render
from app.models import CodeState, OutreachReport, Redemption, ReferralCode, Reminder, ReminderKind, Worker
from tests.discretion import assert_discreet
from tests.factories import (
    CLIENT,
    CLIENT_LOCAL,
    NOW,
    audit_actions,
    audits,
    clinic_named,
    code_state,
    count_in,
    demo_worker,
    issue_by_sms,
    last_code,
    notifications_to,
    reply,
    session_of,
    sms,
    sms_text,
    unknown_code,
)

OTHER_WORKER = "+84900000011"

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


# ---------------------------------------------------------------- REF again: one valid code per client and service


def _resent(code: ReferralCode, key: str = "codes.resent_sent") -> str:
    shown = code_text.format_code(code.code)
    return sms_text(key, code=shown, service="VCT", until="23/12/2026", phone="+8491****678")


def test_ref_again_for_the_same_client_and_service_resends_the_valid_code(world, gateway):
    first = issue_by_sms(world)
    answer = reply(world, DEMO_WORKER_PHONE, "GT vct 0912 345 678")
    assert answer == _resent(first)
    assert_discreet(answer)
    assert count_in(world, ReferralCode) == 1 and last_code(world).id == first.id
    original, again = notifications_to(world, CLIENT)
    assert again.text == original.text and code_text.format_code(first.code) in again.text
    assert gateway.to(CLIENT) == [original.text, again.text]
    with session_of(world) as s:
        assert audit_actions(s, "referral_code") == ["code.issue", "code.resend"]
    assert count_in(world, Reminder, Reminder.kind == ReminderKind.code_expiry) == 1


def test_another_worker_referring_the_client_gets_the_code_resent_and_it_stays_the_first_workers(world):
    first = issue_by_sms(world)
    with session_of(world) as s:
        s.add(Worker(name="Second worker", phone=OTHER_WORKER))
        s.commit()
    assert reply(world, OTHER_WORKER, f"REF VCT {CLIENT_LOCAL}") == _resent(first)
    assert count_in(world, ReferralCode) == 1
    with session_of(world) as s:
        assert s.get(ReferralCode, first.id).worker_id == demo_worker(s).id
    assert reply(world, DEMO_WORKER_PHONE, "TK") == sms_text(
        "codes.stats", month="11/2026", issued=1, redeemed=0, people=0, condoms=0
    )


@pytest.mark.parametrize(
    "text", [f"REF VCT {CLIENT_LOCAL} MOI", f"gt vct {CLIENT_LOCAL} mới", f"REF VCT {CLIENT_LOCAL} new."]
)
def test_moi_or_new_at_the_end_voids_the_valid_code_and_issues_a_new_one(world, text):
    old = issue_by_sms(world)
    answer = reply(world, DEMO_WORKER_PHONE, text)
    new = last_code(world)
    assert new.id != old.id and count_in(world, ReferralCode) == 2
    assert answer == sms_text(
        "codes.issued_sent",
        code=code_text.format_code(new.code),
        service="VCT",
        until="23/12/2026",
        phone="+8491****678",
    )
    assert code_state(world, old) == CodeState.voided and code_state(world, new) == CodeState.issued
    with session_of(world) as s:
        [voided] = audits(s, "code.void")
    assert voided.entity_id == str(old.id) and voided.detail["replaced_by"] == new.id
    assert code_text.format_code(new.code) in notifications_to(world, CLIENT)[-1].text
    shown = code_text.format_code(old.code)
    assert reply(world, DEMO_CLINIC_PHONE, f"RED {shown}") == sms_text("codes.voided", code=shown)


def test_moi_with_a_clinic_name_names_the_clinic_of_the_new_code(world):
    old = issue_by_sms(world)
    reply(world, DEMO_WORKER_PHONE, f"REF VCT {CLIENT_LOCAL} him lam MOI")
    new = last_code(world)
    with session_of(world) as s:
        assert new.id != old.id and new.clinic_id == clinic_named(s).id


def test_another_service_gets_its_own_code(world):
    vct = issue_by_sms(world)
    answer = reply(world, DEMO_WORKER_PHONE, f"REF MMT {CLIENT_LOCAL}")
    mmt = last_code(world)
    assert mmt.id != vct.id and count_in(world, ReferralCode) == 2
    until = code_text.valid_until_text(mmt, world.app.state.settings.tz)
    shown = code_text.format_code(mmt.code)
    assert answer == sms_text(
        "codes.issued_sent", code=shown, service="MMT", until=until, phone="+8491****678"
    )
    assert code_state(world, vct) == CodeState.issued


@pytest.mark.parametrize("end", ["redeemed", "voided", "expired"])
def test_a_code_no_longer_valid_is_not_resent_a_new_one_is_issued(world, frozen_clock, end):
    old = issue_by_sms(world)
    shown = code_text.format_code(old.code)
    if end == "redeemed":
        sms(world, DEMO_CLINIC_PHONE, f"RED {shown}")
    elif end == "voided":
        sms(world, DEMO_WORKER_PHONE, f"VOID {shown}")
    else:
        frozen_clock(NOW + timedelta(days=31))  # past 23/12/2026, not yet marked expired
    answer = reply(world, DEMO_WORKER_PHONE, f"REF VCT {CLIENT_LOCAL}")
    new = last_code(world)
    # a redeemed code gave its client three peer coupons (demo VCT): count the worker's codes
    assert new.id != old.id and count_in(world, ReferralCode, ReferralCode.wave == 0) == 2
    assert code_text.format_code(new.code) in answer and shown not in answer


def test_resending_to_a_client_who_stopped_messages_tells_the_worker_it_was_not_sent(world):
    first = issue_by_sms(world)
    reply(world, CLIENT, "STOP")
    assert reply(world, DEMO_WORKER_PHONE, f"REF VCT {CLIENT_LOCAL}") == _resent(
        first, "codes.resent_not_sent"
    )
    assert [m.status for m in notifications_to(world, CLIENT)] == ["sent", "skipped"]
    assert count_in(world, ReferralCode) == 1


def test_ref_without_a_client_phone_always_issues_a_new_code(world):
    issue_by_sms(world, "REF VCT")
    issue_by_sms(world, "REF VCT MOI")
    assert count_in(world, ReferralCode) == 2


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
    with session_of(world) as s:
        s.add(Worker(name="Second worker", phone="+84900000011"))
        s.commit()
    shown = code_text.format_code(code.code)
    # answered as a code that does not exist: VOID never tells whether a code exists
    assert reply(world, "+84900000011", f"VOID {shown}") == sms_text("codes.unknown", code=shown)
    assert code_state(world, code) == CodeState.issued
    with session_of(world) as s:
        guesses = audits(s, "code.attempt")
    assert [a.detail["outcome"] for a in guesses] == ["not_issuer"]
    assert guesses[0].actor == "phone:+84900000011"


def test_void_guesses_count_toward_the_wrong_code_limit(world):
    code = issue_by_sms(world)
    shown = code_text.format_code(code.code)
    for _ in range(9):
        assert reply(world, DEMO_WORKER_PHONE, f"VOID {unknown_code()}") == sms_text(
            "codes.unknown", code=unknown_code()
        )
    # the tenth wrong code in the hour reaches the limit
    assert reply(world, DEMO_WORKER_PHONE, f"VOID {unknown_code()}") == sms_text("codes.throttled")
    # the worker's own valid code still goes through
    assert reply(world, DEMO_WORKER_PHONE, f"VOID {shown}") == sms_text("codes.voided_done", code=shown)


# ---------------------------------------------------------------- REACH and STATS


def test_reach_reports_of_a_day_add_up_and_the_reply_gives_the_days_totals(world):
    assert reply(world, DEMO_WORKER_PHONE, "REACH 12 30") == sms_text(
        "codes.reach_done", day="23/11/2026", people=12, condoms=30
    )
    assert reply(world, DEMO_WORKER_PHONE, "tiepcan 15") == sms_text(
        "codes.reach_added", day="23/11/2026", people=15, condoms=0, total_people=27, total_condoms=30
    )
    with session_of(world) as s:
        [report] = s.exec(select(OutreachReport)).all()
    assert (report.people_reached, report.condoms) == (27, 30)
    assert reply(world, DEMO_WORKER_PHONE, "TK") == sms_text(
        "codes.stats", month="11/2026", issued=0, redeemed=0, people=27, condoms=30
    )
    assert reply(world, DEMO_WORKER_PHONE, "REACH many") == sms_text("codes.reach_usage")
    assert reply(world, CLIENT, "REACH 3") == sms_text("sms.help_client")
    assert count_in(world, OutreachReport) == 1


BAD_COUNT = {"people": MAX_REACH_PEOPLE, "condoms": MAX_REACH_CONDOMS}


@pytest.mark.parametrize(
    "text",
    [
        "REACH -5",
        "REACH 5 -3",
        "TIEPCAN - 5",
        "REACH \u22125",
        "REACH 10001",
        "REACH 5 100001",
        "REACH " + "9" * 5000,
    ],
)
def test_negative_and_too_large_reach_counts_get_the_counts_reply_and_record_nothing(world, text):
    assert reply(world, DEMO_WORKER_PHONE, text) == sms_text("codes.bad_count", **BAD_COUNT)
    assert count_in(world, OutreachReport) == 0


def test_reach_at_the_maxima_is_recorded(world):
    assert reply(world, DEMO_WORKER_PHONE, f"REACH {MAX_REACH_PEOPLE} {MAX_REACH_CONDOMS}") == sms_text(
        "codes.reach_done", day="23/11/2026", people=MAX_REACH_PEOPLE, condoms=MAX_REACH_CONDOMS
    )


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    args=st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
    | st.from_regex(r"-?[0-9]{1,12}( -?[0-9]{1,12})?", fullmatch=True)
)
def test_reach_with_any_text_gets_one_reply_within_two_segments(world, args):
    answer = reply(world, DEMO_WORKER_PHONE, f"REACH {args}")
    assert answer != sms_text("error.generic")
    assert count_segments(answer).segments <= 2, answer


def test_stats_counts_this_month(world):
    a = issue_by_sms(world)
    issue_by_sms(world, "REF MMT")
    sms(world, DEMO_CLINIC_PHONE, f"RED {a.code}")
    sms(world, DEMO_WORKER_PHONE, "REACH 7 20")
    # the client's three peer coupons (demo VCT) count apart from the worker's own codes
    assert reply(world, DEMO_WORKER_PHONE, "TK") == sms_text(
        "coupons.stats",
        month="11/2026",
        issued=2,
        redeemed=1,
        people=7,
        condoms=20,
        given=3,
        returned=0,
        peers=0,
    )


# ---------------------------------------------------------------- the new replies' length


_LONGEST = dict(
    code="4821-5093", service="S" * 16, until="23/12/2026", phone="+8491****678", day="23/11/2026"
)
_LONGEST.update(people=10_000, condoms=100_000, total_people=99_999, total_condoms=999_999)


@pytest.mark.parametrize("language", languages())
@pytest.mark.parametrize(
    "key", ["codes.resent_sent", "codes.resent_not_sent", "codes.reach_added", "codes.bad_count"]
)
def test_the_resend_and_reach_replies_fit_two_segments_and_vi_ascii_one(language, key):
    text = render(key, language, **_LONGEST)  # a 16-letter service code, the longest counts
    assert count_segments(text).segments <= (1 if language == "vi-ascii" else 2), text
    assert_discreet(text)


def test_every_catalogue_has_words_asking_for_a_new_code():
    assert {"MOI", "NEW"} <= new_code_words()


# ---------------------------------------------------------------- MEET and population groups


def test_meet_records_one_group_meeting_each_time(world):
    from app.models import GroupMeeting

    first = reply(world, DEMO_WORKER_PHONE, "NHOM 12")
    assert first == sms_text("codes.meet_done", day="23/11/2026", participants=12, meetings=1, total=12)
    assert reply(world, DEMO_WORKER_PHONE, "HOPNHOM 8") == sms_text(
        "codes.meet_done", day="23/11/2026", participants=8, meetings=2, total=20
    )
    with session_of(world) as s:
        assert sorted(m.participants for m in s.exec(select(GroupMeeting))) == [8, 12]


@pytest.mark.parametrize("text", ["MEET", "MEET abc", "MEET 3 4", "MEET -5", "MEET 0", "MEET " + "9" * 5000])
def test_meet_refuses_what_is_not_one_attendance(world, text):
    from app.models import GroupMeeting

    answer = reply(world, DEMO_WORKER_PHONE, text)
    assert answer in (sms_text("codes.meet_usage"), sms_text("codes.bad_participants", most=500))
    assert count_in(world, GroupMeeting) == 0


def test_a_referral_may_carry_a_population_group_tag(world):
    reply(world, DEMO_WORKER_PHONE, f"GT VCT {CLIENT_LOCAL} bt")
    code = last_code(world)
    assert code.population_group == "BT" and code.client_phone == CLIENT
    # a word that is no tag is read as before (a clinic here)
    reply(world, DEMO_WORKER_PHONE, "GT VCT 0912000777 Him Lam")
    assert last_code(world).population_group is None and last_code(world).clinic_id is not None
