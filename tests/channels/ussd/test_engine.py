"""The USSD engine (`app.channels.ussd.engine`) through the Africa's Talking
webhook on both databases: what a phone shows at every step (CON/END, at
most 182 characters, plain ASCII, discreet), replayed steps, navigation
and bad input."""

from __future__ import annotations

import re
from collections import deque

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from app.channels.ussd.screens import NOTICE_KEYS
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import people
from app.messages import languages
from app.models import Clinic
from tests.conftest import SettledClient
from tests.factories import (
    CLIENT,
    CLIENT_LOCAL,
    assert_screen,
    dial,
    issue_code,
    local_ddmm,
    outbound,
    ussd_form,
    ussd_post,
    ussd_text,
)

# ---------------------------------------------------------------- every screen


def _strip_notice(text: str, language: str) -> str:
    for key in NOTICE_KEYS:
        notice = "CON " + ussd_text(key, language) + "\n"
        if text.startswith(notice):
            return "CON " + text[len(notice) :]
    return text


@pytest.mark.parametrize("language", languages())
@pytest.mark.parametrize("who", ["client", "client_stopped", "worker", "clinic"])
def test_every_reachable_screen_is_con_or_end_short_ascii_and_discreet(client, demo, settings, who, language):
    """Breadth-first over every choice (and one good value for each typed
    input) to a bounded depth: every screen any role can reach, in every
    language, obeys the USSD rules (`dial`: discreet on a client's screens;
    a worker's or desk's may name services by their codes)."""
    phone = {
        "client": CLIENT,
        "client_stopped": CLIENT,
        "worker": DEMO_WORKER_PHONE,
        "clinic": DEMO_CLINIC_PHONE,
    }[who]
    code = issue_code(demo, settings, commit=True).code
    typed = [code, CLIENT_LOCAL, local_ddmm(3, settings, weekday=True), "1430"]

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
        head = ussd_text(
            key, language, **dict.fromkeys(("code", "service", "until", "when", "issued", "redeemed"), "@")
        )
        head = head.split("@")[0]
        assert any(end.startswith("END " + head) for end in ends), (key, sorted(ends))
    assert len(seen) >= 6


# ---------------------------------------------------------------- replay and ASCII


def test_a_replayed_path_does_not_send_the_sms_again(client, demo):
    dial(client, CLIENT, "1", "1", "1", "1")
    later = dial(client, CLIENT, "1", "1", "1", "1", "2")
    assert later == "END " + ussd_text("ussd.session_over")
    assert len(outbound(demo, phone=CLIENT)) == 1


def set_language(session, phone: str, language: str) -> None:
    people.set_language(session, phone, language)
    session.commit()


def test_vietnamese_with_diacritics_is_shown_without_them(client, demo):
    set_language(demo, CLIENT, "vi")
    assert dial(client, CLIENT) == dial(client, "+84912345679")  # a new phone: vi-ascii, the default
    assert dial(client, CLIENT, "1", "1", "1") == dial(client, "+84912345679", "1", "1", "1")


# ---------------------------------------------------------------- navigation


def test_a_wrong_choice_asks_the_same_screen_again_with_a_notice(client, demo):
    main = dial(client, CLIENT)
    assert dial(client, CLIENT, "7") == "CON " + ussd_text("ussd.invalid_choice") + "\n" + main[4:]
    districts = dial(client, CLIENT, "1")
    assert (
        dial(client, CLIENT, "1", "abc") == "CON " + ussd_text("ussd.invalid_choice") + "\n" + districts[4:]
    )
    assert dial(client, CLIENT, "1", "") == "CON " + ussd_text("ussd.invalid_choice") + "\n" + districts[4:]
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
    assert dial(client, CLIENT, "0").startswith("CON " + ussd_text("ussd.invalid_choice") + "\n")


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
    assert "\n9 " + ussd_text("ussd.more") + "\n" in first
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


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("form", "starts"),
    [
        (ussd_form(text="1*abc"), "CON "),
        (ussd_form(text="abc"), "CON "),
        (ussd_form(text="1" * 300), "END "),
        (ussd_form(text="1*" * 150), "END "),
        (ussd_form(text="*"), "CON "),
        (ussd_form(text="1*1*1*1*1*1*1*1*1*1"), "END "),
        (ussd_form(text="\u0661"), "CON "),  # an Arabic-Indic one is not a choice
        (ussd_form(text="\x00\x01"), "CON "),
        (ussd_form(phoneNumber="not a phone"), "END "),
        (ussd_form(phoneNumber=""), "END "),
        (ussd_form(phoneNumber=None), "END "),
        (ussd_form(text=None), "END "),
        (ussd_form(sessionId=None), "END "),
        (ussd_form(serviceCode=None), "END "),
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
    r = ussd_post(client, form)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert_screen(r.text)
    assert r.text.startswith(starts)


def test_missing_fields_and_bad_phone_get_their_own_words(client, demo):
    assert ussd_post(client, ussd_form(phoneNumber=None)).text == "END " + ussd_text("ussd.bad_request")
    assert ussd_post(client, ussd_form(phoneNumber="12")).text == "END " + ussd_text("ussd.bad_caller")
    assert ussd_post(client, ussd_form(text="1" * 300)).text == "END " + ussd_text("ussd.too_long")


def test_an_unknown_service_code_is_refused_when_codes_are_configured(demo, settings, gateway, db):

    from app.main import create_app

    app = create_app(
        settings.model_copy(update={"ussd_service_codes": "*384*123#, *384*124#"}), gateway=gateway, engine=db
    )
    with SettledClient(app) as c:
        assert ussd_post(c, ussd_form(serviceCode="*999#")).text == "END " + ussd_text(
            "ussd.unknown_service_code"
        )
        assert ussd_post(c, ussd_form(serviceCode="*384*124#")).text.startswith("CON ")


ANSWERS = st.sampled_from(
    ["1", "2", "3", "4", "5", "9", "0", "00", "", "abc", "0912345678", "12345678", "2512"]
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.one_of(st.text(max_size=300), st.lists(ANSWERS, max_size=8).map("*".join)),
    phone=st.sampled_from([CLIENT, DEMO_WORKER_PHONE, DEMO_CLINIC_PHONE]),
)
def test_any_text_gets_a_well_formed_screen(client, demo, text, phone):
    r = ussd_post(client, ussd_form(text=text, phoneNumber=phone))
    assert r.status_code == 200
    assert_screen(r.text, discreet=phone == CLIENT)  # staff screens may name services (PREP)
