"""End to end through a real Kannel (bearerbox, smsbox and the fake SMS
centre of Debian's kannel-extras) and the application under uvicorn, with
SMS_GATEWAY=kannel: an SMS typed into the fake SMSC reaches the webhook,
the reply reaches the fake SMSC, Kannel's delivery reports update the
message, a worker's referral reaches worker and client, and Vietnamese
with diacritics arrives intact as UCS-2."""

from __future__ import annotations

import re
import threading
import time

import pytest
import uvicorn
from sqlmodel import Session, select

from app.db import session_factory
from app.demo import DEMO_WORKER_PHONE, load_demo
from app.main import create_app
from app.messages import render
from app.models import Message, MessageStatus
from tests import kannel_harness
from tests.conftest import WEBHOOK_TOKEN, make_settings

kannel = kannel_harness.kannel  # the fixture: a real Kannel for this module
SHORTCODE = "8100"  # the number of deploy/kannel/fakesmsc.conf


@pytest.fixture(scope="module")
def app_port() -> int:
    return kannel_harness.free_port()


@pytest.fixture(scope="module")
def kannel_get_url(app_port) -> str:
    return (
        f"http://127.0.0.1:{app_port}/webhooks/kannel/sms?token={WEBHOOK_TOKEN}&from=%p&to=%P&text=%a&id=%I"
    )


@pytest.fixture
def served(kannel, app_port, database_url, db):
    """The application with SMS_GATEWAY=kannel, listening where Kannel's get-url points."""
    settings = make_settings(
        database_url,
        SMS_GATEWAY="kannel",
        KANNEL_SENDSMS_URL=kannel.sendsms_url,
        KANNEL_USERNAME=kannel.username,
        KANNEL_PASSWORD=kannel.password,
        KANNEL_FROM="HEN",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{app_port}",
        DISPATCH_IN_PROCESS=True,
        QUIET_HOURS="",
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=db), host="127.0.0.1", port=app_port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the application did not start"
        time.sleep(0.05)
    yield session_factory(db)
    server.should_exit = True
    thread.join(10)


def wait_for(read, timeout: float = 10.0):
    """`read()` once it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("not within the time")
        time.sleep(0.05)


def outbound_to(factory, phone: str) -> list[Message]:
    with factory() as session:
        return list(session.exec(select(Message).where(Message.direction == "out", Message.phone == phone)))


@pytest.fixture
def phones(backend, request) -> tuple[str, str]:
    """A client phone (E.164 and as typed) per test and backend: the fake
    SMSC keeps every MT of the module."""
    n = 100 * (1 if backend == "sqlite" else 2) + TESTS.index(request.node.originalname)
    return f"+84912000{n:03d}", f"0912000{n:03d}"


def test_an_sms_typed_into_kannel_is_answered_and_its_delivery_reported(served, kannel, phones):
    client, _ = phones
    kannel.type_mo(client, SHORTCODE, "HELP")
    mt = kannel.wait_for_mt(lambda m: m.receiver == client)
    assert (mt.sender, mt.kind, mt.text) == ("HEN", "text", render("sms.help_client", "vi-ascii"))
    # the send's own result may be stored a moment after the fake SMSC has the message
    [reply] = wait_for(lambda: [m for m in outbound_to(served, client) if m.gateway_id])
    assert (reply.gateway, reply.gateway_id) == ("kannel", str(reply.id))
    # the fake SMSC reports 8 (accepted) and 1 (delivered): delivered stands
    wait_for(lambda: outbound_to(served, client)[0].status == MessageStatus.delivered)
    with served() as session:
        [inbound] = session.exec(select(Message).where(Message.direction == "in", Message.phone == client))
        assert (inbound.gateway, inbound.shortcode, inbound.text) == ("kannel", SHORTCODE, "HELP")


def test_a_workers_referral_reaches_worker_and_client(served, kannel, phones):
    client, client_local = phones
    with Session(served.kw["bind"]) as session:
        load_demo(session)
        session.commit()
    kannel.type_mo(DEMO_WORKER_PHONE, SHORTCODE, f"GT VCT {client_local}")
    to_client = kannel.wait_for_mt(lambda m: m.receiver == client)
    to_worker = kannel.wait_for_mt(lambda m: m.receiver == DEMO_WORKER_PHONE and client[-3:] in m.text)
    code = re.search(r"\d{4}-\d{4}", to_client.text).group()  # the code, as the client reads it
    assert code in to_worker.text


def test_vietnamese_goes_both_ways_intact(served, kannel, phones):
    client, _ = phones
    kannel.type_mo(client, SHORTCODE, "LANG Tiếng Việt")
    expected = render("sms.lang_set", "vi", name=render("sms.language_name", "vi"))
    mt = kannel.wait_for_mt(lambda m: m.receiver == client and m.text == expected)
    assert mt.kind == "ucs-2"  # diacritics: UCS-2 on the air, decoded back intact
    with served() as session:
        texts = [
            m.text
            for m in session.exec(select(Message).where(Message.direction == "in", Message.phone == client))
        ]
    assert "LANG Tiếng Việt" in texts  # UCS-2 inbound arrives as UTF-8 (mo-recode)


TESTS = [name for name in dir() if name.startswith("test_")]
