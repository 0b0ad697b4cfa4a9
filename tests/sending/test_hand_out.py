"""The dispatcher with a gateway that fetches its messages (medic-gateway):
the tick only feeds the outbox, hand-overs wait for the poll, and
`hand_out` gives the poll what a push would have sent. The endpoint's own
tests are in tests/routes/webhooks/test_medic_gateway.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app import clock
from app.db import session_factory
from app.domain.message_log import queue as queue_message
from app.models import Message, MessageKind, MessageStatus, Reminder, ReminderKind, ReminderStatus
from app.sending.dispatcher import Dispatcher
from app.sending.gateways.base import GatewayError
from app.sending.gateways.medic_gateway import MedicGateway
from app.sending.gateways.memory import MemoryGateway

PHONE = "+84912345678"


@pytest.fixture
def make(settings, db):
    made: list[Dispatcher] = []

    def build(gateway=None, **overrides) -> Dispatcher:
        values = {"quiet_hours": "", "send_rate_per_second": 1000.0, **overrides}
        d = Dispatcher(session_factory(db), gateway or MedicGateway(), settings.model_copy(update=values))
        made.append(d)
        return d

    yield build
    for d in made:
        d.stop_background()


def messages(session) -> list[Message]:
    session.expire_all()
    return list(session.exec(select(Message).order_by(Message.id)).all())


def queued(session, n=1) -> list[int]:
    ids = [
        queue_message(session, phone=PHONE, text=f"m{i}", kind=MessageKind.notification).id for i in range(n)
    ]
    session.commit()
    return ids


def test_a_pull_gateway_is_never_called():
    with pytest.raises(GatewayError) as raised:
        MedicGateway().send(PHONE, "x")
    assert raised.value.retryable  # a caller that tries anyway leaves the row in the queue
    assert MedicGateway.pulls and MedicGateway.name == "medic-gateway"


def test_the_tick_turns_due_reminders_into_messages_and_sends_nothing(make, session):
    for _ in range(3):
        session.add(
            Reminder(
                kind=ReminderKind.custom,
                phone=PHONE,
                due_at=clock.now() - timedelta(minutes=1),
                text_key="reminder.custom_visit",
                params={"clinic": "Phong kham Him Lam", "date": "24/12/2026"},
            )
        )
    session.commit()
    d = make(dispatch_batch_size=2)  # two conversions in one tick
    assert d.tick() == 0
    reminders = session.exec(select(Reminder)).all()
    assert all(r.status == ReminderStatus.sent for r in reminders)
    rows = messages(session)
    assert len(rows) == 3
    assert all(m.status == MessageStatus.queued and m.attempts == 0 and m.error is None for m in rows)
    first, second = d.hand_out(10), d.hand_out(10)  # a claim takes at most DISPATCH_BATCH_SIZE
    assert (len(first), len(second)) == (2, 1)
    assert sorted(h.id for h in first + second) == [m.id for m in rows]


def test_a_hand_over_waits_for_the_poll(make, session):
    [message_id] = queued(session)
    d = make()
    d.send_soon([message_id])
    assert d.wait_idle(1.0)
    assert [m.status for m in messages(session)] == ["queued"]


def test_a_handed_out_message_stays_claimed_under_its_lease(make, session):
    [message_id] = queued(session)
    d = make()
    [handed] = d.hand_out(5)
    assert (handed.id, handed.phone, handed.text) == (message_id, PHONE, "m0")
    [row] = messages(session)
    assert row.status == MessageStatus.sending and row.claimed_by == handed.claim
    assert row.claimed_until == handed.claimed_until
    assert (row.gateway, row.gateway_id, row.attempts) == ("medic-gateway", str(message_id), 1)
    assert d.hand_out(5) == []


def test_nothing_is_handed_out_by_a_dispatcher_that_pushes_or_is_stopping(make, session):
    queued(session)
    assert make(MemoryGateway()).hand_out(5) == []
    stopping = make()
    stopping.stop_background()
    assert stopping.hand_out(5) == []
    assert [m.status for m in messages(session)] == ["queued"]
