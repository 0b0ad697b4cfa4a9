"""Kannel's callbacks through the real endpoints: incoming SMS as its
get-url sends them (`?from=%p&to=%P&text=%a&id=%I`), delivery reports as
its dlr-url does (`?id=<our id>&status=%d&answer=%A`)."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from app import clock
from app.db import session_factory
from app.demo import DEMO_WORKER_PHONE
from app.domain import message_log
from app.messages import render
from app.models import Message, MessageKind, MessageStatus
from app.sending.claims import Claims
from app.sending.delivery import Delivery
from app.sending.gateways.base import SendResult
from tests.conftest import WEBHOOK_TOKEN

CLIENT = "+84912345678"
KANNEL_ID = "1c4e8f2a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"  # %I: a UUID


def mo(client, method: str = "GET", token: str | None = WEBHOOK_TOKEN, **fields):
    """An incoming SMS as Kannel's sms-service get-url delivers it."""
    values = {"token": token, "from": CLIENT, "to": "8088", "text": "HELP", "id": KANNEL_ID}
    values.update(fields)
    query = urlencode({k: v for k, v in values.items() if v is not None})
    return client.request(method, f"/webhooks/kannel/sms?{query}")


def inbound(session) -> list[Message]:
    session.expire_all()
    return list(session.exec(select(Message).where(Message.direction == "in")).all())


def test_an_incoming_sms_is_stored_answered_empty_and_replied_to(client, session, gateway):
    r = mo(client)
    assert (r.status_code, r.content) == (200, b"")
    [row] = inbound(session)
    assert (row.gateway, row.external_id, row.phone, row.shortcode) == ("kannel", KANNEL_ID, CLIENT, "8088")
    assert gateway.to(CLIENT) == [render("sms.help_client", "vi-ascii")]


def test_kannel_may_post_the_same_query(client, session, gateway):
    assert mo(client, method="POST").status_code == 200
    assert len(inbound(session)) == 1 and len(gateway.to(CLIENT)) == 1


def test_the_same_kannel_id_twice_is_stored_and_answered_once(client, session, gateway):
    assert mo(client).status_code == 200
    assert mo(client).status_code == 200
    assert len(inbound(session)) == 1
    assert len(gateway.to(CLIENT)) == 1


def test_the_same_id_from_another_gateway_is_another_message(client, session):
    at = {"from": CLIENT, "to": "8088", "text": "HELP", "id": KANNEL_ID}
    headers = {"X-Webhook-Token": WEBHOOK_TOKEN}
    assert client.post("/webhooks/africastalking/sms", data=at, headers=headers).status_code == 200
    assert mo(client).status_code == 200
    assert sorted(m.gateway for m in inbound(session)) == ["africastalking", "kannel"]


def test_vietnamese_text_arrives_as_typed(client, session):
    assert mo(client, text="Giúp tôi với").status_code == 200
    assert inbound(session)[0].text == "Giúp tôi với"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"from": None}, "from: field required"),
        ({"id": None}, "id: field required"),
        ({"id": ""}, "id: must not be empty"),
        ({"text": None}, "text: field required"),
        ({"from": "not a phone"}, "from: not a valid phone number"),
        ({"from": "+1"}, "from: not a valid phone number"),
    ],
)
def test_a_callback_without_what_it_needs_is_refused_and_nothing_stored(client, session, fields, says):
    r = mo(client, **fields)
    assert r.status_code == 400
    assert r.json()["detail"] == says
    assert inbound(session) == []


def test_a_wrong_or_missing_token_is_refused_and_nothing_stored(client, session):
    assert mo(client, token="wrong").status_code == 403
    assert mo(client, token=None).status_code == 403
    assert inbound(session) == []


def test_a_workers_referral_by_kannel_reaches_worker_and_client(client, demo, gateway):
    assert mo(client, **{"from": DEMO_WORKER_PHONE, "text": "GT VCT 0912345678"}).status_code == 200
    assert len(gateway.to(DEMO_WORKER_PHONE)) == 1
    assert len(gateway.to(CLIENT)) == 1


# ---------------------------------------------------------------- delivery reports


def sent_message(session, status: MessageStatus = MessageStatus.sent) -> Message:
    message = Message(
        direction="out", kind=MessageKind.reply, phone=CLIENT, text="x", status=status, sent_at=clock.now()
    )
    session.add(message)
    session.commit()
    message.gateway, message.gateway_id = "kannel", str(message.id)
    session.commit()
    return message


def dlr(client, message_id, status: str, answer: str | None = None, token: str = WEBHOOK_TOKEN):
    values = {"token": token, "id": message_id, "status": status, "answer": answer}
    return client.get(
        "/webhooks/kannel/delivery?" + urlencode({k: v for k, v in values.items() if v is not None})
    )


# Kannel's report type %d -> what the message shows
REPORTS = {
    "1 delivered to the phone": ("1", None, "ok", MessageStatus.delivered, None),
    "2 not delivered to the phone": (
        "2",
        "stat:UNDELIV err:001",
        "ok",
        MessageStatus.failed,
        "stat:UNDELIV err:001",
    ),
    "4 queued at the SMSC": ("4", None, "ok", MessageStatus.buffered, None),
    "8 accepted by the SMSC": ("8", "ACK/", "ok", MessageStatus.sent, None),
    "16 rejected by the SMSC": (
        "16",
        "NACK/0x0000000b/Invalid Destination",
        "ok",
        MessageStatus.rejected,
        "NACK/0x0000000b/Invalid Destination",
    ),
    "a type Kannel does not have": ("3", None, "ignored", MessageStatus.sent, None),
}


@pytest.mark.parametrize(("kind", "answer", "says", "stored", "error"), REPORTS.values(), ids=REPORTS.keys())
def test_each_report_type_sets_the_status_its_table_says(client, session, kind, answer, says, stored, error):
    message = sent_message(session)
    r = dlr(client, message.id, kind, answer)
    assert r.status_code == 200 and r.json() == {"status": says}
    session.refresh(message)
    assert (message.status, message.error) == (stored, error)


def test_a_report_for_an_unknown_message_is_answered_and_ignored(client, session):
    assert dlr(client, 987654, "1").json() == {"status": "ignored"}


@pytest.mark.parametrize("bad_id", ["abc", "-1", "1.5", "9" * 19, ""])
def test_a_report_with_an_id_that_is_not_ours_is_refused(client, session, bad_id):
    message = sent_message(session)
    assert dlr(client, bad_id, "1").status_code == 400
    session.refresh(message)
    assert message.status == MessageStatus.sent


@pytest.mark.parametrize("large", ["2147483648", "9999999999"])
def test_a_report_for_an_id_larger_than_any_of_ours_is_ignored(client, session, large):
    message = sent_message(session)
    r = dlr(client, large, "1")
    assert (r.status_code, r.json()) == (200, {"status": "ignored"})
    session.refresh(message)
    assert message.status == MessageStatus.sent


def test_a_report_for_another_gateways_message_is_ignored(client, session):
    message = sent_message(session)
    message.gateway = "africastalking"
    session.commit()
    assert dlr(client, message.id, "1").json() == {"status": "ignored"}
    session.refresh(message)
    assert message.status == MessageStatus.sent


@pytest.mark.parametrize("later", ["2", "16", "8", "4"])
def test_delivered_stays_whatever_report_comes_after(client, session, later):
    message = sent_message(session)
    assert dlr(client, message.id, "1").status_code == 200
    assert dlr(client, message.id, later).status_code == 200
    session.refresh(message)
    assert message.status == MessageStatus.delivered


def test_a_final_status_is_never_overwritten_by_a_later_report(client, session):
    message = sent_message(session)
    assert dlr(client, message.id, "1").status_code == 200
    assert dlr(client, message.id, "8").status_code == 200  # a late "accepted by the SMSC"
    session.refresh(message)
    assert message.status == MessageStatus.delivered


def test_a_report_with_a_wrong_token_changes_nothing(client, session):
    message = sent_message(session)
    assert dlr(client, message.id, "1", token="wrong").status_code == 403
    session.refresh(message)
    assert message.status == MessageStatus.sent


def test_a_report_that_beats_the_sends_own_answer_stands(session, settings, db):
    """Kannel may report delivery before the dispatcher has stored its own
    result of the send: the report's status stays, the send's facts are kept."""
    factory = session_factory(db)
    queued = message_log.queue(session, phone=CLIENT, text="x", kind=MessageKind.reply, hand_over=False)
    session.commit()

    class EarlyReport:
        name = "kannel"

        def send(self, phone, text, message_id=None):
            with factory() as s:  # the dlr-url request, while the send is still open
                message_log.record_delivery_report(
                    s, message_id=message_id, gateway="kannel", status=MessageStatus.delivered
                )
                s.commit()
            return SendResult(gateway_id=str(message_id))

    claims = Claims(factory, settings)
    delivery = Delivery(factory, EarlyReport(), settings, claims, threading.Event())
    [row] = claims.queued([queued.id])
    assert delivery.deliver(row) == 1
    stored = session.get(Message, queued.id)
    session.refresh(stored)
    assert (stored.status, stored.gateway, stored.gateway_id) == (
        MessageStatus.delivered,
        "kannel",
        str(queued.id),
    )
    assert stored.claimed_by is None


def test_a_send_cut_by_a_crash_is_not_sent_again_and_kannels_report_settles_it(
    client, session, settings, db, gateway, frozen_clock
):
    """Kannel numbers reports by our id: a message whose dispatcher died during
    the call is noted unconfirmed, never sent a second time, and the report
    Kannel sends for it later still finds it."""
    from datetime import UTC, datetime, timedelta

    from app.domain.message_log import INTERRUPTED

    factory = session_factory(db)
    queued = message_log.queue(session, phone=CLIENT, text="x", kind=MessageKind.reply, hand_over=False)
    session.commit()
    claims = Claims(factory, settings)
    [row] = claims.queued([queued.id])
    with factory() as s:  # the call began; then the process died
        assert message_log.mark_submitted(s, row.id, row.claim, gateway="kannel")
        s.commit()
    frozen_clock(datetime.now(UTC) + timedelta(seconds=settings.claim_lease_seconds + 5))
    assert claims.due_messages(10) == []  # nothing to send again
    stored = session.get(Message, queued.id)
    session.refresh(stored)
    assert (stored.status, stored.error) == (MessageStatus.sent, INTERRUPTED)
    assert gateway.sent == []
    assert dlr(client, queued.id, "1").json() == {"status": "ok"}
    session.refresh(stored)
    assert stored.status == MessageStatus.delivered
