"""The Africa's Talking webhooks as a table of real callback bodies (the
form-encoded POSTs the gateway sends) and what each must do: delivery
reports change the message they name, USSD steps answer the screen."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from app import clock
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.messages import render
from app.models import Message, MessageKind, MessageStatus
from tests.conftest import WEBHOOK_TOKEN
from tests.discretion import assert_discreet

FORM = {"Content-Type": "application/x-www-form-urlencoded", "X-Webhook-Token": WEBHOOK_TOKEN}
CLIENT = "+84912345678"
GATEWAY_ID = "ATXid_7d1e4b0c7c5f4a5e9d1f"


def sent_message(session, status: MessageStatus = MessageStatus.sent) -> Message:
    """An outbound reply the gateway took, under GATEWAY_ID."""
    message = Message(
        direction="out",
        kind=MessageKind.reply,
        phone=CLIENT,
        text="x",
        status=status,
        gateway_id=GATEWAY_ID,
        sent_at=clock.now(),
    )
    session.add(message)
    session.commit()
    return message


# (body as Africa's Talking posts it, expected answer, stored status, stored error)
DELIVERY_REPORTS = {
    "delivered": (
        f"phoneNumber=%2B84912345678&retryCount=0&status=Success&networkCode=45204&id={GATEWAY_ID}",
        "ok",
        MessageStatus.delivered,
        None,
    ),
    "sent to the network": (f"id={GATEWAY_ID}&status=Sent&phoneNumber=%2B84912345678", "ok", "sent", None),
    "submitted": (f"id={GATEWAY_ID}&status=Submitted&phoneNumber=%2B84912345678", "ok", "sent", None),
    "buffered by the network": (
        f"id={GATEWAY_ID}&status=Buffered&phoneNumber=%2B84912345678&networkCode=45204&retryCount=1",
        "ok",
        MessageStatus.buffered,
        None,
    ),
    "rejected, with the reason": (
        f"id={GATEWAY_ID}&status=Rejected&phoneNumber=%2B84912345678&failureReason=InvalidPhoneNumber",
        "ok",
        MessageStatus.rejected,
        "InvalidPhoneNumber",
    ),
    "failed, with the reason": (
        f"id={GATEWAY_ID}&status=Failed&phoneNumber=%2B84912345678&networkCode=45204"
        "&failureReason=UserInBlacklist&retryCount=0",
        "ok",
        MessageStatus.failed,
        "UserInBlacklist",
    ),
    "expired": (
        f"id={GATEWAY_ID}&status=Expired&phoneNumber=%2B84912345678",
        "ok",
        MessageStatus.expired,
        None,
    ),
    "a status word we do not know": (f"id={GATEWAY_ID}&status=Teleported", "ignored", "sent", None),
    "a message id we do not know": ("id=ATXid_someone_else&status=Success", "ignored", "sent", None),
}


@pytest.mark.parametrize(
    ("body", "answer", "stored", "error"), DELIVERY_REPORTS.values(), ids=DELIVERY_REPORTS.keys()
)
def test_each_delivery_report_sets_the_status_its_table_says(client, session, body, answer, stored, error):
    message = sent_message(session)
    r = client.post("/webhooks/africastalking/delivery", content=body, headers=FORM)
    assert r.status_code == 200, r.text  # 200 even when ignored: the gateway retries anything else
    assert r.json() == {"status": answer}
    session.refresh(message)
    assert (message.status, message.error) == (stored, error)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("status=Success", 400),  # no id
        (f"id={GATEWAY_ID}", 400),  # no status
        (f"id={GATEWAY_ID}&status=" + "S" * 33, 400),  # longer than a status word
        (b"id=\xff\xfe&status=Success", 400),  # not UTF-8
    ],
)
def test_a_malformed_delivery_report_is_refused_and_changes_nothing(client, session, body, code):
    message = sent_message(session)
    r = client.post("/webhooks/africastalking/delivery", content=body, headers=FORM)
    assert r.status_code == code
    assert "detail" in r.json()
    session.refresh(message)
    assert message.status == MessageStatus.sent


def test_a_late_report_never_undoes_a_final_status(client, session):
    message = sent_message(session, MessageStatus.delivered)
    body = f"id={GATEWAY_ID}&status=Buffered&phoneNumber=%2B84912345678"
    assert client.post("/webhooks/africastalking/delivery", content=body, headers=FORM).json() == {
        "status": "ok"
    }
    session.refresh(message)
    assert message.status == MessageStatus.delivered


def test_a_delivery_report_without_the_token_is_refused(client, session):
    message = sent_message(session)
    r = client.post(
        "/webhooks/africastalking/delivery",
        content=f"id={GATEWAY_ID}&status=Failed",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code in (401, 403)
    session.refresh(message)
    assert message.status == MessageStatus.sent


def ussd_body(phone: str, text: str, **fields: str) -> str:
    """A USSD step as Africa's Talking posts it."""
    values = {
        "sessionId": "ATUid_5b0e1c4f2a9d",
        "serviceCode": "*384*123#",
        "phoneNumber": phone,
        "networkCode": "45204",
        "text": text,
    }
    values.update(fields)
    return urlencode({k: v for k, v in values.items() if v is not None})


def screen(key: str, **values) -> str:
    return render(key, "vi-ascii", **values)


# (phone, text so far, extra fields, the reply starts with, and holds)
USSD_STEPS = {
    "a client dials in": (CLIENT, "", {}, "CON ", screen("ussd.opt_find_clinic")),
    "a client in national format": ("0912345678", "", {}, "CON ", screen("ussd.opt_find_clinic")),
    "a worker dials in": (DEMO_WORKER_PHONE, "", {}, "CON ", screen("ussd.opt_issue")),
    "a clinic desk dials in": (DEMO_CLINIC_PHONE, "", {}, "CON ", screen("ussd.opt_redeem")),
    "a wrong choice is asked again": (CLIENT, "7", {}, "CON ", screen("ussd.invalid_choice")),
    "a check-code prompt": (CLIENT, "2", {}, "CON ", screen("ussd.enter_code")),
    "a code that is not one": (CLIENT, "2*12", {}, "CON ", screen("ussd.bad_code")),
    "back from a prompt": (CLIENT, "2*0", {}, "CON ", screen("ussd.opt_find_clinic")),
    "an unreadable caller": ("not-a-phone", "", {}, "END ", screen("ussd.bad_caller")),
    "no session id": (CLIENT, "", {"sessionId": None}, "END ", screen("ussd.bad_request")),
    "no text field": (CLIENT, None, {}, "END ", screen("ussd.bad_request")),
    "a session far too long": (CLIENT, "1*" * 60, {}, "END ", screen("ussd.too_long")),
}


@pytest.mark.parametrize(
    ("phone", "text", "extra", "starts", "holds"), USSD_STEPS.values(), ids=USSD_STEPS.keys()
)
def test_each_ussd_step_answers_its_screen(client, demo, phone, text, extra, starts, holds):
    r = client.post("/webhooks/africastalking/ussd", content=ussd_body(phone, text, **extra), headers=FORM)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith(starts), r.text
    assert holds in r.text, r.text
    assert len(r.text) <= 182 and r.text.isascii()
    assert_discreet(r.text)
