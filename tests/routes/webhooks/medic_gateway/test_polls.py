"""The medic-gateway endpoint end to end, on SQLite and PostgreSQL: poll
bodies and what each answers and stores, access, incoming SMS, status
updates."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app.demo import DEMO_WORKER_PHONE
from app.domain.apikeys import create_api_key
from app.main import create_app
from app.models import Message, MessageKind, MessageStatus
from app.sending.gateways import medic_gateway as spec
from app.sending.gateways.medic_gateway import MedicGateway
from tests.conftest import SettledClient, make_settings
from tests.factories import messages
from tests.routes.webhooks.medic_gateway.conftest import (
    AUTH,
    CLIENT,
    NOON,
    PASSWORD,
    URL,
    assert_error,
    exchange,
    gateway_settings,
    ms,
    post,
    queued,
    sms,
)

# ---------------------------------------------------------------- the body table


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data)


def _raw(content: bytes, **headers) -> dict:
    return {"content": content, "headers": {"content-type": "application/json", **headers}}


def _json(body) -> dict:
    return _raw(json.dumps(body).encode())


MANY = [{"id": f"m{i}", "from": "0912345678", "content": "HELP"} for i in range(10_000)]
BODIES = [
    # name, request kwargs, status, inbound rows stored
    ("an empty poll", _json({}), 200, 0),
    ("lists null", _json({"messages": None, "updates": None}), 200, 0),
    ("empty lists", _json({"messages": [], "updates": []}), 200, 0),
    ("one sms", _json({"messages": [sms()]}), 200, 1),
    ("an international number", _json({"messages": [sms(sender="+84912345678")]}), 200, 1),
    ("without the times", _json({"messages": [sms(sms_sent=None, sms_received=None)]}), 200, 1),
    ("time 0 (old app)", _json({"messages": [sms(sms_received=0)]}), 200, 1),
    ("extra fields", _json({"messages": [{**sms(), "sim": 2}], "updates": [], "version": 3}), 200, 1),
    ("empty content", _json({"messages": [sms(text="")]}), 200, 1),
    ("diacritics", _json({"messages": [sms(text="Giúp")]}), 200, 1),
    ("content missing", _json({"messages": [{k: v for k, v in sms().items() if k != "content"}]}), 200, 0),
    ("id missing", _json({"messages": [{k: v for k, v in sms().items() if k != "id"}]}), 200, 0),
    ("id a number", _json({"messages": [sms(id=17)]}), 200, 0),
    ("id empty", _json({"messages": [sms(id="")]}), 200, 0),
    ("id with NUL", _json({"messages": [sms(id="a\x00b")]}), 200, 0),
    ("content a number", _json({"messages": [sms(text=5)]}), 200, 0),
    ("time as text", _json({"messages": [sms(sms_received="yesterday")]}), 200, 0),
    ("time true", _json({"messages": [sms(sms_received=True)]}), 200, 0),
    ("from not a phone", _json({"messages": [sms(sender="hello")]}), 200, 0),
    ("alphanumeric sender", _json({"messages": [sms(sender="VIETTEL")]}), 200, 0),
    ("an item not an object", _json({"messages": ["HELP", 7, None, []]}), 200, 0),
    ("a bad item among good", _json({"messages": [sms(), sms(sender="hello"), sms(id=3), sms()]}), 200, 2),
    ("an update not an object", _json({"updates": ["SENT"]}), 200, 0),
    ("gzip", _raw(_gzip(json.dumps({"messages": [sms()]}).encode()), **{"content-encoding": "gzip"}), 200, 1),
    ("not JSON", _raw(b"messages=HELP"), 400, 0),
    ("empty body", _raw(b""), 400, 0),
    ("truncated JSON", _raw(b'{"messages": [{"id": "a"'), 400, 0),
    ("not UTF-8", _raw(b'{"messages": ["\xff\xfe"]}'), 400, 0),
    ("deeply nested", _raw(b"[" * 100_000 + b"]" * 100_000), 400, 0),
    ("top level a list", _json([sms()]), 400, 0),
    ("top level a string", _json("HELP"), 400, 0),
    ("top level null", _json(None), 400, 0),
    ("messages an object", _json({"messages": sms()}), 400, 0),
    ("updates a string", _json({"messages": [sms()], "updates": "SENT"}), 400, 0),
    ("not gzip", _raw(b'{"messages": []}', **{"content-encoding": "gzip"}), 400, 0),
    ("truncated gzip", _raw(_gzip(b'{"messages": []}')[:-6], **{"content-encoding": "gzip"}), 400, 0),
    ("another encoding", _raw(b'{"messages": []}', **{"content-encoding": "br"}), 415, 0),
    ("10,000 messages (under 1 MB)", _json({"messages": MANY}), 413, 0),
    ("501 updates", _json({"updates": [{"id": "1", "status": "SENT"}] * 501}), 413, 0),
    ("a body over 1 MB", _json({"messages": [sms(text="a" * 1_100_000)]}), 413, 0),
    (
        "over 1 MB decompressed",
        _raw(_gzip(b'{"messages": [], "pad": "' + b"a" * 2_000_000 + b'"}'), **{"content-encoding": "gzip"}),
        413,
        0,
    ),
]


@pytest.mark.parametrize(("name", "request_kwargs", "status", "stored"), BODIES, ids=[b[0] for b in BODIES])
def test_body_table(client, session, name, request_kwargs, status, stored):
    response = post(client, **request_kwargs)
    if status == 200:
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"messages"}
    else:
        assert_error(response, status)
    assert len(messages(session, direction="in")) == stored
    if status != 200:
        assert messages(session) == []  # nothing stored, nothing queued


def test_a_poll_over_the_item_limit_says_which(client, session):
    assert len(json.dumps({"messages": MANY})) < spec.MAX_BODY_BYTES  # the count decides, not the size
    response = post(client, {"messages": MANY})
    assert_error(response, 413)
    assert "more than 500" in response.json()["message"]


def test_the_stored_sms_keeps_the_phone_fields(client, session):
    body = sms(sms_received=ms(NOON - timedelta(minutes=4)))
    exchange(client, [body])
    [row] = messages(session, direction="in")
    assert (row.phone, row.text, row.gateway, row.external_id) == (
        CLIENT,
        "HELP",
        "medic-gateway",
        body["id"],
    )
    assert row.created_at == NOON - timedelta(minutes=4)  # when the phone received it


def test_a_received_time_ahead_of_ours_is_not_believed(client, session):
    exchange(client, [sms(sms_received=ms(NOON + timedelta(days=3)))])
    [row] = messages(session, direction="in")
    assert row.created_at == NOON


# ---------------------------------------------------------------- access


def test_get_answers_the_handshake(client):
    for path in (URL, URL + "/"):
        response = client.get(path, auth=AUTH)
        assert response.status_code == 200
        assert response.json() == {"medic-gateway": True}


BAD_CREDENTIALS = {
    "missing": {},
    "wrong password": {"auth": ("gateway", "wrong")},
    "wrong username": {"auth": ("admin", PASSWORD)},
    "empty password": {"auth": ("gateway", "")},
    "the password as username": {"auth": (PASSWORD, "")},
    "another scheme": {"headers": {"Authorization": f"Bearer {PASSWORD}"}},
    "not base64": {"headers": {"Authorization": "Basic !!!not-base64!!!"}},
    "no colon": {"headers": {"Authorization": "Basic Z2F0ZXdheQ=="}},
}


@pytest.mark.parametrize("how", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_wrong_or_missing_credentials_are_refused_and_nothing_is_stored(client, session, how):
    queued(session)
    kwargs = {"headers": {}, **how}
    auth = kwargs.pop("auth", None)
    response = client.post(URL, json={"messages": [sms()]}, auth=auth, **kwargs)
    assert_error(response, 401)
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert messages(session, direction="in") == []
    assert [m.status for m in messages(session)] == ["queued"]  # nothing handed out
    assert_error(client.get(URL, auth=auth, **kwargs), 401)


def test_a_service_on_another_gateway_hands_a_phone_nothing(db, database_url, session):
    queued(session)
    other = make_settings(database_url, MEDIC_GATEWAY_PASSWORD=PASSWORD)  # SMS_GATEWAY=memory
    with SettledClient(create_app(other, engine=db)) as client:
        assert_error(client.get(URL, auth=AUTH), 404)
        assert_error(post(client, {"messages": [sms()]}), 404)
    assert messages(session, direction="in") == []
    assert [m.status for m in messages(session)] == ["queued"]


def test_a_pull_gateway_is_built_for_medic_gateway(database_url, db):
    app = create_app(gateway_settings(database_url), engine=db)
    assert isinstance(app.state.gateway, MedicGateway)
    assert app.state.dispatcher.pulls


# ---------------------------------------------------------------- inbound


def test_help_is_answered_in_the_same_poll(client, session):
    [handed] = exchange(client, [sms("HELP")])
    [reply] = messages(session, direction="out")
    assert handed == {"id": str(reply.id), "to": CLIENT, "content": reply.text}
    assert reply.kind == MessageKind.reply and reply.status == MessageStatus.sending
    assert (reply.gateway, reply.gateway_id) == ("medic-gateway", str(reply.id))
    # the phone confirms on its next poll: the claim ends, nothing is offered again
    assert exchange(client, updates=[{"id": handed["id"], "status": "UNSENT"}]) == []
    session.expire_all()
    assert (reply.status, reply.claimed_by, reply.claimed_until) == ("sent", None, None)
    assert reply.sent_at == NOON


def test_the_message_log_shows_the_gateway_and_its_id(client, session):
    _, key = create_api_key(session, role="admin", name="test admin")
    session.commit()
    [handed] = exchange(client, [sms("HELP")])
    response = client.get("/api/v1/messages", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    items = {m["direction"]: m for m in response.json()["items"]}
    assert items["out"]["gateway"] == "medic-gateway" and items["out"]["gateway_id"] == handed["id"]
    assert items["in"]["gateway"] == "medic-gateway"


def test_a_resent_sms_is_stored_once_and_answered_once(client, session):
    body = sms("HELP")
    first = exchange(client, [body, dict(body)])  # twice in one poll
    again = exchange(client, [body])  # and the whole poll again (our answer was lost)
    assert len(messages(session, direction="in")) == 1
    assert len(first) == 1 and again == []
    assert len(messages(session, direction="out")) == 1


def test_a_bad_item_is_left_out_and_the_others_stored(client, session):
    good = [sms("HELP", id="good-1"), sms("HELP", sender="0987654321", id="good-2")]
    handed = exchange(client, [good[0], sms(sender="not a phone"), {"id": 5}, good[1]])
    assert sorted(r.external_id for r in messages(session, direction="in")) == ["good-1", "good-2"]
    assert sorted(m["to"] for m in handed) == [CLIENT, "+84987654321"]


def test_a_worker_referral_hands_out_the_worker_and_the_client_message(client, demo, session):
    handed = exchange(client, [sms("GT VCT 0912345678", sender=DEMO_WORKER_PHONE)])
    assert sorted(m["to"] for m in handed) == sorted([DEMO_WORKER_PHONE, CLIENT])
    out = {m.phone: m for m in messages(session, direction="out")}
    assert {m["to"]: m["content"] for m in handed} == {p: m.text for p, m in out.items()}
    assert all(m.gateway_id == str(m.id) for m in out.values())


# ---------------------------------------------------------------- updates


UPDATES = {
    "UNSENT (stored on the phone)": ({"status": "UNSENT"}, "sent", None),
    "PENDING (to its network)": ({"status": "PENDING"}, "sent", None),
    "SENT": ({"status": "SENT"}, "sent", None),
    "DELIVERED": ({"status": "DELIVERED"}, "delivered", None),
    "FAILED, with the reason": (
        {"status": "FAILED", "reason": "generic-failure"},
        "failed",
        "generic-failure",
    ),
    "FAILED, without a reason": ({"status": "FAILED"}, "failed", "failed"),
}


@pytest.mark.parametrize(("update", "stored", "error"), UPDATES.values(), ids=UPDATES.keys())
def test_an_update_changes_the_status(client, session, update, stored, error):
    [message_id] = queued(session)
    [handed] = exchange(client)
    assert handed["id"] == str(message_id)
    assert exchange(client, updates=[{"id": handed["id"], **update}]) == []
    [row] = messages(session)
    assert (row.status, row.error, row.claimed_by, row.claimed_until) == (stored, error, None, None)


def test_updates_walk_the_phone_s_statuses_to_delivered(client, session):
    [message_id] = queued(session)
    exchange(client)
    for word, stored in (
        ("UNSENT", "sent"),
        ("PENDING", "sent"),
        ("SENT", "sent"),
        ("DELIVERED", "delivered"),
    ):
        exchange(client, updates=[{"id": str(message_id), "status": word}])
        assert messages(session)[0].status == stored


SKIPPED_UPDATES = {
    "an id we do not know": {"id": "999999", "status": "DELIVERED"},
    "an id larger than any id": {"id": "2147483648", "status": "DELIVERED"},
    "an id of 18 digits": {"id": "9" * 18, "status": "DELIVERED"},
    "an id that is not ours": {"id": "9f1c2a4e-1111-2222-3333-444455556666", "status": "DELIVERED"},
    "a status word we do not know": {"status": "TELEPORTED"},
    "a status lowercase": {"status": "delivered"},
    "the status it has": {"status": "SENT"},
    "id a number": {"id": 1, "status": "DELIVERED"},
    "status missing": {"reason": "x"},
}


@pytest.mark.parametrize("update", SKIPPED_UPDATES.values(), ids=SKIPPED_UPDATES.keys())
def test_an_update_we_cannot_use_is_skipped_with_a_200(client, session, update):
    [message_id] = queued(session)
    exchange(client)
    exchange(client, updates=[{"id": str(message_id), "status": "SENT"}])
    assert exchange(client, updates=[{"id": str(message_id), **update}]) == []
    [row] = messages(session)
    assert row.status == "sent"


def test_an_update_for_another_gateway_s_message_is_skipped(client, session):
    [message_id] = queued(session)
    session.get(Message, message_id).gateway = "africastalking"
    session.get(Message, message_id).status = MessageStatus.sent
    session.commit()
    exchange(client, updates=[{"id": str(message_id), "status": "DELIVERED"}])
    assert messages(session)[0].status == "sent"


@pytest.mark.parametrize(
    ("first", "later"),
    [
        ({"status": "DELIVERED"}, {"status": "SENT"}),
        ({"status": "DELIVERED"}, {"status": "FAILED", "reason": "late"}),
        ({"status": "FAILED", "reason": "no-service"}, {"status": "DELIVERED"}),
        ({"status": "FAILED", "reason": "no-service"}, {"status": "PENDING"}),
    ],
)
def test_a_final_status_is_never_overwritten(client, session, first, later):
    [message_id] = queued(session)
    exchange(client)
    exchange(client, updates=[{"id": str(message_id), **first}])
    before = messages(session)[0]
    kept = (before.status, before.error)
    exchange(client, updates=[{"id": str(message_id), **later}])
    after = messages(session)[0]
    assert (after.status, after.error) == kept


# ---------------------------------------------------------------- any body at all

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
ITEM_KEYS = st.sampled_from(["id", "from", "content", "sms_sent", "sms_received", "status", "reason"])
ITEM = st.dictionaries(ITEM_KEYS, JSON | st.sampled_from(["0912345678", "HELP", "SENT", "1", ms(NOON)]))
POLL_SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "messages": st.lists(ITEM | JSON, max_size=5) | JSON,
        "updates": st.lists(ITEM | JSON, max_size=5),
    },
)


@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=JSON | POLL_SHAPED)
def test_the_poll_reader_takes_any_json(data):
    try:
        poll = spec.read_poll(data)
    except spec.BadPoll as exc:
        assert exc.status in (400, 413)
        return
    assert all(isinstance(m, spec.PhoneMessage) for m in poll.messages)


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=JSON | POLL_SHAPED)
def test_the_endpoint_answers_any_json_with_200_400_or_413(client, data):
    response = post(client, content=json.dumps(data).encode(), headers={"content-type": "application/json"})
    assert response.status_code in (200, 400, 413), response.text
    body = response.json()
    if response.status_code == 200:
        assert isinstance(body["messages"], list)
    else:
        assert body["error"] is True
