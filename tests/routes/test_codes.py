"""Codes through the API (issue, list, show, redeem, void), redemptions,
CSV exports, the message log with masking, reminders and the audit log."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from app.models import AuditLog, Channel, Direction, Message, Redemption
from tests.api_support import API, demo_worker, make_keys

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi
CLIENT = "+84912345678"


@pytest.fixture
def keys(demo, frozen_clock):
    frozen_clock(T0)
    return make_keys(demo)


def issue(client, keys, **body):
    body.setdefault("service", "VCT")
    r = client.post(f"{API}/codes", json=body, headers=keys.admin)
    assert r.status_code == 201, r.text
    return r.json()


def test_issue_a_code_for_a_client_through_the_api(client, keys, session):
    worker = demo_worker(session)
    code = issue(client, keys, worker_id=worker.id, client_phone="0912 345 678", clinic_id=keys.clinic_id)
    assert len(code["code"]) == 8 and code["code"].isdigit()
    assert code["display"] == f"{code['code'][:4]}-{code['code'][4:]}"
    assert code["state"] == "issued" and code["service"] == "VCT" and code["channel"] == Channel.api
    assert code["client_phone"] == CLIENT and code["worker_id"] == worker.id
    assert datetime.fromisoformat(code["expires_at"]) > datetime.fromisoformat(code["issued_at"])
    sms = session.exec(select(Message).where(Message.phone == CLIENT)).all()
    assert len(sms) == 1 and sms[0].direction == Direction.outbound and code["display"] in sms[0].text
    row = session.exec(select(AuditLog).where(AuditLog.action == "code.issue")).one()
    assert row.actor == "key:test admin"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"service": "NOPE"}, 422),
        ({"service": "VCT", "worker_id": 999}, 404),
        ({"service": "VCT", "clinic_id": 999}, 404),
        ({"service": "VCT", "client_phone": "not a phone"}, 422),
        ({"service": "STI", "clinic_id": "CLINIC"}, 409),  # the demo clinic offers VCT and MMT only
    ],
)
def test_issue_refusals_write_nothing(client, keys, session, body, status):
    if body.get("clinic_id") == "CLINIC":
        body["clinic_id"] = keys.clinic_id
    r = client.post(f"{API}/codes", json=body, headers=keys.admin)
    assert r.status_code == status, r.text
    assert client.get(f"{API}/codes", headers=keys.admin).json()["total"] == 0
    assert session.exec(select(Message)).all() == []


def test_show_accepts_spaces_and_dashes_and_refuses_bad_codes(client, keys):
    code = issue(client, keys)["code"]
    for typed in (
        code,
        f"{code[:4]}-{code[4:]}",
        f"{code[:4]} {code[4:]}",
        f"{code[:2]}-{code[2:5]} {code[5:]}",
    ):
        r = client.get(f"{API}/codes/{typed}", headers=keys.clinic)
        assert r.status_code == 200 and r.json()["code"] == code, typed
    assert client.get(f"{API}/codes/1234", headers=keys.admin).status_code == 422
    wrong_check = code[:7] + str((int(code[7]) + 1) % 10)
    assert client.get(f"{API}/codes/{wrong_check}", headers=keys.admin).status_code == 422
    assert client.get(f"{API}/codes/00000000", headers=keys.admin).status_code == 404


def test_clinic_key_redeems_at_its_own_clinic_once(client, keys, session):
    code = issue(client, keys, worker_id=demo_worker(session).id)["code"]
    r = client.post(
        f"{API}/codes/{code}/redeem", headers=keys.clinic, json={"clinic_id": keys.other_clinic_id}
    )
    assert r.status_code == 200, r.text
    red = r.json()
    assert (
        red["clinic_id"] == keys.clinic_id and red["channel"] == "api" and red["actor"] == "key:test clinic"
    )
    assert red["code"] == code and red["service"] == "VCT"

    again = client.post(f"{API}/codes/{code}/redeem", headers=keys.clinic)
    assert again.status_code == 409 and "already" in again.json()["detail"]
    shown = client.get(f"{API}/codes/{code}", headers=keys.viewer).json()
    assert shown["state"] == "redeemed" and shown["redeemed_clinic_id"] == keys.clinic_id
    session.expire_all()
    outcomes = [
        a.detail.get("outcome")
        for a in session.exec(select(AuditLog).where(AuditLog.action == "code.redeem"))
    ]
    assert outcomes == ["redeemed", "already_redeemed"]
    assert len(session.exec(select(Redemption)).all()) == 1


def test_admin_redeem_needs_a_clinic_and_the_clinic_must_offer_the_service(client, keys):
    code = issue(client, keys, service="MMT")["code"]
    r = client.post(f"{API}/codes/{code}/redeem", headers=keys.admin)
    assert r.status_code == 422 and "clinic_id" in r.json()["detail"]
    r = client.post(f"{API}/codes/{code}/redeem", headers=keys.admin, json={"clinic_id": 999})
    assert r.status_code == 404
    # the second demo clinic offers VCT, STI and PREP, not MMT
    r = client.post(
        f"{API}/codes/{code}/redeem", headers=keys.admin, json={"clinic_id": keys.other_clinic_id}
    )
    assert r.status_code == 409
    r = client.post(f"{API}/codes/{code}/redeem", headers=keys.admin, json={"clinic_id": keys.clinic_id})
    assert r.status_code == 200


def test_void_then_redeem_is_refused(client, keys):
    code = issue(client, keys)["code"]
    r = client.post(f"{API}/codes/{code[:4]}-{code[4:]}/void", headers=keys.admin)
    assert r.status_code == 200 and r.json()["state"] == "voided" and r.json()["voided_at"]
    assert client.post(f"{API}/codes/{code}/void", headers=keys.admin).status_code == 409
    assert client.post(f"{API}/codes/{code}/redeem", headers=keys.clinic).status_code == 409


def test_an_issued_code_past_expiry_shows_and_filters_as_expired(client, keys, frozen_clock):
    old = issue(client, keys)["code"]
    frozen_clock(T0 + timedelta(days=40))
    fresh = issue(client, keys)["code"]
    assert client.get(f"{API}/codes/{old}", headers=keys.admin).json()["state"] == "expired"
    expired = client.get(f"{API}/codes", params={"state": "expired"}, headers=keys.admin).json()
    issued = client.get(f"{API}/codes", params={"state": "issued"}, headers=keys.admin).json()
    assert [c["code"] for c in expired["items"]] == [old]
    assert [c["code"] for c in issued["items"]] == [fresh]


def test_list_filters_and_paging(client, keys, session, frozen_clock):
    worker = demo_worker(session)
    a = issue(client, keys, worker_id=worker.id, clinic_id=keys.clinic_id)["code"]
    b = issue(client, keys, service="STI")["code"]
    frozen_clock(T0 + timedelta(days=3))
    c = issue(client, keys, service="VCT")["code"]
    client.post(f"{API}/codes/{c}/redeem", headers=keys.clinic)

    def codes(**params):
        r = client.get(f"{API}/codes", params=params, headers=keys.viewer)
        assert r.status_code == 200, r.text
        return [x["code"] for x in r.json()["items"]]

    assert codes() == [c, b, a]
    assert codes(service="vct") == [c, a]
    assert codes(worker_id=worker.id) == [a]
    assert codes(clinic_id=keys.clinic_id) == [c, a]
    assert codes(state="redeemed") == [c]
    assert codes(issued_from="2026-03-03") == [c]
    assert codes(issued_to="2026-03-02") == [b, a]
    assert codes(limit=1, offset=1) == [b]
    r = client.get(
        f"{API}/codes", params={"issued_from": "2026-03-05", "issued_to": "2026-03-01"}, headers=keys.admin
    )
    assert r.status_code == 422
    assert client.get(f"{API}/codes", params={"state": "lost"}, headers=keys.admin).status_code == 422


def test_client_phones_are_masked_for_viewers(client, keys):
    code = issue(client, keys, client_phone=CLIENT)["code"]
    assert client.get(f"{API}/codes/{code}", headers=keys.admin).json()["client_phone"] == CLIENT
    assert client.get(f"{API}/codes/{code}", headers=keys.viewer).json()["client_phone"] == "+8491****678"


def test_a_clinic_key_sees_its_own_redemptions_only(client, keys):
    mine = issue(client, keys)["code"]
    theirs = issue(client, keys)["code"]
    client.post(f"{API}/codes/{mine}/redeem", headers=keys.clinic)
    client.post(f"{API}/codes/{theirs}/redeem", headers=keys.admin, json={"clinic_id": keys.other_clinic_id})

    seen = client.get(
        f"{API}/redemptions", headers=keys.clinic, params={"clinic_id": keys.other_clinic_id}
    ).json()
    assert seen["total"] == 1 and [r["code"] for r in seen["items"]] == [mine]
    everything = client.get(f"{API}/redemptions", headers=keys.viewer).json()
    assert everything["total"] == 2
    csv_rows = list(
        csv.DictReader(io.StringIO(client.get(f"{API}/export/redemptions.csv", headers=keys.clinic).text))
    )
    assert [r["code"] for r in csv_rows] == [mine]


def test_codes_csv_has_a_header_every_row_and_masks_for_viewers(client, keys):
    issued = [issue(client, keys, client_phone=CLIENT)["code"] for _ in range(3)]
    client.post(f"{API}/codes/{issued[0]}/redeem", headers=keys.clinic)
    r = client.get(f"{API}/export/codes.csv", headers=keys.viewer)
    assert r.status_code == 200
    assert (
        r.headers["content-type"].startswith("text/csv") and "codes.csv" in r.headers["content-disposition"]
    )
    lines = r.content.decode("utf-8").splitlines()
    assert lines[0].split(",")[:4] == ["code", "display", "state", "service"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["code"] for row in rows] == issued
    assert rows[0]["state"] == "redeemed" and rows[0]["redeemed_clinic_id"] == str(keys.clinic_id)
    assert {row["client_phone"] for row in rows} == {"+8491****678"}
    admin_rows = list(
        csv.DictReader(io.StringIO(client.get(f"{API}/export/codes.csv", headers=keys.admin).text))
    )
    assert {row["client_phone"] for row in admin_rows} == {CLIENT}
    only = client.get(f"{API}/export/codes.csv", headers=keys.admin, params={"state": "redeemed"}).text
    assert len(only.strip().splitlines()) == 2


def test_csv_export_streams_many_rows(client, keys, session, backend):
    from app.models import ReferralCode, Service

    vct = session.exec(select(Service).where(Service.code == "VCT")).one()
    session.add_all(
        ReferralCode(code=f"{i:08d}", service_id=vct.id, issued_at=T0, expires_at=T0 + timedelta(days=30))
        for i in range(2500)
    )
    session.commit()
    with client.stream("GET", f"{API}/export/codes.csv", headers=keys.admin) as r:
        chunks = list(r.iter_bytes())
    text = b"".join(chunks).decode("utf-8")
    assert len(text.splitlines()) == 2501
    assert len(chunks) > 1


def test_message_log_masks_phones_for_every_role_but_admin(client, keys):
    issue(client, keys, client_phone=CLIENT)
    admin = client.get(f"{API}/messages", headers=keys.admin).json()
    assert admin["total"] == 1
    item = admin["items"][0]
    assert item["phone"] == CLIENT and item["direction"] == "out" and item["status"] == "sent"
    assert {"text", "created_at"} <= item.keys()
    viewer = client.get(f"{API}/messages", headers=keys.viewer).json()
    assert viewer["items"][0]["phone"] == "+8491****678"
    assert (
        client.get(f"{API}/messages", params={"phone": "0912345678"}, headers=keys.viewer).json()["total"]
        == 1
    )
    assert (
        client.get(f"{API}/messages", params={"phone": "0912345679"}, headers=keys.viewer).json()["total"]
        == 0
    )
    assert client.get(f"{API}/messages", params={"direction": "in"}, headers=keys.viewer).json()["total"] == 0
    assert (
        client.get(f"{API}/messages", params={"direction": "sideways"}, headers=keys.viewer).status_code
        == 422
    )
    assert client.get(f"{API}/messages", params={"phone": "abc"}, headers=keys.viewer).status_code == 422


def test_schedule_list_and_cancel_a_custom_reminder(client, keys, session):
    body = {
        "phone": "0912345678",
        "due_at": "2026-03-05T08:00:00+07:00",
        "text_key": "reminder.custom_visit",
        "params": {"clinic": "Phong kham Him Lam", "date": "06/03"},
    }
    r = client.post(f"{API}/reminders", json=body, headers=keys.admin)
    assert r.status_code == 201, r.text
    reminder = r.json()
    assert reminder["phone"] == CLIENT and reminder["status"] == "pending" and reminder["kind"] == "custom"
    listed = client.get(f"{API}/reminders", headers=keys.viewer).json()
    assert listed["total"] == 1 and listed["items"][0]["phone"] == "+8491****678"

    r = client.post(f"{API}/reminders/{reminder['id']}/cancel", headers=keys.admin)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.post(f"{API}/reminders/{reminder['id']}/cancel", headers=keys.admin).status_code == 409
    assert client.post(f"{API}/reminders/999/cancel", headers=keys.admin).status_code == 404
    actions = [a.action for a in session.exec(select(AuditLog).where(AuditLog.entity == "reminder"))]
    assert actions == ["reminder.schedule", "reminder.cancel"]


@pytest.mark.parametrize(
    "change",
    [
        {"text_key": "reminder.custom_nope"},
        {"params": {}},
        {"due_at": "2026-03-05T08:00:00"},
        {"phone": "123"},
        {"text_key": "reminder.retest"},
    ],
)
def test_bad_reminders_are_refused(client, keys, change):
    body = {
        "phone": CLIENT,
        "due_at": "2026-03-05T08:00:00+07:00",
        "text_key": "reminder.custom_visit",
        "params": {"clinic": "A", "date": "B"},
        **change,
    }
    r = client.post(f"{API}/reminders", json=body, headers=keys.admin)
    assert r.status_code == 422, r.text
    assert client.get(f"{API}/reminders", headers=keys.admin).json()["total"] == 0


def test_audit_log_lists_who_did_what(client, keys):
    code = issue(client, keys)["code"]
    client.post(f"{API}/codes/{code}/void", headers=keys.admin)
    log = client.get(f"{API}/audit", headers=keys.admin).json()
    actions = [a["action"] for a in log["items"]]
    assert actions[:2] == ["code.void", "code.issue"] and "apikey.create" in actions
    only = client.get(f"{API}/audit", params={"action": "code.void"}, headers=keys.admin).json()
    assert only["total"] == 1 and only["items"][0]["actor"] == "key:test admin" and only["items"][0]["at"]
