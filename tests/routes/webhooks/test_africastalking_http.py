"""The HTTP side of the Africa's Talking webhooks (`app.routes.webhooks`):
the token, what a callback body may be, shortcodes, delivery reports, and
the USSD step's own limits and log line. The callback bodies are a table
(like nyaruka/courier's handler_test): each row names the body, the
expected HTTP status and what must be stored."""

from __future__ import annotations

import pytest

from app.main import create_app
from app.models import (
    Message,
)
from tests.conftest import WEBHOOK_TOKEN, SettledClient
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
    send,
    ussd_form,
    ussd_post,
)

DLR = "/webhooks/africastalking/delivery"


@pytest.fixture(autouse=True)
def _noon(frozen_clock):
    frozen_clock(NOON)


# ---------------------------------------------------------------- the callback table


def _raw(body: bytes, content_type="application/x-www-form-urlencoded"):
    return {"content": body, "headers": {"content-type": content_type}}


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


def _delivered(client, gateway, session) -> Message:
    send(client, "HELP")
    (reply,) = outbound(session)
    assert reply.gateway_id == gateway.sent[-1].gateway_id
    return reply


def dlr(client, **fields):
    body = {"id": "x", "status": "Success", "phoneNumber": CLIENT, "networkCode": "45204", "retryCount": "0"}
    body.update(fields)
    return client.post(f"{DLR}?token={WEBHOOK_TOKEN}", data={k: v for k, v in body.items() if v is not None})


@pytest.mark.parametrize(
    ("at_status", "ours"),
    [
        ("Success", "delivered"),
        ("Sent", "sent"),
        ("Buffered", "buffered"),
        ("Rejected", "rejected"),
        ("Failed", "failed"),
        ("Expired", "expired"),
    ],
)
def test_delivery_reports_update_the_message_by_gateway_id(client, session, gateway, at_status, ours):
    reply = _delivered(client, gateway, session)
    response = dlr(
        client,
        id=reply.gateway_id,
        status=at_status,
        failureReason="UserInBlacklist" if ours == "failed" else None,
    )
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    (row,) = outbound(session)
    assert row.status == ours
    assert row.error == ("UserInBlacklist" if ours == "failed" else None)


def test_a_late_intermediate_report_does_not_undo_delivered(client, session, gateway):
    reply = _delivered(client, gateway, session)
    dlr(client, id=reply.gateway_id, status="Success")
    dlr(client, id=reply.gateway_id, status="Buffered")
    assert outbound(session)[0].status == "delivered"


@pytest.mark.parametrize("fields", [{"id": "ATXid_unknown"}, {"status": "Exploded"}])
def test_an_unknown_report_is_answered_200_and_changes_nothing(client, session, gateway, fields):
    reply = _delivered(client, gateway, session)
    response = dlr(client, **{"id": reply.gateway_id, **fields})
    assert response.status_code == 200 and response.json() == {"status": "ignored"}
    assert outbound(session)[0].status == "sent"


@pytest.mark.parametrize(
    ("fields", "status"), [({"id": None}, 400), ({"status": None}, 400), ({"id": "x" * 300}, 400)]
)
def test_a_malformed_report_is_a_4xx(client, fields, status):
    assert dlr(client, **fields).status_code == status


# ---------------------------------------------------------------- USSD steps


def test_a_huge_body_is_refused_politely(client, demo):
    r = ussd_post(client, ussd_form(text="1" * 100_000))
    assert r.status_code == 200 and r.text.startswith("END ")


def test_each_step_is_logged_with_the_phone_masked(client, demo, caplog):
    from app.domain.phones import mask_phone

    caplog.set_level("INFO", logger="hen.ussd")
    dial(client, CLIENT, "1", "1")
    [record] = [r for r in caplog.records if r.name == "hen.ussd"]
    assert record.phone == mask_phone(CLIENT) and record.screen == "clinics" and record.answers == 2
    assert CLIENT not in str(record.__dict__)
