"""Where every inbound SMS comes in (`app.channels.sms.inbox.receive`),
under concurrency, through the webhook: SMS that arrive at the same moment
are each stored, answered and sent once."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import WEBHOOK_TOKEN
from tests.factories import CLIENT, SMS_WEBHOOK, at_sms, inbound, outbound, send


@pytest.mark.postgres_only
def test_copies_arriving_at_the_same_moment_are_stored_once_and_answered_once(client, session, gateway):
    body = at_sms(text="HELP", id="ATXid_race")
    copies = 8
    barrier = threading.Barrier(copies)
    statuses: list[int] = []

    def post():
        barrier.wait()
        statuses.append(client.post(f"{SMS_WEBHOOK}?token={WEBHOOK_TOKEN}", data=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [200] * copies
    assert len(inbound(session)) == 1
    assert len(outbound(session)) == 1
    assert len(gateway.to(CLIENT)) == 1


def test_many_sms_at_once_are_each_stored_answered_and_sent_once(client, session, gateway):
    """Sixteen phones texting at the same moment (one batch or several):
    every webhook answers 200 with its reply stored, and every phone gets
    exactly one reply."""
    phones = [f"+849130000{i:02d}" for i in range(16)]
    barrier = threading.Barrier(len(phones))
    statuses: list[int] = []

    def post(phone):
        barrier.wait()
        statuses.append(send(client, "HELP", phone=phone).status_code)

    threads = [threading.Thread(target=post, args=(p,)) for p in phones]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [200] * len(phones)
    assert client.app.state.dispatcher.wait_idle()
    assert sorted(m.phone for m in gateway.sent) == phones
    assert {m.status for m in outbound(session)} == {"sent"}
    assert len(inbound(session)) == len(phones)
