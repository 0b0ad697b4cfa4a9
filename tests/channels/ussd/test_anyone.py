"""The USSD screens of every role (`app.channels.ussd.anyone`) through the
webhook: checking a code and choosing a language."""

from __future__ import annotations

from sqlmodel import select

from app.channels.ussd.screens import to_ascii
from app.demo import DEMO_WORKER_PHONE
from app.domain import code_text, codes
from app.messages import languages, render
from app.models import Channel, Person
from tests.discretion import assert_discreet
from tests.factories import CLIENT, clinic_named, dial, issue_code, unused_code, ussd_text

# ---------------------------------------------------------------- check a code


def test_client_checks_a_valid_code(client, demo, settings):
    code = issue_code(demo, settings, commit=True).code
    assert dial(client, CLIENT, "2") == "CON " + ussd_text("ussd.enter_code") + "\n" + ussd_text("ussd.nav")
    answer = dial(client, CLIENT, "2", code)
    assert answer.startswith("END ") and code_text.format_code(code) in answer and "Tu van suc khoe" in answer
    assert "VCT" not in answer  # a client reads the neutral name only


def test_a_client_never_sees_a_service_code_a_worker_sees_it_with_the_name(client, demo, settings):
    row = issue_code(demo, settings, service="PREP", commit=True)
    until = row.expires_at.astimezone(settings.tz).strftime("%d/%m/%Y")
    values = dict(code=code_text.format_code(row.code), until=until)
    mine = dial(client, CLIENT, "2", row.code)  # `dial` checks a client's screen is discreet
    assert mine == "END " + ussd_text("ussd.code_valid", service="Cham soc du phong", **values)
    assert_discreet(mine)
    worker = dial(client, DEMO_WORKER_PHONE, "3", row.code)
    assert worker == "END " + ussd_text("ussd.code_valid", service="PREP Cham soc du phong", **values)


def test_a_code_for_a_closed_clinic_is_shown_as_valid_anywhere_as_by_sms(client, demo, settings):
    clinic = clinic_named(demo)
    row = issue_code(demo, settings, clinic_id=clinic.id)
    clinic.active = False
    demo.add(clinic)
    demo.commit()
    answer = dial(client, CLIENT, "2", row.code)
    until = row.expires_at.astimezone(settings.tz).strftime("%d/%m/%Y")
    expected = ussd_text(
        "ussd.code_valid", code=code_text.format_code(row.code), until=until, service="Tu van suc khoe"
    )
    assert answer == "END " + expected


def test_checking_a_code_with_dashes_or_spaces_works(client, demo, settings):
    code = issue_code(demo, settings, commit=True).code
    assert code_text.format_code(code) in dial(client, CLIENT, "2", code_text.format_code(code))


def test_a_malformed_code_is_asked_again(client, demo):
    answer = dial(client, CLIENT, "2", "12345678")
    assert answer.startswith("CON " + ussd_text("ussd.bad_code") + "\n" + ussd_text("ussd.enter_code"))


def test_an_unknown_or_used_code_ends_with_its_own_reason(client, demo, settings):
    code = issue_code(demo, settings, commit=True).code
    clinic = clinic_named(demo)
    codes.redeem_code(demo, settings, code, clinic=clinic, channel=Channel.sms, actor="test")
    demo.commit()
    used = dial(client, CLIENT, "2", code)
    assert used.startswith("END ") and used != "END " + ussd_text("ussd.error")
    unknown = unused_code(demo)
    other = dial(client, CLIENT, "2", unknown)
    assert other.startswith("END ") and other != used


# ---------------------------------------------------------------- language


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
