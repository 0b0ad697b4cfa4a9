"""The medic-gateway endpoint's test set-up: the application with
SMS_GATEWAY=medic-gateway, and polls shaped as the phone sends them
(cht-gateway's API: `messages` it received, `updates` of the ones we handed
it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.domain import message_log
from app.models import MessageKind
from app.sending.gateways.medic_gateway import MedicGateway
from tests.conftest import make_settings

URL = "/webhooks/medic-gateway"
PASSWORD = "correct horse battery staple"
AUTH = ("gateway", PASSWORD)
CLIENT = "+84912345678"
NOON = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 12:00 in Hanoi, outside quiet hours
NIGHT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 22:00 in Hanoi, inside 21:00-07:00
MORNING = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # 07:00 in Hanoi: the quiet hours end


def gateway_settings(database_url, **overrides):
    # a rate no poll of a test can use up (the allowance refills 10 a millisecond)
    values = dict(SMS_GATEWAY="medic-gateway", MEDIC_GATEWAY_PASSWORD=PASSWORD, SEND_RATE_PER_SECOND=10_000)
    values.update(overrides)
    return make_settings(database_url, **values)


@pytest.fixture
def settings(db, database_url):
    return gateway_settings(database_url)


@pytest.fixture
def gateway():
    return MedicGateway()


@pytest.fixture(autouse=True)
def _noon(frozen_clock):
    frozen_clock(NOON)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def sms(text: str = "HELP", sender: str = "0912345678", **fields) -> dict:
    """One SMS as the phone forwards it."""
    body = {
        "id": str(uuid.uuid4()),
        "from": sender,
        "content": text,
        "sms_sent": ms(NOON - timedelta(seconds=5)),
        "sms_received": ms(NOON - timedelta(seconds=3)),
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def post(client, body=None, *, auth=AUTH, **kwargs):
    if body is not None:
        kwargs["json"] = body
    return client.post(URL, auth=auth, **kwargs)


def exchange(client, messages=(), updates=()) -> list[dict]:
    """One poll; the messages handed out in its answer."""
    response = post(client, {"messages": list(messages), "updates": list(updates)})
    assert response.status_code == 200, response.text
    handed = response.json()["messages"]
    assert all(set(m) == {"id", "to", "content"} for m in handed)
    return handed


def queued(session, n: int = 1, kind=MessageKind.notification, phone: str = CLIENT) -> list[int]:
    """`n` outbound messages waiting in the queue."""
    ids = [message_log.queue(session, phone=phone, text=f"message {i}", kind=kind).id for i in range(n)]
    session.commit()
    return ids


def assert_error(response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] is True and isinstance(body["message"], str) and body["message"]
