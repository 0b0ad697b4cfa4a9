"""The SMS webhooks end to end, on SQLite and PostgreSQL: real-shaped
Africa's Talking callbacks in, what gets stored and what the phone receives.

Callback bodies are a table (like nyaruka/courier's handler_test): each row
names the body, the expected HTTP status and what must be stored."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import select

from app.channels.sms import router as sms_router
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain.code_text import format_code
from app.domain.message_log import queue_rendered
from app.main import create_app
from app.messages import count_segments, render
from app.models import (
    Appointment,
    Clinic,
    ClinicService,
    Message,
    MessageKind,
    Person,
    ReferralCode,
    Service,
)
from tests.conftest import WEBHOOK_TOKEN, SettledClient
from tests.discretion import assert_discreet

SMS = "/webhooks/africastalking/sms"
DLR = "/webhooks/africastalking/delivery"
CLIENT = "+84912345678"
NOON = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 12:00 in Hanoi, outside quiet hours


def at_sms(**fields) -> dict[str, str]:
    """An incoming SMS as Africa's Talking posts it (form fields)."""
    body = {
        "from": CLIENT,
        "to": "8088",
        "text": "HELP",
        "date": "2026-11-23 12:00:00",
        "id": str(uuid.uuid4()),
        "linkId": "SampleLinkId123",
        "networkCode": "45204",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def send(client, text: str, phone: str = CLIENT, **fields):
    response = client.post(
        f"{SMS}?token={WEBHOOK_TOKEN}", data=at_sms(text=text, **{"from": phone}, **fields)
    )
    assert response.status_code == 200, response.text
    return response


def rows(session, **where) -> list[Message]:
    session.expire_all()
    stmt = select(Message).order_by(Message.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(Message, name) == value)
    return list(session.exec(stmt).all())


def inbound(session, **where) -> list[Message]:
    return rows(session, direction="in", **where)


def outbound(session, **where) -> list[Message]:
    return rows(session, direction="out", **where)


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
    response = client.post(f"{SMS}?token={WEBHOOK_TOKEN}", **request_kwargs)
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


# ---------------------------------------------------------------- token


@pytest.mark.parametrize("path", [SMS, DLR])
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
    assert rows(session) == [] and gateway.sent == []


def test_the_token_may_come_as_a_header(client, session):
    response = client.post(SMS, data=at_sms(), headers={"X-Webhook-Token": WEBHOOK_TOKEN})
    assert response.status_code == 200
    assert len(inbound(session)) == 1


def test_an_unknown_shortcode_is_refused_when_shortcodes_are_configured(settings, gateway, db, session):

    app = create_app(settings.model_copy(update={"sms_shortcodes": "8088, 8089"}), gateway=gateway, engine=db)
    with SettledClient(app) as c:
        bad = c.post(f"{SMS}?token={WEBHOOK_TOKEN}", data=at_sms(to="9999"))
        good = c.post(f"{SMS}?token={WEBHOOK_TOKEN}", data=at_sms(to="8089"))
    assert bad.status_code == 400 and "shortcode" in bad.json()["detail"]
    assert good.status_code == 200
    assert [m.shortcode for m in inbound(session)] == ["8089"]


# ---------------------------------------------------------------- duplicates


def test_a_redelivered_sms_is_stored_once_and_answered_once(client, session, gateway):
    body = at_sms(text="HELP", id="ATXid_dup")
    first = client.post(f"{SMS}?token={WEBHOOK_TOKEN}", data=body)
    again = client.post(f"{SMS}?token={WEBHOOK_TOKEN}", data=body)
    assert first.status_code == again.status_code == 200
    assert (first.json()["status"], again.json()["status"]) == ("ok", "duplicate")
    assert len(inbound(session)) == 1
    assert len(outbound(session)) == 1
    assert len(gateway.to(CLIENT)) == 1


@pytest.mark.postgres_only
def test_copies_arriving_at_the_same_moment_are_stored_once_and_answered_once(client, session, gateway):
    body = at_sms(text="HELP", id="ATXid_race")
    copies = 8
    barrier = threading.Barrier(copies)
    statuses: list[int] = []

    def post():
        barrier.wait()
        statuses.append(client.post(f"{SMS}?token={WEBHOOK_TOKEN}", data=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [200] * copies
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


# ---------------------------------------------------------------- help per role and language


def test_each_role_gets_its_own_help_in_its_language(client, demo, gateway):
    send(client, "HELP", phone=DEMO_WORKER_PHONE)
    send(client, "giup", phone=DEMO_CLINIC_PHONE)
    send(client, "?", phone=CLIENT)
    assert gateway.to(DEMO_WORKER_PHONE) == [render("sms.help_worker", "vi-ascii")]
    assert gateway.to(DEMO_CLINIC_PHONE) == [render("sms.help_clinic", "vi-ascii")]
    assert gateway.to(CLIENT) == [render("sms.help_client", "vi-ascii")]
    assert "GT" in gateway.to(DEMO_WORKER_PHONE)[0] and "XN" in gateway.to(DEMO_CLINIC_PHONE)[0]


@pytest.mark.parametrize(
    "text", ["REF VCT", "GT VCT 0912345678", "VOID 4821-5093", "STATS", "TIEPCAN 5", "XN 4821-5093"]
)
def test_a_client_using_a_role_keyword_gets_the_client_help(client, demo, gateway, text):
    send(client, text)
    assert gateway.to(CLIENT) == [render("sms.help_client", "vi-ascii")]


def test_a_worker_asking_for_appointments_gets_the_worker_help(client, demo, gateway):
    send(client, "HEN", phone=DEMO_WORKER_PHONE)
    assert gateway.to(DEMO_WORKER_PHONE) == [render("sms.help_worker", "vi-ascii")]


@pytest.mark.parametrize("text", ["hello there", "", "!!!", "12", "Toi muon gap bac si"])
def test_anything_else_gets_a_short_help(client, gateway, text):
    send(client, text)
    assert gateway.to(CLIENT) == [render("sms.unknown", "vi-ascii")]


def test_lang_switches_every_later_reply(client, session, gateway):
    send(client, "NGÔN NGỮ en")
    send(client, "HELP")
    send(client, "lang vi")
    send(client, "giúp")
    assert gateway.to(CLIENT) == [
        render("sms.lang_set", "en", name="English"),
        render("sms.help_client", "en"),
        render("sms.lang_set", "vi", name="Tiếng Việt"),
        render("sms.help_client", "vi"),
    ]
    session.expire_all()
    assert session.exec(select(Person).where(Person.phone == CLIENT)).one().language == "vi"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("LANG English", "en"),
        ("NGONNGU tiếng việt", "vi"),
        ("ngon ngu Tieng Viet khong dau", "vi-ascii"),
        ("LANG VI-ASCII.", "vi-ascii"),
    ],
)
def test_lang_takes_a_language_code_or_its_name(client, session, gateway, text, language):
    send(client, text)
    name = render("sms.language_name", language)
    assert gateway.to(CLIENT) == [render("sms.lang_set", language, name=name)]
    session.expire_all()
    assert session.exec(select(Person).where(Person.phone == CLIENT)).one().language == language


def test_an_unknown_language_gets_the_list(client, gateway):
    send(client, "LANG klingon")
    (text,) = gateway.to(CLIENT)
    assert text == render("sms.lang_usage", "vi-ascii", languages="en, vi, vi-ascii")


# ---------------------------------------------------------------- STOP and START


def test_stop_confirms_once_then_nothing_reaches_the_phone(client, session, gateway):
    send(client, "STOP")
    assert gateway.to(CLIENT) == [render("sms.stop_confirm", "vi-ascii")]
    send(client, "HELP")
    send(client, "Từ chối")  # STOP again: not even a stored reply
    assert gateway.to(CLIENT) == [render("sms.stop_confirm", "vi-ascii")]
    replies = outbound(session)
    assert [(m.status, m.error) for m in replies] == [("sent", None), ("skipped", "opted_out")]
    # a notification or reminder queued later is skipped too
    later = queue_rendered(
        session, phone=CLIENT, key="sms.help_client", language="vi-ascii", kind=MessageKind.notification
    )
    session.commit()
    assert (later.status, later.error) == ("skipped", "opted_out")


@pytest.mark.parametrize("alias", ["STOP", "tc", "TUCHOI", "Huỷ", "ngừng", "stop."])
def test_every_stop_alias_opts_out(client, session, alias):
    send(client, alias)
    session.expire_all()
    assert session.exec(select(Person).where(Person.phone == CLIENT)).one().opted_out


def test_start_opts_back_in(client, session, gateway):
    send(client, "STOP")
    send(client, "Bắt đầu")
    send(client, "HELP")
    assert gateway.to(CLIENT) == [
        render("sms.stop_confirm", "vi-ascii"),
        render("sms.start_confirm", "vi-ascii"),
        render("sms.help_client", "vi-ascii"),
    ]


def test_the_stop_confirmation_is_sent_even_over_the_reply_cap(client, settings, gateway):
    for _ in range(settings.auto_reply_limit_per_hour + 1):
        send(client, "HELP")
    send(client, "STOP")
    assert gateway.to(CLIENT)[-1] == render("sms.stop_confirm", "vi-ascii")


# ---------------------------------------------------------------- auto-reply cap


def test_auto_replies_are_capped_per_phone_per_hour(client, session, settings, gateway, frozen_clock):
    limit = settings.auto_reply_limit_per_hour
    for _ in range(limit + 2):
        send(client, "HELP")
    send(client, "HELP", phone="+84912000111")  # another phone is not affected
    assert len(gateway.to(CLIENT)) == limit
    assert len(gateway.to("+84912000111")) == 1
    capped = [m for m in outbound(session, phone=CLIENT) if m.status == "skipped"]
    assert [(m.error, m.in_reply_to is not None) for m in capped] == [("reply_cap", True)] * 2
    assert len(inbound(session, phone=CLIENT)) == limit + 2  # every message is still logged

    frozen_clock(NOON + timedelta(hours=1, minutes=1))
    send(client, "HELP")
    assert len(gateway.to(CLIENT)) == limit + 1


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


# ---------------------------------------------------------------- CLINIC and MORE


def _add_clinics(session, count: int, district="Ba Dinh") -> list[str]:
    service = session.exec(select(Service).where(Service.code == "VCT")).first()
    names = []
    for i in range(count):
        clinic = Clinic(
            name=f"Internal clinic {i}",
            display_name=f"Phong kham so {i:02d}",
            district=district,
            province="Ha Noi",
            address=f"{100 + i} Duong rat dai ten la Hoang Hoa Tham, phuong Lieu Giai",
            hours="T2-T6 7:30-16:30, T7 7:30-11:30",
        )
        session.add(clinic)
        session.flush()
        if service:
            session.add(ClinicService(clinic_id=clinic.id, service_id=service.id))
        names.append(clinic.display_name)
    session.commit()
    return names


def test_clinic_filters_by_district_with_or_without_diacritics(client, demo, gateway):
    send(client, "PK Điện Biên")
    send(client, "clinic long bien")
    first, second = gateway.to(CLIENT)
    assert "Phong kham Him Lam" in first and "Phong kham Muong Thanh" in first
    assert "Dong Da" not in first and "Long Bien" not in first
    assert "Phong kham Long Bien" in second and "Him Lam" not in second
    for text in (first, second):
        assert count_segments(text).segments <= 2
        assert_discreet(text)


def test_clinic_filters_by_service_display_name(client, demo, gateway):
    send(client, "CLINIC du phong")  # PREP's neutral display name: "Cham soc du phong"
    (text,) = gateway.to(CLIENT)
    assert "Muong Thanh" in text and "Dong Da" in text and "Him Lam" not in text


def test_clinic_never_repeats_what_the_client_typed(client, demo, gateway):
    send(client, "CLINIC HIV")
    (text,) = gateway.to(CLIENT)
    assert_discreet(text)
    assert text.startswith(render("sms.clinic_none", "vi-ascii", districts="")[:20])


@pytest.mark.parametrize("language", ["vi-ascii", "vi", "en"])
def test_clinic_pages_fit_two_segments_and_more_walks_through_all(
    client, session, demo, gateway, settings, db, language
):

    names = _add_clinics(session, 12)
    if language != "vi-ascii":
        send(client, f"LANG {language}")
        gateway.clear()
    pages = []
    send(client, "CLINIC ba dinh")
    pages += gateway.to(CLIENT)
    # the paging state is in the database: a restarted service continues
    for _ in range(20):
        gateway.clear()
        with SettledClient(create_app(settings, gateway=gateway, engine=db)) as restarted:
            send(restarted, "THEM")
        (text,) = gateway.to(CLIENT)
        if text == render("sms.clinic_end", language):
            break
        pages.append(text)
        session.execute(
            Message.__table__.delete().where(Message.__table__.c.direction == "out")
        )  # no reply cap
        session.commit()
    assert len(pages) >= 3
    for page in pages[:-1]:
        assert page.endswith(render("sms.clinic_more", language))
    assert not pages[-1].endswith(render("sms.clinic_more", language))
    for page in pages:
        assert count_segments(page).segments <= 2, page
        assert_discreet(page)
    shown = [name for name in names for page in pages if name in page]
    assert shown == names  # every clinic once, in order


def test_a_clinic_entry_names_its_district_once(client, demo, gateway):
    send(client, "PK dong da")
    send(client, "PK him lam")
    dong_da, him_lam = gateway.to(CLIENT)
    assert "108 Ton Duc Thang, Dong Da. Gio:" in dong_da  # the address already names it
    assert "12 Vo Nguyen Giap, Him Lam, Dien Bien Phu. Gio:" in him_lam


def test_more_without_a_listing_says_how_to_start(client, gateway):
    send(client, "MORE")
    assert gateway.to(CLIENT) == [render("sms.more_none", "vi-ascii")]


def test_a_clinic_with_a_huge_address_is_cut_to_fit(client, session, demo, gateway):
    session.add(
        Clinic(name="x", display_name="Phong kham Xa", district="Xa Xa", address="Duong " * 30, hours="T2-T6")
    )
    session.commit()
    send(client, "PK xa xa")
    (text,) = gateway.to(CLIENT)
    assert "Phong kham Xa" in text and count_segments(text).segments <= 2


# ---------------------------------------------------------------- APPT and CODE


def test_appt_without_an_appointment(client, gateway):
    send(client, "HẸN")
    assert gateway.to(CLIENT) == [render("sms.appt_none", "vi-ascii")]


def test_appt_shows_the_next_appointment_in_local_time(client, session, demo, gateway):
    clinic = session.exec(select(Clinic).where(Clinic.display_name == "Phong kham Him Lam")).one()
    session.add(
        Appointment(
            client_phone=CLIENT, clinic_id=clinic.id, starts_at=datetime(2026, 11, 25, 2, 30, tzinfo=UTC)
        )
    )
    session.commit()
    send(client, "APPT")
    (text,) = gateway.to(CLIENT)
    assert "09:30" in text and "25/11/2026" in text and "Phong kham Him Lam" in text
    assert_discreet(text)


@pytest.mark.parametrize("text", ["4821-5093", "4821 5093", "Mã 4821 5093", "CODE 48215093"])
def test_a_code_goes_to_the_code_handler(client, session, gateway, text):
    send(client, text)
    (row,) = inbound(session)
    assert row.keyword == "CODE"
    (reply,) = gateway.to(CLIENT)
    assert reply not in (render("sms.unknown", "vi-ascii"), render("sms.help_client", "vi-ascii"))
    assert_discreet(reply)


def test_a_failing_handler_answers_politely_and_keeps_the_inbound(client, session, gateway, monkeypatch):
    def boom(ctx):
        ctx.reply("sms.help_client")
        raise RuntimeError("bug")

    monkeypatch.setitem(sms_router.HANDLERS[None], "HELP", boom)
    response = send(client, "HELP")
    assert response.json()["replies"] == 1
    assert gateway.to(CLIENT) == [render("error.generic", "vi-ascii")]
    assert len(inbound(session)) == 1 and len(outbound(session)) == 1


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


# ---------------------------------------------------------------- any text


_ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)))  # a form cannot carry lone surrogates


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_ANY_TEXT.filter(lambda t: len(t) <= 400))
def test_any_text_through_the_webhook_is_stored_and_answered(client, session, demo, text):
    phone = f"+8491{uuid.uuid4().int % 10_000_000:07d}"
    response = client.post(f"{SMS}?token={WEBHOOK_TOKEN}", data=at_sms(text=text, **{"from": phone}))
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
