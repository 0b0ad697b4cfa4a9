"""USSD menus, driven through the Africa's Talking webhook on both databases:
what a phone shows at every step (CON/END, at most 182 characters, plain
ASCII, discreet), the flows of each role, navigation and bad input."""

from __future__ import annotations

import re
from collections import deque
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlmodel import select

from app import clock
from app.channels.ussd.clinic import keypad_datetime
from app.channels.ussd.screens import MAX_REPLY, NOTICE_KEYS, to_ascii, ussd_language
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import code_text, codes, people
from app.messages import languages, render
from app.models import (
    Appointment,
    Channel,
    Clinic,
    Message,
    MessageStatus,
    Person,
    Redemption,
    ReferralCode,
    Worker,
)
from tests.conftest import WEBHOOK_TOKEN, SettledClient
from tests.discretion import assert_discreet

PATH = "/webhooks/africastalking/ussd"
CLIENT = "+84912345678"
CLIENT_LOCAL = "0912345678"
OTHER_CLIENT_LOCAL = "0987654321"
SERVICE_CODE = "*384*123#"


def post(client, form: dict, token: str | None = WEBHOOK_TOKEN):
    headers = {"X-Webhook-Token": token} if token else {}
    return client.post(PATH, data=form, headers=headers)


def dial(client, phone: str, *answers: str) -> str:
    """One step of a session whose answers so far are `answers`: the screen."""
    r = post(
        client,
        {
            "sessionId": "ATUid_test",
            "serviceCode": SERVICE_CODE,
            "phoneNumber": phone,
            "text": "*".join(answers),
            "networkCode": "45204",
        },
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert_screen(r.text)
    return r.text


def assert_screen(text: str) -> None:
    assert text.startswith(("CON ", "END ")), text
    assert len(text) <= MAX_REPLY, (len(text), text)
    assert text.isascii(), text
    assert_discreet(text)


def t(key: str, language: str = "vi-ascii", **values) -> str:
    return to_ascii(render(key, ussd_language(language), **values))


def issue(session, settings, service="VCT", phone: str | None = CLIENT) -> str:
    worker = session.exec(select(Worker).where(Worker.phone == DEMO_WORKER_PHONE)).one()
    row = codes.issue_code(
        session,
        settings,
        service=service,
        worker=worker,
        client_phone=phone,
        clinic_id=None,
        channel=Channel.sms,
        actor="test",
    )
    session.commit()
    return row.code


def set_language(session, phone: str, language: str) -> None:
    people.set_language(session, phone, language)
    session.commit()


def outbound_to(session, phone: str) -> list[Message]:
    session.expire_all()
    return list(session.exec(select(Message).where(Message.phone == phone, Message.direction == "out")))


def local_ddmm(days_ahead: int, settings) -> str:
    return (clock.now() + timedelta(days=days_ahead)).astimezone(settings.tz).strftime("%d%m")


# ---------------------------------------------------------------- every screen


@pytest.mark.parametrize("language", languages())
def test_ussd_catalogue_texts_are_plain_ascii_in_every_language(language):
    from app.messages import catalogue

    texts = {k: v for k, v in catalogue(language).items() if k.startswith("ussd.")}
    assert texts
    for key, text in texts.items():
        assert text.isascii(), f"{language}:{key} is not ASCII: {text!r}"
        assert_discreet(text)


def _strip_notice(text: str, language: str) -> str:
    for key in NOTICE_KEYS:
        notice = "CON " + t(key, language) + "\n"
        if text.startswith(notice):
            return "CON " + text[len(notice) :]
    return text


@pytest.mark.parametrize("language", languages())
@pytest.mark.parametrize("who", ["client", "client_stopped", "worker", "clinic"])
def test_every_reachable_screen_is_con_or_end_short_ascii_and_discreet(client, demo, settings, who, language):
    """Breadth-first over every choice (and one good value for each typed
    input) to a bounded depth: every screen any role can reach, in every
    language, obeys the USSD rules."""
    phone = {
        "client": CLIENT,
        "client_stopped": CLIENT,
        "worker": DEMO_WORKER_PHONE,
        "clinic": DEMO_CLINIC_PHONE,
    }[who]
    code = issue(demo, settings)
    typed = [code, CLIENT_LOCAL, local_ddmm(3, settings), "1430"]

    def choices(screen: str) -> list[str]:
        """Every option the screen shows, a wrong one, and on a screen that
        asks for typed input (no numbered option) one good value of each kind."""
        shown = re.findall(r"^(\d+) ", screen[4:], re.M)
        options = [n for n in shown if n not in ("0", "00")]
        return [*options, "0", "00", "x", *([] if options else typed)]

    def reset():
        people.set_language(demo, phone, language)
        people.set_opt_out(demo, phone, who == "client_stopped")
        demo.commit()

    reset()
    seen: set[tuple[str, str]] = set()
    ends: set[str] = set()
    queue: deque[list[str]] = deque([[]])
    while queue:
        path = queue.popleft()
        screen = dial(client, phone, *path)
        if screen.startswith("END "):
            ends.add(screen)
            reset()
            continue
        key = (path[0] if path else "", _strip_notice(screen, language))
        if key in seen or len(path) >= 5:
            continue
        seen.add(key)
        queue.extend([*path, choice] for choice in choices(screen))
    # the walk went all the way: the last screen of each action was reached
    reached = {
        "client": ["ussd.sms_sent", "ussd.stopped", "ussd.reminder_next", "ussd.code_valid"],
        "client_stopped": ["ussd.sms_opted_out", "ussd.resumed"],
        "worker": ["ussd.issued", "ussd.issued_to", "ussd.stats"],
        "clinic": ["ussd.redeemed", "ussd.booked", "ussd.code_valid"],
    }[who]
    for key in reached:
        head = t(
            key, language, **dict.fromkeys(("code", "service", "until", "when", "issued", "redeemed"), "@")
        )
        head = head.split("@")[0]
        assert any(end.startswith("END " + head) for end in ends), (key, sorted(ends))
    assert len(seen) >= 6


# ---------------------------------------------------------------- client


def test_client_finds_a_clinic_and_gets_its_details_by_sms(client, demo):
    main = dial(client, CLIENT)
    assert main.startswith("CON ") and t("ussd.opt_find_clinic") in main
    districts = dial(client, CLIENT, "1")
    assert "1 Dien Bien Phu" in districts and "Dong Da" in districts
    clinics = dial(client, CLIENT, "1", "1")
    assert "1 Phong kham Him Lam" in clinics and "2 Phong kham Muong Thanh" in clinics
    details = dial(client, CLIENT, "1", "1", "1")
    assert details.startswith("CON Phong kham Him Lam\n12 Vo Nguyen Giap, Him Lam\nT2-T6 7:30-16:30")
    assert "Tu van suc khoe" in details and "VCT" not in details

    done = dial(client, CLIENT, "1", "1", "1", "1")
    assert done == "END " + t("ussd.sms_sent")
    [sms] = outbound_to(demo, CLIENT)
    assert sms.status == MessageStatus.sent  # right after the step's commit, before any tick
    assert "Phong kham Him Lam" in sms.text and "12 Vo Nguyen Giap" in sms.text
    assert_discreet(sms.text)


def test_a_replayed_path_does_not_send_the_sms_again(client, demo):
    dial(client, CLIENT, "1", "1", "1", "1")
    later = dial(client, CLIENT, "1", "1", "1", "1", "2")
    assert later == "END " + t("ussd.session_over")
    assert len(outbound_to(demo, CLIENT)) == 1


def test_details_by_sms_to_an_opted_out_phone_are_not_sent(client, demo):
    people.set_opt_out(demo, CLIENT, True)
    demo.commit()
    assert dial(client, CLIENT, "1", "1", "1", "1") == "END " + t("ussd.sms_opted_out")
    assert all(m.status == MessageStatus.skipped for m in outbound_to(demo, CLIENT))


def test_client_checks_a_valid_code(client, demo, settings):
    code = issue(demo, settings)
    assert dial(client, CLIENT, "2") == "CON " + t("ussd.enter_code") + "\n" + t("ussd.nav")
    answer = dial(client, CLIENT, "2", code)
    assert answer.startswith("END ") and code_text.format_code(code) in answer and "Tu van suc khoe" in answer


def test_a_code_for_a_closed_clinic_is_shown_as_valid_anywhere_as_by_sms(client, demo, settings):
    clinic = demo.exec(select(Clinic).where(Clinic.display_name == "Phong kham Him Lam")).one()
    worker = demo.exec(select(Worker).where(Worker.phone == DEMO_WORKER_PHONE)).one()
    row = codes.issue_code(
        demo,
        settings,
        service="VCT",
        worker=worker,
        client_phone=CLIENT,
        clinic_id=clinic.id,
        channel=Channel.sms,
        actor="test",
    )
    clinic.active = False
    demo.add(clinic)
    demo.commit()
    answer = dial(client, CLIENT, "2", row.code)
    until = row.expires_at.astimezone(settings.tz).strftime("%d/%m/%Y")
    expected = t("ussd.code_valid", code=code_text.format_code(row.code), until=until, service="Tu van suc khoe")
    assert answer == "END " + expected


def test_checking_a_code_with_dashes_or_spaces_works(client, demo, settings):
    code = issue(demo, settings)
    assert code_text.format_code(code) in dial(client, CLIENT, "2", code_text.format_code(code))


def test_a_malformed_code_is_asked_again(client, demo):
    answer = dial(client, CLIENT, "2", "12345678")
    assert answer.startswith("CON " + t("ussd.bad_code") + "\n" + t("ussd.enter_code"))


def test_an_unknown_or_used_code_ends_with_its_own_reason(client, demo, settings):
    code = issue(demo, settings)
    clinic = demo.exec(select(Clinic).where(Clinic.display_name == "Phong kham Him Lam")).one()
    codes.redeem_code(demo, settings, code, clinic=clinic, channel=Channel.sms, actor="test")
    demo.commit()
    used = dial(client, CLIENT, "2", code)
    assert used.startswith("END ") and used != "END " + t("ussd.error")
    unknown = _valid_unused_code(demo)
    other = dial(client, CLIENT, "2", unknown)
    assert other.startswith("END ") and other != used


def _valid_unused_code(session) -> str:
    while True:
        candidate = codes.generate_code(session)
        if session.exec(select(ReferralCode).where(ReferralCode.code == candidate)).first() is None:
            return candidate


def test_client_next_appointment(client, demo, settings):
    assert dial(client, CLIENT, "3") == "END " + t("ussd.appt_none")
    code = issue(demo, settings)
    clinic = demo.exec(select(Clinic).where(Clinic.display_name == "Phong kham Him Lam")).one()
    from app.domain.appointments import book_appointment

    starts = (
        (clock.now() + timedelta(days=2))
        .astimezone(settings.tz)
        .replace(hour=9, minute=30, second=0, microsecond=0)
    )
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
    assert confirm.startswith("CON " + t("ussd.confirm_stop"))
    assert demo.exec(select(Person).where(Person.phone == CLIENT)).first() is None  # nothing yet
    assert dial(client, CLIENT, "4", "1") == "END " + t("ussd.stopped")
    demo.expire_all()
    assert people.is_opted_out(demo, CLIENT)
    again = dial(client, CLIENT)
    assert t("ussd.opt_resume") in again and t("ussd.opt_stop") not in again
    assert dial(client, CLIENT, "4", "1") == "END " + t("ussd.resumed")
    demo.expire_all()
    assert not people.is_opted_out(demo, CLIENT)


def test_client_sets_the_language(client, demo):
    menu = dial(client, CLIENT, "5")
    names = [to_ascii(render("ussd.language_name", lang)) for lang in languages()]
    assert all(name in menu for name in names)
    english = languages().index("en") + 1
    assert dial(client, CLIENT, "5", str(english)) == "END " + render("ussd.language_set", "en")
    demo.expire_all()
    assert demo.exec(select(Person).where(Person.phone == CLIENT)).one().language == "en"
    assert dial(client, CLIENT).startswith(
        "CON " + render("ussd.title", "en") + "\n1 " + render("ussd.opt_find_clinic", "en")
    )


def test_choosing_vietnamese_with_diacritics_confirms_that_choice(client, demo):
    vietnamese = languages().index("vi") + 1
    assert dial(client, CLIENT, "5", str(vietnamese)) == "END " + to_ascii(render("ussd.language_set", "vi"))
    assert "khong dau" not in render("ussd.language_set", "vi")
    demo.expire_all()
    assert demo.exec(select(Person).where(Person.phone == CLIENT)).one().language == "vi"


def test_vietnamese_with_diacritics_is_shown_without_them(client, demo):
    set_language(demo, CLIENT, "vi")
    assert dial(client, CLIENT) == dial(client, "+84912345679")  # a new phone: vi-ascii, the default
    assert dial(client, CLIENT, "1", "1", "1") == dial(client, "+84912345679", "1", "1", "1")


def test_stray_diacritics_in_clinic_data_are_folded(client, demo):
    clinic = demo.exec(select(Clinic).where(Clinic.display_name == "Phong kham Him Lam")).one()
    clinic.display_name = "Phòng khám Điện Biên"
    clinic.address = "12 Võ Nguyên Giáp, 北京"
    demo.add(clinic)
    demo.commit()
    listing = dial(client, CLIENT, "1", "1")
    [number] = [line[0] for line in listing.splitlines() if line.endswith(" Phong kham Dien Bien")]
    assert dial(client, CLIENT, "1", "1", number).startswith(
        "CON Phong kham Dien Bien\n12 Vo Nguyen Giap, ??\n"
    )


# ---------------------------------------------------------------- navigation


def test_a_wrong_choice_asks_the_same_screen_again_with_a_notice(client, demo):
    main = dial(client, CLIENT)
    assert dial(client, CLIENT, "7") == "CON " + t("ussd.invalid_choice") + "\n" + main[4:]
    districts = dial(client, CLIENT, "1")
    assert dial(client, CLIENT, "1", "abc") == "CON " + t("ussd.invalid_choice") + "\n" + districts[4:]
    assert dial(client, CLIENT, "1", "") == "CON " + t("ussd.invalid_choice") + "\n" + districts[4:]
    # the wrong answer does not count: the next good one works from the same screen
    assert dial(client, CLIENT, "1", "abc", "1") == dial(client, CLIENT, "1", "1")


def test_zero_goes_back_one_screen(client, demo):
    assert dial(client, CLIENT, "1", "0") == dial(client, CLIENT)
    assert dial(client, CLIENT, "1", "1", "0") == dial(client, CLIENT, "1")
    assert dial(client, CLIENT, "1", "1", "1", "0") == dial(client, CLIENT, "1", "1")
    assert dial(client, CLIENT, "4", "0") == dial(client, CLIENT)


def test_double_zero_goes_to_the_main_menu(client, demo):
    assert dial(client, CLIENT, "1", "1", "1", "00") == dial(client, CLIENT)
    assert dial(client, DEMO_WORKER_PHONE, "1", "1", "00") == dial(client, DEMO_WORKER_PHONE)


def test_zero_on_the_main_menu_is_a_wrong_choice(client, demo):
    assert dial(client, CLIENT, "0").startswith("CON " + t("ussd.invalid_choice") + "\n")


def test_nine_pages_a_long_list(client, demo):
    for n in range(14):
        demo.add(
            Clinic(
                name=f"Test clinic {n}",
                display_name=f"Diem cham soc so {n:02d}",
                district="Dien Bien Phu",
                address="x",
                hours="y",
            )
        )
    demo.commit()
    first = dial(client, CLIENT, "1", "1")
    assert "\n9 " + t("ussd.more") + "\n" in first
    second = dial(client, CLIENT, "1", "1", "9")
    assert second != first and "\n1 " in second
    first_items = {
        line[2:] for line in first.splitlines()[1:] if line[:1].isdigit() and line[:2] not in ("9 ", "0 ")
    }
    second_items = {
        line[2:] for line in second.splitlines()[1:] if line[:1].isdigit() and line[:2] not in ("9 ", "0 ")
    }
    assert first_items and second_items and not first_items & second_items
    # a choice on page two is that page's item; 0 returns to page one
    picked = second.splitlines()[1][2:]
    assert dial(client, CLIENT, "1", "1", "9", "1").startswith("CON " + picked)
    assert dial(client, CLIENT, "1", "1", "9", "0") == first
    # every clinic of the district is on some page, and the last page has no "more"
    pages, path = [first], ["1", "1"]
    while "\n9 " in pages[-1]:
        path.append("9")
        pages.append(dial(client, CLIENT, *path))
    names = {
        line[2:] for page in pages for line in page.splitlines()[1:] if line.startswith(tuple("12345678"))
    }
    assert len(names) == 16


# ---------------------------------------------------------------- worker


def test_the_clients_sms_after_a_ussd_issue_goes_without_waiting_for_the_tick(db, database_url, demo):
    """The dispatcher runs in the process but ticks once an hour: the client's
    code goes out because the USSD step's commit hands it over, not because
    a tick found it."""
    from app.main import create_app
    from app.sending.gateways.memory import MemoryGateway
    from tests.conftest import make_settings

    gateway = MemoryGateway()
    settings = make_settings(database_url, DISPATCH_IN_PROCESS=True, DISPATCH_INTERVAL_SECONDS=3600)
    with SettledClient(create_app(settings, gateway=gateway, engine=db)) as c:
        c.app.state.dispatcher.wait_idle()
        assert gateway.sent == []
        done = dial(c, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1")
        [row] = demo.exec(select(ReferralCode)).all()
        assert done.startswith("END ") and code_text.format_code(row.code) in done
        [text] = gateway.to(CLIENT)
        assert code_text.format_code(row.code) in text
        [sms] = outbound_to(demo, CLIENT)
        assert sms.status == MessageStatus.sent


def test_worker_issues_a_code_for_a_client_by_ussd(client, demo):
    menu = dial(client, DEMO_WORKER_PHONE)
    assert t("ussd.opt_issue") in menu
    services = dial(client, DEMO_WORKER_PHONE, "1")
    assert "1 Tu van suc khoe" in services and "VCT" not in services
    assert dial(client, DEMO_WORKER_PHONE, "1", "1").startswith("CON " + t("ussd.enter_client_phone"))
    confirm = dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL)
    assert confirm.startswith("CON ") and CLIENT in confirm and "Tu van suc khoe" in confirm
    assert demo.exec(select(ReferralCode)).first() is None  # nothing before the confirmation

    done = dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1")
    [row] = demo.exec(select(ReferralCode)).all()
    assert row.channel == Channel.ussd and row.client_phone == CLIENT
    assert done.startswith("END ") and code_text.format_code(row.code) in done
    [sms] = outbound_to(demo, CLIENT)
    assert code_text.format_code(row.code) in sms.text and sms.status == MessageStatus.sent

    # the same path replayed further issues nothing more
    dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1", "1")
    demo.expire_all()
    assert len(demo.exec(select(ReferralCode)).all()) == 1


def test_worker_issues_a_code_without_a_client_phone(client, demo):
    confirm = dial(client, DEMO_WORKER_PHONE, "1", "1", "0")
    assert confirm.startswith("CON " + t("ussd.confirm_issue", service="Tu van suc khoe"))
    done = dial(client, DEMO_WORKER_PHONE, "1", "1", "0", "1")
    [row] = demo.exec(select(ReferralCode)).all()
    assert row.client_phone is None and row.channel == Channel.ussd
    assert done.startswith("END ") and code_text.format_code(row.code) in done


def test_issuing_to_a_client_who_stopped_messages_tells_the_worker_to_hand_it_over(client, demo, settings):
    people.set_opt_out(demo, CLIENT, True)
    demo.commit()
    done = dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1")
    [row] = demo.exec(select(ReferralCode)).all()
    until = row.expires_at.astimezone(settings.tz).strftime("%d/%m/%Y")
    values = dict(code=code_text.format_code(row.code), service="Tu van suc khoe", until=until)
    assert done == "END " + t("ussd.issued_not_sent", **values)
    assert all(m.status != MessageStatus.queued for m in outbound_to(demo, CLIENT))


def test_worker_gives_an_invalid_client_phone_and_is_asked_again(client, demo):
    again = dial(client, DEMO_WORKER_PHONE, "1", "1", "12")
    assert again.startswith("CON " + t("ussd.bad_phone") + "\n" + t("ussd.enter_client_phone"))
    assert dial(client, DEMO_WORKER_PHONE, "1", "1", "12", "00") == dial(client, DEMO_WORKER_PHONE)


def test_worker_stats(client, demo, settings):
    issue(demo, settings)
    issue(demo, settings, phone=None)
    answer = dial(client, DEMO_WORKER_PHONE, "2")
    assert answer == "END " + t("ussd.stats", issued=2, redeemed=0)


def test_a_client_has_no_worker_menu(client, demo):
    dial(client, CLIENT, "1", "1", "0912000000", "1")
    assert demo.exec(select(ReferralCode)).first() is None


# ---------------------------------------------------------------- clinic


def test_clinic_redeems_a_code_by_ussd(client, demo, settings):
    code = issue(demo, settings)
    assert t("ussd.opt_redeem") in dial(client, DEMO_CLINIC_PHONE)
    done = dial(client, DEMO_CLINIC_PHONE, "1", code)
    assert done.startswith("END ") and code_text.format_code(code) in done
    [redemption] = demo.exec(select(Redemption)).all()
    assert redemption.channel == Channel.ussd
    # the worker is told
    assert any(code_text.format_code(code) in m.text for m in outbound_to(demo, DEMO_WORKER_PHONE))
    # a second time: its own reason, no second redemption
    again = dial(client, DEMO_CLINIC_PHONE, "1", code)
    assert again.startswith("END ") and again != done
    demo.expire_all()
    assert len(demo.exec(select(Redemption)).all()) == 1


def test_clinic_cannot_redeem_a_service_it_does_not_offer(client, demo, settings):
    code = issue(demo, settings, service="STI")  # Him Lam offers VCT and MMT only
    answer = dial(client, DEMO_CLINIC_PHONE, "1", code)
    assert answer.startswith("END ") and answer != "END " + t("ussd.error")
    assert demo.exec(select(Redemption)).first() is None


def test_clinic_books_an_appointment(client, demo, settings):
    code = issue(demo, settings)
    day = local_ddmm(2, settings)
    assert dial(client, DEMO_CLINIC_PHONE, "2", code).startswith("CON " + t("ussd.enter_date"))
    assert dial(client, DEMO_CLINIC_PHONE, "2", code, day).startswith("CON " + t("ussd.enter_time"))
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


def test_booking_for_a_client_who_stopped_messages_says_no_reminders_go(client, demo, settings):
    code = issue(demo, settings)
    people.set_opt_out(demo, CLIENT, True)
    demo.commit()
    day = local_ddmm(2, settings)
    done = dial(client, DEMO_CLINIC_PHONE, "2", code, day, "1430", "1")
    [appt] = demo.exec(select(Appointment)).all()
    when = appt.starts_at.astimezone(settings.tz).strftime("%d/%m/%Y %H:%M")
    assert done == "END " + t("ussd.booked_no_sms", when=when)


def test_booking_asks_again_for_a_bad_code_date_or_time(client, demo, settings):
    code = issue(demo, settings)
    assert dial(client, DEMO_CLINIC_PHONE, "2", _valid_unused_code(demo)).startswith(
        "CON " + t("ussd.bad_code")
    )
    assert dial(client, DEMO_CLINIC_PHONE, "2", code, "3102").startswith("CON " + t("ussd.bad_date"))
    assert dial(client, DEMO_CLINIC_PHONE, "2", code, "1").startswith("CON " + t("ussd.bad_date"))
    day = local_ddmm(2, settings)
    assert dial(client, DEMO_CLINIC_PHONE, "2", code, day, "2561").startswith("CON " + t("ussd.bad_time"))
    assert demo.exec(select(Appointment)).first() is None


def test_booking_a_code_that_cannot_be_booked_ends_at_the_code_not_after_date_and_time(
    client, demo, settings
):
    no_phone = issue(demo, settings, phone=None)
    answer = dial(client, DEMO_CLINIC_PHONE, "2", no_phone)
    assert answer == "END " + t("codes.no_client_phone", code=code_text.format_code(no_phone))
    not_offered = issue(demo, settings, service="STI")  # Him Lam offers VCT and MMT only
    answer = dial(client, DEMO_CLINIC_PHONE, "2", not_offered)
    assert answer.startswith("END ") and "STI" in answer and answer != "END " + t("ussd.error")
    assert demo.exec(select(Appointment)).first() is None


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


# ---------------------------------------------------------------- bad input


def _form(**overrides) -> dict:
    form = {
        "sessionId": "ATUid_1",
        "serviceCode": SERVICE_CODE,
        "phoneNumber": CLIENT,
        "text": "",
        "networkCode": "45204",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


@pytest.mark.parametrize(
    ("form", "starts"),
    [
        (_form(text="1*abc"), "CON "),
        (_form(text="abc"), "CON "),
        (_form(text="1" * 300), "END "),
        (_form(text="1*" * 150), "END "),
        (_form(text="*"), "CON "),
        (_form(text="1*1*1*1*1*1*1*1*1*1"), "END "),
        (_form(text="\u0661"), "CON "),  # an Arabic-Indic one is not a choice
        (_form(text="\x00\x01"), "CON "),
        (_form(phoneNumber="not a phone"), "END "),
        (_form(phoneNumber=""), "END "),
        (_form(phoneNumber=None), "END "),
        (_form(text=None), "END "),
        (_form(sessionId=None), "END "),
        (_form(serviceCode=None), "END "),
        ({}, "END "),
    ],
    ids=[
        "letters-deep",
        "letters",
        "300-chars",
        "150-steps",
        "empty-answers",
        "past-the-end",
        "unicode-digit",
        "control",
        "bad-phone",
        "empty-phone",
        "no-phone",
        "no-text",
        "no-session",
        "no-service-code",
        "empty",
    ],
)
def test_bad_input_gets_a_clear_answer_never_a_500(client, demo, form, starts):
    r = post(client, form)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert_screen(r.text)
    assert r.text.startswith(starts)


def test_missing_fields_and_bad_phone_get_their_own_words(client, demo):
    assert post(client, _form(phoneNumber=None)).text == "END " + t("ussd.bad_request")
    assert post(client, _form(phoneNumber="12")).text == "END " + t("ussd.bad_caller")
    assert post(client, _form(text="1" * 300)).text == "END " + t("ussd.too_long")


def test_each_step_is_logged_with_the_phone_masked(client, demo, caplog):
    from app.domain.phones import mask_phone

    caplog.set_level("INFO", logger="hen.ussd")
    dial(client, CLIENT, "1", "1")
    [record] = [r for r in caplog.records if r.name == "hen.ussd"]
    assert record.phone == mask_phone(CLIENT) and record.screen == "clinics" and record.answers == 2
    assert CLIENT not in str(record.__dict__)


def test_a_wrong_or_missing_token_is_refused(client, demo):
    assert post(client, _form(), token=None).status_code == 403
    assert post(client, _form(), token="wrong").status_code == 403
    r = client.post(PATH + f"?token={WEBHOOK_TOKEN}", data=_form())
    assert r.status_code == 200 and r.text.startswith("CON ")


def test_an_unknown_service_code_is_refused_when_codes_are_configured(demo, settings, gateway, db):

    from app.main import create_app

    app = create_app(
        settings.model_copy(update={"ussd_service_codes": "*384*123#, *384*124#"}), gateway=gateway, engine=db
    )
    with SettledClient(app) as c:
        assert post(c, _form(serviceCode="*999#")).text == "END " + t("ussd.unknown_service_code")
        assert post(c, _form(serviceCode="*384*124#")).text.startswith("CON ")


def test_a_huge_body_is_refused_politely(client, demo):
    r = post(client, _form(text="1" * 100_000))
    assert r.status_code == 200 and r.text.startswith("END ")


ANSWERS = st.sampled_from(
    ["1", "2", "3", "4", "5", "9", "0", "00", "", "abc", "0912345678", "12345678", "2512"]
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.one_of(st.text(max_size=300), st.lists(ANSWERS, max_size=8).map("*".join)),
    phone=st.sampled_from([CLIENT, DEMO_WORKER_PHONE, DEMO_CLINIC_PHONE]),
)
def test_any_text_gets_a_well_formed_screen(client, demo, text, phone):
    r = post(client, _form(text=text, phoneNumber=phone))
    assert r.status_code == 200
    assert_screen(r.text)
