"""Which messages a polling phone is handed, by the dispatcher's rules:
quiet hours, opt-out, the rate, the batch, the lease."""

from __future__ import annotations

from datetime import timedelta

from app.main import create_app
from app.models import Message, MessageKind
from app.sending.gateways.medic_gateway import MedicGateway
from tests.conftest import SettledClient
from tests.factories import messages
from tests.routes.webhooks.medic_gateway.conftest import (
    CLIENT,
    MORNING,
    NIGHT,
    NOON,
    exchange,
    gateway_settings,
    queued,
    sms,
)

# ---------------------------------------------------------------- hand-out rules


def test_at_most_a_batch_is_handed_out_per_poll(db, database_url, session):
    ids = queued(session, 5)
    app = create_app(gateway_settings(database_url, MEDIC_GATEWAY_BATCH=3), gateway=MedicGateway(), engine=db)
    with SettledClient(app) as client:
        first, second, third = exchange(client), exchange(client), exchange(client)
    assert (len(first), len(second), third) == (3, 2, [])
    assert sorted(int(m["id"]) for m in first + second) == ids


def test_the_send_rate_holds_across_polls(db, database_url, session):
    queued(session, 5)
    # 0.01 a second: one batch at the start, then nothing more within the test
    settings = gateway_settings(database_url, SEND_RATE_PER_SECOND=0.01, MEDIC_GATEWAY_BATCH=3)
    with SettledClient(create_app(settings, gateway=MedicGateway(), engine=db)) as client:
        first, second = exchange(client), exchange(client)
    assert (len(first), second) == (3, [])  # due, and the batch has room, but the rate has not
    waiting = [m for m in messages(session) if m.status == "queued"]
    assert len(waiting) == 2 and all(m.attempts == 0 and m.claimed_by is None for m in waiting)


def test_a_reminder_inside_the_quiet_hours_waits_for_the_morning(client, session, frozen_clock):
    frozen_clock(NIGHT)
    [reminder] = queued(session, kind=MessageKind.reminder)
    [reply] = queued(session, kind=MessageKind.reply)
    assert [m["id"] for m in exchange(client)] == [str(reply)]  # replies go at night
    row = session.get(Message, reminder)
    session.refresh(row)
    assert (row.status, row.next_attempt_at, row.attempts) == ("queued", MORNING, 0)
    frozen_clock(MORNING - timedelta(minutes=1))
    assert exchange(client, updates=[{"id": str(reply), "status": "SENT"}]) == []
    frozen_clock(MORNING)
    assert [m["id"] for m in exchange(client)] == [str(reminder)]


def test_an_opted_out_phone_gets_only_the_stop_confirmation(client, session, frozen_clock):
    [before] = queued(session)  # queued, then the client opts out
    frozen_clock(NOON + timedelta(minutes=1))
    handed = exchange(client, [sms("STOP")])
    [confirmation] = [m for m in messages(session, direction="out") if m.id != before]
    assert handed == [{"id": str(confirmation.id), "to": CLIENT, "content": confirmation.text}]
    row = session.get(Message, before)
    assert (row.status, row.error) == ("skipped", "opted_out")


def test_a_message_not_confirmed_within_the_lease_is_offered_again(client, session, settings, frozen_clock):
    [message_id] = queued(session)
    assert [m["id"] for m in exchange(client)] == [str(message_id)]
    assert exchange(client) == []  # still under the lease: the phone may be sending it
    frozen_clock(NOON + timedelta(seconds=settings.claim_lease_seconds - 1))
    assert exchange(client) == []
    frozen_clock(NOON + timedelta(seconds=settings.claim_lease_seconds + 1))
    assert [m["id"] for m in exchange(client)] == [str(message_id)]  # the answer was lost: again
    assert messages(session)[0].attempts == 2
    exchange(client, updates=[{"id": str(message_id), "status": "UNSENT"}])
    frozen_clock(NOON + timedelta(seconds=3 * settings.claim_lease_seconds))
    assert exchange(client) == []
    assert messages(session)[0].status == "sent"


def test_a_message_never_confirmed_fails_after_the_last_attempt(db, database_url, session, frozen_clock):
    [message_id] = queued(session)
    settings = gateway_settings(database_url, MAX_SEND_ATTEMPTS=2)
    with SettledClient(create_app(settings, gateway=MedicGateway(), engine=db)) as client:
        for n in range(3):
            frozen_clock(NOON + timedelta(seconds=n * (settings.claim_lease_seconds + 1)))
            handed = exchange(client)
            assert len(handed) == (1 if n < 2 else 0)
    [row] = messages(session)
    assert row.status == "failed" and "never confirmed" in row.error and row.claimed_by is None
