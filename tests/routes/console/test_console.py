"""The console through HTTP, as a browser uses it: sign-in with CSRF, the
session cookie, the overview of this month's figures, sign-out."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from app.demo import DEMO_WORKER_PHONE
from app.domain import users
from app.main import create_app
from app.messages import render
from app.sending.gateways.memory import MemoryGateway
from tests.conftest import make_settings
from tests.factories import CLIENT_LOCAL, NOW, audit_actions, clinic_named, sms

PASSWORD = "a long enough secret"
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
def console(demo, client, frozen_clock):
    frozen_clock(NOW)
    users.create_user(demo, role="viewer", name="Program officer", email="po@example.org", password=PASSWORD)
    desk = clinic_named(demo)
    users.create_user(
        demo, role="clinic", name="Desk", email="desk@example.org", password=PASSWORD, clinic_id=desk.id
    )
    demo.commit()
    return client


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def sign_in(client, email="po@example.org", password=PASSWORD):
    form = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf": _csrf(form.text)},
        follow_redirects=False,
    )


def _figure(page: str, name: str) -> int:
    return int(re.search(rf'data-indicator="{name}">[^<]*<b>(\d+)</b>', page).group(1))


def test_the_home_page_leads_to_the_sign_in(console):
    assert console.get("/", follow_redirects=False).headers["location"] == "/console/"
    assert console.get("/console/", follow_redirects=False).headers["location"] == "/console/login"
    page = console.get("/console/login").text
    assert '<label for="email">' in page and '<label for="password">' in page
    assert 'name="viewport"' in page and render("console.sign_in", "vi") in page


def test_signing_in_shows_this_months_figures_and_a_referral_counts_at_once(console):
    r = sign_in(console)
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    cookie = r.headers["set-cookie"]
    assert (
        "hen_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    )
    assert "Secure" not in cookie  # a local run
    assert console.get("/console/").headers["cache-control"] == "no-store"
    page = console.get("/console/").text
    assert _figure(page, "codes_issued") == 0
    sms(console, DEMO_WORKER_PHONE, f"GT VCT {CLIENT_LOCAL}")
    page = console.get("/console/").text
    assert _figure(page, "codes_issued") == 1 and _figure(page, "people_referred") == 1
    assert render("console.people_referred", "vi") in page and "Program officer" in page


def test_english_on_request(console):
    sign_in(console)
    page = console.get("/console/?lang=en").text
    assert render("console.people_referred", "en") in page and '<html lang="en">' in page
    assert render("console.people_referred", "en") in console.get("/console/").text  # kept


def test_a_wrong_password_or_a_forged_form_signs_nobody_in(console):
    wrong = sign_in(console, password="not the password")
    assert wrong.status_code == 401 and render("console.wrong_sign_in", "vi") in wrong.text
    forged = console.post(
        "/console/login", data={"email": "po@example.org", "password": PASSWORD}, follow_redirects=False
    )
    assert forged.status_code == 403 and render("console.form_expired", "vi") in forged.text
    assert "hen_session" not in forged.headers.get("set-cookie", "")
    assert console.get("/console/", follow_redirects=False).status_code == 303


def test_failed_sign_ins_are_throttled_per_address(console):
    for _ in range(5):
        assert sign_in(console, password="guess guess guess").status_code == 401
    stopped = sign_in(console)  # even the right password, for a while
    assert stopped.status_code == 429 and render("console.sign_in_throttled", "vi") in stopped.text
    assert sign_in(console, email="desk@example.org").status_code == 303  # another address is not


def test_signing_out_needs_the_form_token_and_ends_the_session(console, demo):
    sign_in(console)
    page = console.get("/console/").text
    assert console.post("/console/logout", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    assert console.get("/console/", follow_redirects=False).status_code == 200
    out = console.post("/console/logout", data={"csrf": _csrf(page)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert audit_actions(demo, "staff_user")[-2:] == ["user.sign_in", "user.sign_out"]
    assert console.get("/console/", follow_redirects=False).status_code == 303


def test_a_deactivated_user_is_signed_out_at_once(console, demo):
    sign_in(console)
    user = users.authenticate(demo, "po@example.org", PASSWORD)
    users.set_active(demo, user.id, False, actor="test")
    demo.commit()
    assert console.get("/console/", follow_redirects=False).status_code == 303


def test_a_clinic_user_sees_its_own_clinics_figures(console):
    sms(console, DEMO_WORKER_PHONE, f"GT VCT {CLIENT_LOCAL} Muong Thanh")  # referred to another clinic
    sms(console, DEMO_WORKER_PHONE, f"GT MMT {CLIENT_LOCAL} Him Lam")
    sign_in(console, email="desk@example.org")
    page = console.get("/console/").text
    assert render("console.clinic_only", "vi") in page
    assert _figure(page, "codes_issued") == 1 and _figure(page, "referred_to_mmt") == 1
    assert 'data-indicator="people_reached"' not in page  # a clinic does no outreach


def test_the_session_cookie_is_secure_in_production(demo, db, database_url, frozen_clock):
    frozen_clock(NOW)
    users.create_user(demo, role="admin", name="Admin", email="a@example.org", password=PASSWORD)
    demo.commit()
    settings = make_settings(
        database_url, APP_ENV="production", WEBHOOK_TOKEN="x" * 32, METRICS_TOKEN="m" * 32
    )
    with TestClient(
        create_app(settings, gateway=MemoryGateway(), engine=db), base_url="https://testserver"
    ) as c:
        r = sign_in(c, email="a@example.org")
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def _bar(page: str, month: str) -> tuple[int, int]:
    row = re.search(rf'data-month="{month}">(.*?)</tr>', page, re.S).group(1)
    issued, used = (int(n) for n in re.findall(r'<span class="n">(\d+)</span>', row))
    return issued, used


def test_the_chart_shows_codes_by_month(console, frozen_clock, demo):
    frozen_clock(NOW - timedelta(days=40))
    sms(console, DEMO_WORKER_PHONE, f"GT VCT {CLIENT_LOCAL}")
    frozen_clock(NOW)
    sms(console, DEMO_WORKER_PHONE, "GT MMT 0912345670")
    sms(console, DEMO_WORKER_PHONE, "GT VCT 0912345671")
    sign_in(console)
    page = console.get("/console/").text
    this_month = NOW.astimezone(HANOI)
    before = (this_month - timedelta(days=40)).strftime("%m/%Y")
    assert _bar(page, this_month.strftime("%m/%Y")) == (2, 0)
    assert _bar(page, before) == (1, 0)
    assert len(re.findall(r'data-month="', page)) == 6
    assert render("console.chart", "vi") in page


def test_an_unknown_console_page_is_a_page_that_says_so(console):
    sign_in(console)
    r = console.get("/console/no-such-page")
    assert r.status_code == 404 and render("console_more.no_such_page", "vi") in r.text and "<nav" in r.text
    assert render("console_more.role_viewer", "vi") in console.get("/console/").text
