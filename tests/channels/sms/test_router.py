"""The SMS keyword router (`app.channels.sms.router`) through the Africa's
Talking webhook, on SQLite and PostgreSQL: what is stored, duplicates,
text no keyword matches, the fallbacks between roles, a failing handler
and the auto-reply cap."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import select

from app.channels.sms import router as sms_router
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain.code_text import format_code
from app.messages import render
from app.models import ReferralCode
from tests.conftest import WEBHOOK_TOKEN
from tests.factories import CLIENT, NOON, SMS_WEBHOOK, at_sms, inbound, outbound, send

# ---------------------------------------------------------------- storing


def test_the_stored_inbound_keeps_the_gateway_fields(client, session):
    send(client, "Giúp", id="ATXid_in_1", linkId="link-9", networkCode="45204")
    (row,) = inbound(session)
    assert (row.external_id, row.link_id, row.network_code, row.keyword, row.text, row.status) == (
        "ATXid_in_1",
        "link-9",
        "45204",
        "HELP",
        "Giúp",
        "received",
    )


# ---------------------------------------------------------------- duplicates


def test_a_redelivered_sms_is_stored_once_and_answered_once(client, session, gateway):
    body = at_sms(text="HELP", id="ATXid_dup")
    first = client.post(f"{SMS_WEBHOOK}?token={WEBHOOK_TOKEN}", data=body)
    again = client.post(f"{SMS_WEBHOOK}?token={WEBHOOK_TOKEN}", data=body)
    assert first.status_code == again.status_code == 200
    assert (first.json()["status"], again.json()["status"]) == ("ok", "duplicate")
    assert len(inbound(session)) == 1
    assert len(outbound(session)) == 1
    assert len(gateway.to(CLIENT)) == 1


@pytest.mark.postgres_only
def test_the_router_itself_dedupes_concurrent_sessions(app, settings, session):
    factory = app.state.session_factory
    copies = 6
    barrier = threading.Barrier(copies)
    results = []

    def handle():
        with factory() as s:
            barrier.wait()
            r = sms_router.handle_inbound_sms(s, settings, phone=CLIENT, text="HELP", external_id="ATXid_r2")
            s.commit()
            results.append(r.duplicate)

    threads = [threading.Thread(target=handle) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False] + [True] * (copies - 1)
    assert len(inbound(session)) == 1 and len(outbound(session)) == 1


# ---------------------------------------------------------------- roles and unknown text


@pytest.mark.parametrize(
    "text", ["REF VCT", "GT VCT 0912345678", "VOID 4821-5093", "STATS", "TIEPCAN 5", "XN 4821-5093"]
)
def test_a_client_using_a_role_keyword_gets_the_client_help(client, demo, gateway, text):
    send(client, text)
    assert gateway.to(CLIENT) == [render("sms.help_client", "vi-ascii")]


def test_a_worker_asking_for_appointments_gets_the_worker_help(client, demo, gateway):
    send(client, "HEN", phone=DEMO_WORKER_PHONE)
    assert gateway.to(DEMO_WORKER_PHONE) == [render("sms.help_worker", "vi-ascii")]


@pytest.mark.parametrize("text", ["blue sky", "", "!!!", "12", "Toi muon gap bac si"])
def test_anything_else_gets_a_short_help(client, gateway, text):
    send(client, text)
    assert gateway.to(CLIENT) == [render("sms.unknown", "vi-ascii")]


# ---------------------------------------------------------------- auto-reply cap


def test_auto_replies_are_capped_per_phone_per_hour(client, session, settings, gateway, frozen_clock):
    limit = settings.auto_reply_limit_per_hour
    for _ in range(limit + 2):
        send(client, "HELP")
    send(client, "HELP", phone="+84912000111")  # another phone is not affected
    # the answers up to the cap, then one notice instead of the next answer, then silence
    assert gateway.to(CLIENT)[limit:] == [render("sms.reply_cap", "vi-ascii")]
    assert len(gateway.to("+84912000111")) == 1
    capped = [m for m in outbound(session, phone=CLIENT) if m.status == "skipped"]
    assert [(m.error, m.in_reply_to is not None) for m in capped] == [("reply_cap", True)] * 2
    assert len(inbound(session, phone=CLIENT)) == limit + 2  # every message is still logged

    frozen_clock(NOON + timedelta(hours=1, minutes=1))
    send(client, "HELP")
    assert len(gateway.to(CLIENT)) == limit + 2


def test_start_is_confirmed_even_over_the_cap(client, settings, gateway):
    for _ in range(settings.auto_reply_limit_per_hour):
        send(client, "HELP")  # the hour's answers used up
    send(client, "STOP")
    send(client, "START")
    assert gateway.to(CLIENT)[-1] == render("sms.start_confirm", "vi-ascii")


def test_registered_workers_and_clinic_desks_get_every_reply(client, demo, settings, gateway):
    # a worker issuing many codes in an hour must see each code
    limit = settings.auto_reply_limit_per_hour
    for i in range(limit + 2):
        send(client, f"REF VCT 09120002{i:02d}", phone=DEMO_WORKER_PHONE)
        send(client, "HELP", phone=DEMO_CLINIC_PHONE)
    worker_replies = gateway.to(DEMO_WORKER_PHONE)
    issued = [format_code(row.code) for row in demo.exec(select(ReferralCode).order_by(ReferralCode.id))]
    assert len(issued) == len(worker_replies) == limit + 2
    assert all(code in reply for code, reply in zip(issued, worker_replies, strict=True))
    assert len(gateway.to(DEMO_CLINIC_PHONE)) == limit + 2


# ---------------------------------------------------------------- a failing handler


def test_a_failing_handler_answers_politely_and_keeps_the_inbound(client, session, gateway, monkeypatch):
    def boom(ctx):
        ctx.reply("sms.help_client")
        raise RuntimeError("bug")

    monkeypatch.setitem(sms_router.HANDLERS[None], "HELP", boom)
    response = send(client, "HELP")
    assert response.json()["replies"] == 1
    assert gateway.to(CLIENT) == [render("error.generic", "vi-ascii")]
    assert len(inbound(session)) == 1 and len(outbound(session)) == 1


# ---------------------------------------------------------------- any text


_ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)))  # a form cannot carry lone surrogates


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_ANY_TEXT.filter(lambda t: len(t) <= 400))
def test_any_text_through_the_webhook_is_stored_and_answered(client, session, demo, text):
    phone = f"+8491{uuid.uuid4().int % 10_000_000:07d}"
    response = client.post(f"{SMS_WEBHOOK}?token={WEBHOOK_TOKEN}", data=at_sms(text=text, **{"from": phone}))
    assert response.status_code == 200, response.text
    (row,) = inbound(session, phone=phone)
    assert row.text == text.replace("\x00", "")
    assert len(outbound(session, in_reply_to=row.id)) <= 1


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.one_of(
        st.just(""),
        st.just("HELP \ud800\x00"),
        st.text(),
        st.text(min_size=10_000, max_size=10_000),
        st.text(st.characters(categories=["Cs", "Cc", "Lo"]), min_size=1),
    )
)
def test_the_router_takes_any_text_even_ten_thousand_characters(session, settings, demo, text):
    try:
        result = sms_router.handle_inbound_sms(
            session, settings, phone=CLIENT, text=text, external_id=str(uuid.uuid4())
        )
        session.flush()
        assert not result.duplicate and result.message_id
    finally:
        session.rollback()
