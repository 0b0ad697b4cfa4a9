"""The console in a real headless Chromium at phone width, against the
application under uvicorn: an admin signs in and reads the month's
figures, adds a worker who is welcomed by SMS and then issues a code
through the SMS webhook, a clinic user confirms that code on the codes
page, and a viewer can add nothing. The overview's screenshot at phone
width is written to docs/console-overview.png (shown in the README)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from app.domain import users
from app.messages import render
from app.models import Redemption, ReferralCode
from tests import browser_harness
from tests.browser_harness import phone_context
from tests.factories import NOW, clinic_named, send
from tests.live_server import served

chromium = browser_harness.chromium
PASSWORD = "a long enough secret"
SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "console-overview.png"
NEW_WORKER = "+84912777888"
CLIENT = "0912345678"


def t(key: str, **values) -> str:
    return render(key, "vi", **values)


@pytest.fixture
def live(app, demo, frozen_clock):
    frozen_clock(NOW)
    desk = clinic_named(demo)
    for role, email, clinic_id in (
        ("admin", "admin@example.org", None),
        ("clinic", "desk@example.org", desk.id),
        ("viewer", "viewer@example.org", None),
    ):
        users.create_user(
            demo, role=role, name=role.title(), email=email, password=PASSWORD, clinic_id=clinic_id
        )
    demo.commit()
    with served(app) as base_url:
        yield base_url


def signed_in(browser, base_url: str, email: str):
    context = phone_context(browser, base_url)
    page = context.new_page()
    page.goto("/console/")
    assert page.url.endswith("/console/login")
    page.get_by_label(t("console.email")).fill(email)
    page.get_by_label(t("console.password")).fill(PASSWORD)
    page.get_by_role("button", name=t("console.sign_in")).click()
    page.wait_for_url("**/console/")
    return page


def figure(page, name: str) -> int:
    return int(page.locator(f'[data-indicator="{name}"] b').inner_text())


def fits_the_phone(page) -> None:
    """Nothing but a table in its own scroll box is wider than the screen."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= browser_harness.PHONE["width"], f"the page is {width} px wide"


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden' && e.type !== 'submit' && e.labels.length === 0)
    .map(e => e.name || e.id)"""


def texted(base_url: str, phone: str, text: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        send(http, text, phone=phone)


def test_staff_run_a_referral_from_the_console_on_a_phone(chromium, live, app, gateway):
    admin = signed_in(chromium, live, "admin@example.org")
    assert figure(admin, "codes_issued") == 0
    fits_the_phone(admin)

    admin.get_by_role("link", name=t("console.workers")).click()
    admin.get_by_label(t("console.name")).fill("Lò Văn Minh")
    admin.get_by_label(t("console.phone")).fill("0912 777 888")
    admin.get_by_label(t("console.district")).fill("Tuần Giáo")
    admin.get_by_role("button", name=t("console.add_worker")).click()
    admin.wait_for_url("**/console/workers")
    assert admin.locator("#workers").get_by_text("Lò Văn Minh").is_visible()
    app.state.dispatcher.wait_idle()
    assert gateway.to(NEW_WORKER), "the new worker got no welcome SMS"

    texted(live, NEW_WORKER, f"GT VCT {CLIENT}")
    app.state.dispatcher.wait_idle()
    with Session(app.state.engine) as s:
        code = s.exec(select(ReferralCode)).one().code
    admin.goto("/console/")
    assert figure(admin, "codes_issued") == 1 and figure(admin, "people_referred") == 1

    desk = signed_in(chromium, live, "desk@example.org")
    desk.get_by_role("link", name=t("console.menu_codes")).click()
    desk.get_by_label(t("console_codes.code")).fill(code)
    desk.get_by_role("button", name=t("console_codes.find")).click()
    desk.get_by_role("button", name=t("console_codes.confirm")).click()
    assert desk.get_by_role("status").is_visible()
    with Session(app.state.engine) as s:
        [redemption] = s.exec(select(Redemption)).all()
        assert redemption.channel == "web"
    app.state.dispatcher.wait_idle()
    assert len(gateway.to(NEW_WORKER)) == 3  # welcome, the code, the client came

    admin.goto("/console/")
    assert figure(admin, "redeemed") == 1
    fits_the_phone(admin)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    admin.screenshot(path=str(SCREENSHOT), full_page=True)


def test_a_viewer_can_add_nothing(chromium, live):
    viewer = signed_in(chromium, live, "viewer@example.org")
    for path in ("/console/workers", "/console/clinics", "/console/services", "/console/codes"):
        viewer.goto(path)
        assert viewer.locator("form[method=post] button[type=submit]").count() == 1, path  # sign-out only
    csrf = viewer.locator('input[name="csrf"]').first.input_value()
    forced = viewer.request.post(
        "/console/workers", form={"name": "X", "phone": "0912000999", "district": "", "csrf": csrf}
    )
    assert forced.status == 403
    viewer.goto("/console/workers")
    assert viewer.get_by_text("0912000999").count() == 0


def test_every_page_fits_a_phone_and_a_clinic_user_keeps_to_its_clinic(chromium, live, app):
    admin = signed_in(chromium, live, "admin@example.org")
    menu = [a.get_attribute("href") for a in admin.locator("nav a").all()]
    assert "/console/users" in menu and "/console/api-keys" in menu
    for path in menu:
        admin.goto(path)
        assert admin.locator("h1").count() >= 1, path
        fits_the_phone(admin)
        assert admin.evaluate(UNLABELLED) == [], f"form fields without a label on {path}"
    desk = signed_in(chromium, live, "desk@example.org")
    with Session(app.state.engine) as s:
        other = clinic_named(s, "Phong kham Muong Thanh").id
    assert desk.goto(f"/console/clinics/{other}").status == 403
    assert desk.get_by_role("alert").inner_text() == t("console.not_yours")
    assert desk.goto("/console/users").status == 403
