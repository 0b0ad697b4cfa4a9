"""The Africa's Talking webhooks through the real endpoints, as tables of
real callback bodies (the form-encoded POSTs the gateway sends; the shape of
nyaruka/courier's handler tests): incoming SMS and what each must store,
the token, delivery reports and the status each sets, USSD steps and the
screen each answers."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from app import clock
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain.phones import mask_phone
from app.main import create_app
from app.messages import render
from app.models import Message, MessageKind, MessageStatus
from tests.conftest import WEBHOOK_TOKEN, SettledClient
from tests.discretion import assert_discreet
from tests.factories import (
    CLIENT,
    NOON,
    SMS_WEBHOOK,
    USSD_WEBHOOK,
    at_sms,
    dial,
    inbound,
    messages,
    outbound,
    ussd_form,
    ussd_post,
)

DLR = "/webhooks/africastalking/delivery"
FORM = {"Content-Type": "application/x-www-form-urlencoded", "X-Webhook-Token": WEBHOOK_TOKEN}
GATEWAY_ID = "ATXid_7d1e4b0c7c5f4a5e9d1f"


@pytest.fixture(autouse=True)
def _noon(frozen_clock):
    frozen_clock(NOON)


def _raw(body: bytes, content_type="application/x-www-form-urlencoded"):
    return {"content": body, "headers": {"content-type": content_type}}


# ---------------------------------------------------------------- incoming SMS


CALLBACKS = [
    # name, request kwargs, status, inbound rows stored, stored phone
    ("valid AT callback", {"data": at_sms()}, 200, 1, CLIENT),
    ("local number", {"data": at_sms(**{"from": "0912 345 678"})}, 200, 1, CLIENT),
    ("number without plus", {"data": at_sms(**{"from": "84912345678"})}, 200, 1, CLIENT),
    ("empty text", {"data": at_sms(text="")}, 200, 1, CLIENT),
    ("diacritics", {"data": at_sms(text="Giúp")}, 200, 1, CLIENT),
    ("without optional fields", {"data": at_sms(date=None, linkId=None, networkCode=None)}, 200, 1, CLIENT),
    ("NUL in text", {"data": at_sms(text="HE\x00LP")}, 200, 1, CLIENT),
    ("missing from", {"data": at_sms(**{"from": None})}, 400, 0, None),
    ("missing to", {"data": at_sms(to=None)}, 400, 0, None),
    ("missing id", {"data": at_sms(id=None)}, 400, 0, None),
    ("empty id", {"data": at_sms(id="")}, 400, 0, None),
    ("missing text", {"data": at_sms(text=None)}, 400, 0, None),
    ("unparseable phone", {"data": at_sms(**{"from": "hello"})}, 400, 0, None),
    ("alphanumeric sender", {"data": at_sms(**{"from": "VIETTEL"})}, 400, 0, None),
    ("id too long", {"data": at_sms(id="x" * 200)}, 400, 0, None),
    ("invalid UTF-8 escaped", _raw(b"from=%2B84912345678&to=8088&text=%FF%FE&id=a1"), 400, 0, None),
    ("invalid UTF-8 raw", _raw(b"from=%2B84912345678&to=8088&text=\xff\xfe&id=a2"), 400, 0, None),
    ("JSON instead of a form", _raw(b'{"from": "+84912345678"}', "application/json"), 415, 0, None),
    ("5 MB body", _raw(b"from=%2B84912345678&to=8088&id=a3&text=" + b"a" * 5_000_000), 413, 0, None),
    ("5 MB chunked body", lambda: {"content": iter([b"text="] + [b"a" * 65_536] * 80)}, 413, 0, None),
    ("too many fields", _raw(b"&".join(b"f%d=1" % i for i in range(200))), 400, 0, None),
]


@pytest.mark.parametrize(
    ("name", "request_kwargs", "status", "stored", "phone"), CALLBACKS, ids=[c[0] for c in CALLBACKS]
)
def test_callback_table(client, session, name, request_kwargs, status, stored, phone):
    if callable(request_kwargs):  # a fresh streaming body each run
        request_kwargs = request_kwargs()
    response = client.post(f"{SMS_WEBHOOK}?token={WEBHOOK_TOKEN}", **request_kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) >= ({"status"} if status == 200 else {"detail"})
    got = inbound(session)
    assert len(got) == stored
    if stored:
        assert got[0].phone == phone
        assert got[0].shortcode == "8088"
        assert "\x00" not in got[0].text
        assert len(outbound(session, in_reply_to=got[0].id)) == 1  # answered, already stored
    else:
        assert outbound(session) == []


def test_a_10000_character_text_gets_the_normal_reply_and_is_stored_cut(client, session):
    """An SMS text is kept to its first 1,600 characters (ten segments),
    stored and handled: a longer one is answered like its beginning."""
    short = client.post(SMS_WEBHOOK, data=at_sms(text="HELP"), headers=FORM)
    long = client.post(SMS_WEBHOOK, data=at_sms(text="HELP" + " x" * 4998), headers=FORM)
    assert short.status_code == long.status_code == 200
    first, second = inbound(session)
    assert len(second.text) == 1_600 and second.text == ("HELP" + " x" * 4998)[:1_600]
    [reply_to_short] = outbound(session, in_reply_to=first.id)
    [reply_to_long] = outbound(session, in_reply_to=second.id)
    assert reply_to_long.text == reply_to_short.text


# ---------------------------------------------------------------- token


@pytest.mark.parametrize("path", [SMS_WEBHOOK, DLR])
@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", {}),
        ("?token=wrong", {}),
        ("?token=", {}),
        ("", {"X-Webhook-Token": "wrong"}),
        ("?token=" + WEBHOOK_TOKEN[:-1], {}),
    ],
)
def test_a_wrong_or_missing_token_is_refused_and_nothing_is_stored(
    client, session, gateway, path, query, headers
):
    response = client.post(path + query, data=at_sms(status="Success"), headers=headers)
    assert response.status_code == 403
    assert response.json() == {"detail": "invalid or missing webhook token"}
    assert messages(session) == [] and gateway.sent == []


def test_the_token_may_come_as_a_header(client, session):
    response = client.post(SMS_WEBHOOK, data=at_sms(), headers={"X-Webhook-Token": WEBHOOK_TOKEN})
    assert response.status_code == 200
    assert len(inbound(session)) == 1


def test_an_unknown_shortcode_is_refused_when_shortcodes_are_configured(settings, gateway, db, session):

    app = create_app(settings.model_copy(update={"sms_shortcodes": "8088, 8089"}), gateway=gateway, engine=db)
    with SettledClient(app) as c:
        bad = c.post(f"{SMS_WEBHOOK}?token={WEBHOOK_TOKEN}", data=at_sms(to="9999"))
        good = c.post(f"{SMS_WEBHOOK}?token={WEBHOOK_TOKEN}", data=at_sms(to="8089"))
    assert bad.status_code == 400 and "shortcode" in bad.json()["detail"]
    assert good.status_code == 200
    assert [m.shortcode for m in inbound(session)] == ["8089"]


def test_a_wrong_or_missing_token_is_refused(client, demo):
    assert ussd_post(client, ussd_form(), token=None).status_code == 403
    assert ussd_post(client, ussd_form(), token="wrong").status_code == 403
    r = client.post(USSD_WEBHOOK + f"?token={WEBHOOK_TOKEN}", data=ussd_form())
    assert r.status_code == 200 and r.text.startswith("CON ")


# ---------------------------------------------------------------- delivery reports


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
    "a report naming another phone": (
        f"id={GATEWAY_ID}&status=Failed&phoneNumber=%2B84987654321&failureReason=UserInBlacklist",
        "ignored",
        "sent",
        None,
    ),
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
        (("id=" + "x" * 300 + "&status=Success").encode(), 400),  # longer than any gateway id
    ],
)
def test_a_malformed_delivery_report_is_refused_and_changes_nothing(client, session, body, code):
    message = sent_message(session)
    r = client.post("/webhooks/africastalking/delivery", content=body, headers=FORM)
    assert r.status_code == code
    assert "detail" in r.json()
    session.refresh(message)
    assert message.status == MessageStatus.sent


@pytest.mark.parametrize("later", ["Failed", "Rejected", "Expired", "Success"])
def test_a_later_final_report_never_replaces_a_final_status(client, session, later):
    message = sent_message(session, MessageStatus.delivered)
    body = f"id={GATEWAY_ID}&status={later}&failureReason=UserInBlacklist"
    assert client.post(DLR, content=body, headers=FORM).status_code == 200
    session.refresh(message)
    assert (message.status, message.error) == (MessageStatus.delivered, None)


def test_a_late_report_never_undoes_a_final_status(client, session):
    message = sent_message(session, MessageStatus.delivered)
    body = f"id={GATEWAY_ID}&status=Buffered&phoneNumber=%2B84912345678"
    assert client.post("/webhooks/africastalking/delivery", content=body, headers=FORM).json() == {
        "status": "ok"
    }
    session.refresh(message)
    assert message.status == MessageStatus.delivered


# ---------------------------------------------------------------- USSD steps


HUGE_USSD_BODIES = {
    "declared": lambda: {"data": ussd_form(text="1" * 100_000)},
    "chunked, no Content-Length": lambda: {"content": (b"text=" + b"1" * 8_192 for _ in range(100))},
}


@pytest.mark.parametrize("body", HUGE_USSD_BODIES.values(), ids=HUGE_USSD_BODIES.keys())
def test_a_ussd_body_over_the_cap_is_a_413_whatever_its_headers(client, demo, body):
    kwargs = body()
    r = client.post(USSD_WEBHOOK, headers={"X-Webhook-Token": WEBHOOK_TOKEN}, **kwargs)
    assert r.status_code == 413
    assert r.json() == {"detail": "body larger than 16384 bytes"}


def test_each_step_is_logged_with_the_phone_masked(client, demo, caplog):
    caplog.set_level("INFO", logger="hen.ussd")
    dial(client, CLIENT, "1", "1")
    [record] = [r for r in caplog.records if r.name == "hen.ussd"]
    assert record.phone == mask_phone(CLIENT) and record.screen == "clinics" and record.answers == 2
    assert CLIENT not in str(record.__dict__)


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
