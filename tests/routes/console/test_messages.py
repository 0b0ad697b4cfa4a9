"""`/console/messages`: an SMS sent through the webhook and its replies, the
newest first; a viewer sees every phone masked, in the phone column and
inside the texts, an admin sees them whole; a clinic user is refused as a
clinic key is by `GET /messages`."""

from __future__ import annotations

import re

from markupsafe import escape
from sqlmodel import select

from app.demo import DEMO_WORKER_PHONE
from app.messages import render
from app.models import Message
from tests.factories import CLIENT, CLIENT_LOCAL, session_of, sms

MASKED_CLIENT = "+8491****678"
MASKED_WORKER = "+8490****001"


def row_of(page: str, kind: str, row_id: int) -> str:
    """The table row `data-<kind>="<row_id>"` of `page`."""
    return re.search(rf'<tr data-{kind}="{row_id}">.*?</tr>', page, re.S).group(0)


def _log(client) -> list[Message]:
    with session_of(client) as s:
        return list(s.exec(select(Message).order_by(Message.id)))


def test_a_viewer_sees_the_log_newest_first_with_every_phone_masked(staff):
    client = staff("viewer")
    sms(client, DEMO_WORKER_PHONE, f"GT VCT {CLIENT_LOCAL}")
    log = _log(client)
    inbound = next(m for m in log if m.direction == "in")
    assert CLIENT_LOCAL in inbound.text
    page = client.get("/console/messages")
    assert page.status_code == 200
    assert CLIENT not in page.text and CLIENT_LOCAL not in page.text and DEMO_WORKER_PHONE not in page.text
    row = row_of(page.text, "message", inbound.id)
    assert f"GT VCT {MASKED_CLIENT}" in row and MASKED_WORKER in row
    assert str(escape(render("console_logs.direction_in", "vi"))) in row
    assert str(escape(render("console_logs.kind_inbound", "vi"))) in row
    to_client = next(m for m in log if m.phone == CLIENT)
    assert MASKED_CLIENT in row_of(page.text, "message", to_client.id)
    shown = [int(n) for n in re.findall(r'data-message="(\d+)"', page.text)]
    assert shown == sorted((m.id for m in log), reverse=True)


def test_an_admin_sees_phones_and_texts_whole(staff):
    client = staff("admin")
    sms(client, DEMO_WORKER_PHONE, f"GT VCT {CLIENT_LOCAL}")
    log = _log(client)
    inbound = next(m for m in log if m.direction == "in")
    page = client.get("/console/messages?lang=en").text
    row = row_of(page, "message", inbound.id)
    assert f"GT VCT {CLIENT_LOCAL}" in row and DEMO_WORKER_PHONE in row
    assert CLIENT in row_of(page, "message", next(m for m in log if m.phone == CLIENT).id)
    assert render("console_logs.phones_masked", "en") not in page


def test_a_clinic_user_is_refused_as_a_clinic_key_is(staff):
    client = staff("clinic", clinic="Phong kham Him Lam")
    sms(client, DEMO_WORKER_PHONE, f"GT VCT {CLIENT_LOCAL}")
    page = client.get("/console/messages")
    assert page.status_code == 403
    assert str(escape(render("console.not_yours", "vi"))) in page.text and "data-message" not in page.text


def test_signed_out_the_page_leads_to_the_sign_in(client):
    r = client.get("/console/messages", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
