"""`/console/workers`: an admin adds a worker, who gets the welcome SMS and
can then issue a code by SMS; a viewer sees masked phones and cannot add;
bad phones and duplicates get a message on the page and change nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.domain import users
from app.domain.code_text import format_code
from app.messages import render
from app.models import Worker
from tests.factories import CLIENT_LOCAL, NOW, last_code, notifications_to, reply, sms_text
from tests.routes.console.test_console import PASSWORD, _csrf, sign_in

NEW_PHONE = "0912 777 888"
NEW_E164 = "+84912777888"


@pytest.fixture
def admin(demo, client, frozen_clock):
    frozen_clock(NOW)
    users.create_user(demo, role="admin", name="Admin", email="admin@example.org", password=PASSWORD)
    users.create_user(demo, role="viewer", name="Viewer", email="po@example.org", password=PASSWORD)
    demo.commit()
    assert sign_in(client, email="admin@example.org").status_code == 303
    return client


def _add(client, **fields):
    page = client.get("/console/workers").text
    data = {"name": "Lò Văn Minh", "phone": NEW_PHONE, "district": "Tuan Giao", "csrf": _csrf(page), **fields}
    return client.post("/console/workers", data=data, follow_redirects=False)


def test_an_admin_adds_a_worker_who_is_welcomed_and_then_refers_by_sms(admin, demo):
    assert _add(admin).status_code == 303
    page = admin.get("/console/workers").text
    assert "Lò Văn Minh" in page and NEW_E164 in page
    [welcome] = notifications_to(admin, NEW_E164)
    assert welcome.text == render("sms.help_worker", "vi-ascii")
    text = reply(admin, NEW_E164, f"GT VCT {CLIENT_LOCAL}")
    code = last_code(admin)
    assert code.worker_id == demo.exec(select(Worker).where(Worker.phone == NEW_E164)).one().id
    assert format_code(code.code) in text and "+8491****678" in text


@pytest.mark.parametrize(
    ("phone", "says"),
    [
        ("02033845678", render("registry.worker_not_mobile", "vi", phone="02033845678")),
        ("12", render("error.invalid_phone", "vi")),
        ("+84900000002", render("registry.phone_is_staff", "vi", phone="+84900000002")),
        ("0900000001", render("registry.phone_is_workers", "vi", phone="+84900000001")),
    ],
)
def test_a_bad_or_taken_phone_is_refused_on_the_page_in_words_and_nothing_is_saved(admin, demo, phone, says):
    before = len(demo.exec(select(Worker)).all())
    r = _add(admin, phone=phone)
    assert r.status_code == 422 and 'role="alert"' in r.text
    assert says in r.text.replace("&#34;", '"')
    demo.expire_all()
    assert len(demo.exec(select(Worker)).all()) == before


def test_an_admin_deactivates_a_worker_who_can_then_refer_no_more(admin, demo):
    _add(admin)
    worker = demo.exec(select(Worker).where(Worker.phone == NEW_E164)).one()
    page = admin.get("/console/workers").text
    r = admin.post(
        f"/console/workers/{worker.id}/deactivate", data={"csrf": _csrf(page)}, follow_redirects=False
    )
    assert r.status_code == 303
    assert reply(admin, NEW_E164, f"GT VCT {CLIENT_LOCAL}") == sms_text("codes.worker_inactive")
    page = admin.get("/console/workers").text
    assert render("console.inactive", "vi") != render("console.deactivate", "vi")
    back = admin.post(
        f"/console/workers/{worker.id}/reactivate", data={"csrf": _csrf(page)}, follow_redirects=False
    )
    assert back.status_code == 303
    again = reply(admin, NEW_E164, "GT VCT 0912345679")
    code = last_code(admin)
    assert code.worker_id == worker.id and format_code(code.code) in again  # refers again


def test_a_viewer_sees_masked_phones_and_cannot_add(client, admin, demo):
    _add(admin)
    client.cookies.clear()
    assert sign_in(client, email="po@example.org").status_code == 303
    page = client.get("/console/workers").text
    assert NEW_E164 not in page and "+8491****888" in page
    assert 'action="/console/workers"' not in page
    token = _csrf(client.get("/console/").text)  # the session's own form token
    forced = client.post(
        "/console/workers",
        data={"name": "X", "phone": "0912000999", "csrf": token},
        follow_redirects=False,
    )
    assert forced.status_code == 403
    assert demo.exec(select(Worker).where(Worker.phone == "+84912000999")).first() is None


def test_a_form_without_its_token_is_refused(admin, demo):
    r = admin.post("/console/workers", data={"name": "X", "phone": "0912000999"}, follow_redirects=False)
    assert r.status_code == 403
    assert demo.exec(select(Worker).where(Worker.phone == "+84912000999")).first() is None
    assert render("console.form_expired", "vi") in r.text and "<nav" in r.text
