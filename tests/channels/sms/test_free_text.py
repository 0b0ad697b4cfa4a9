"""Messages without a keyword, through the SMS webhook: a question gets the
answer it asks for, thanks get no SMS, a client who forgot the code gets it
again (the phrases are the catalogues' `[intents]`)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.domain.code_text import format_code
from app.messages import count_segments, render
from app.models import Clinic
from tests.factories import CLIENT, issue_by_sms, sms

LANG = "vi-ascii"


@pytest.mark.parametrize(
    "text", ["toi muon xet nghiem", "dia chi phong kham o dau", "Tôi muốn đi khám", "where is the clinic"]
)
def test_a_question_about_a_clinic_is_answered_with_the_clinics(world, text):
    [answer] = sms(world, "+84987000201", text)
    assert answer.startswith(render("sms.clinic_header", LANG))


@pytest.mark.parametrize("text", ["toi quen ma", "ma cua toi la gi", "MA"])
def test_a_client_who_forgot_the_code_gets_it_again(world, text):
    code = issue_by_sms(world)
    answers = sms(world, CLIENT, text)
    assert len(answers) == 1 and format_code(code.code) in answers[0]


def test_forgot_the_code_without_one_says_whom_to_ask(world):
    assert sms(world, "+84987000202", "toi quen ma") == [render("sms.my_code_none", LANG)]


@pytest.mark.parametrize("text", ["cam on", "ok", "Cảm ơn bạn nhiều ạ", "thank you", "OK."])
def test_thanks_cost_no_sms(world, text):
    assert sms(world, "+84987000203", text) == []


@pytest.mark.parametrize("text", ["xin chao", "Xin chào", "hello"])
def test_a_greeting_gets_the_help(world, text):
    assert sms(world, "+84987000204", text) == [render("sms.help_client", LANG)]


def test_text_that_means_nothing_still_gets_the_short_help(world):
    assert sms(world, "+84987000205", "zzz qqq") == [render("sms.unknown", LANG)]


def test_a_clinic_name_with_diacritics_goes_without_them_in_vi_ascii(world, session):
    clinic = session.exec(select(Clinic).where(Clinic.display_name == "Phòng khám Him Lam")).one()
    clinic.display_name = "Phòng khám Him Lam"
    session.commit()
    [answer] = sms(world, "+84987000206", "PK Him Lam")
    assert "Phong kham Him Lam" in answer
    assert count_segments(answer).encoding == "GSM-7"
