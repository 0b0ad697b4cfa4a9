"""Referral codes through the API (`app.routes.codes`): issue, list, show,
redeem, void."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from app.models import AuditLog, Channel, Direction, Message, Redemption
from tests.factories import API, API_NOW, CLIENT, demo_worker, issue_by_api


def test_issue_a_code_for_a_client_through_the_api(client, keys, session):
    worker = demo_worker(session)
    code = issue_by_api(
        client, keys, worker_id=worker.id, client_phone="0912 345 678", clinic_id=keys.clinic_id
    )
    assert len(code["code"]) == 8 and code["code"].isdigit()
    assert code["display"] == f"{code['code'][:4]}-{code['code'][4:]}"
    assert code["state"] == "issued" and code["service"] == "VCT" and code["channel"] == Channel.api
    assert code["client_phone"] == CLIENT and code["worker_id"] == worker.id
    assert datetime.fromisoformat(code["expires_at"]) > datetime.fromisoformat(code["issued_at"])
    sms = session.exec(select(Message).where(Message.phone == CLIENT)).all()
    assert len(sms) == 1 and sms[0].direction == Direction.outbound and code["display"] in sms[0].text
    row = session.exec(select(AuditLog).where(AuditLog.action == "code.issue")).one()
    assert row.actor == "key:test admin"


def test_issuing_again_for_a_client_with_a_valid_code_answers_200_with_that_code(client, keys, session):
    worker = demo_worker(session)
    first = issue_by_api(client, keys, worker_id=worker.id, client_phone=CLIENT)
    r = client.post(
        f"{API}/codes", json={"service": "vct", "client_phone": "0912 345 678"}, headers=keys.admin
    )
    assert r.status_code == 200, r.text
    again = r.json()
    assert again == first  # the same code, its worker kept, the same response shape
    assert client.get(f"{API}/codes", headers=keys.admin).json()["total"] == 1
    sms = session.exec(select(Message).where(Message.phone == CLIENT).order_by(Message.id)).all()
    assert len(sms) == 2 and sms[0].text == sms[1].text
    # another service is another code
    assert issue_by_api(client, keys, service="MMT", client_phone=CLIENT)["code"] != first["code"]


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
    code = issue_by_api(client, keys)["code"]
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
    code = issue_by_api(client, keys, worker_id=demo_worker(session).id)["code"]
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
    code = issue_by_api(client, keys, service="MMT")["code"]
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
    code = issue_by_api(client, keys)["code"]
    r = client.post(f"{API}/codes/{code[:4]}-{code[4:]}/void", headers=keys.admin)
    assert r.status_code == 200 and r.json()["state"] == "voided" and r.json()["voided_at"]
    assert client.post(f"{API}/codes/{code}/void", headers=keys.admin).status_code == 409
    assert client.post(f"{API}/codes/{code}/redeem", headers=keys.clinic).status_code == 409


def test_an_issued_code_past_expiry_shows_and_filters_as_expired(client, keys, frozen_clock):
    old = issue_by_api(client, keys)["code"]
    frozen_clock(API_NOW + timedelta(days=40))
    fresh = issue_by_api(client, keys)["code"]
    assert client.get(f"{API}/codes/{old}", headers=keys.admin).json()["state"] == "expired"
    expired = client.get(f"{API}/codes", params={"state": "expired"}, headers=keys.admin).json()
    issued = client.get(f"{API}/codes", params={"state": "issued"}, headers=keys.admin).json()
    assert [c["code"] for c in expired["items"]] == [old]
    assert [c["code"] for c in issued["items"]] == [fresh]


def test_list_filters_and_paging(client, keys, session, frozen_clock):
    worker = demo_worker(session)
    a = issue_by_api(client, keys, worker_id=worker.id, clinic_id=keys.clinic_id)["code"]
    b = issue_by_api(client, keys, service="STI")["code"]
    frozen_clock(API_NOW + timedelta(days=3))
    c = issue_by_api(client, keys, service="VCT")["code"]
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
    code = issue_by_api(client, keys, client_phone=CLIENT)["code"]
    assert client.get(f"{API}/codes/{code}", headers=keys.admin).json()["client_phone"] == CLIENT
    assert client.get(f"{API}/codes/{code}", headers=keys.viewer).json()["client_phone"] == "+8491****678"


# ---------------------------------------------------------------- guessing through the API


def _clinic_key(session, clinic_id: int, name: str) -> dict:
    from app.domain.apikeys import create_api_key
    from tests.factories import bearer

    _, plain = create_api_key(session, role="clinic", name=name, clinic_id=clinic_id)
    session.commit()
    return bearer(plain)


def test_a_clinic_key_sees_where_a_code_was_redeemed_only_at_its_own_clinic(client, keys, session):
    code = issue_by_api(client, keys, worker_id=demo_worker(session).id)["code"]
    assert client.post(f"{API}/codes/{code}/redeem", headers=keys.clinic).status_code == 200
    own = client.get(f"{API}/codes/{code}", headers=keys.clinic).json()
    assert own["redeemed_clinic_id"] == keys.clinic_id and own["redeemed_at"]
    other = client.get(
        f"{API}/codes/{code}", headers=_clinic_key(session, keys.other_clinic_id, "other desk")
    )
    assert other.status_code == 200
    shown = other.json()
    assert shown["state"] == "redeemed"
    assert shown["redeemed_clinic_id"] is None and shown["redeemed_at"] is None
    session.expire_all()
    looked = session.exec(select(AuditLog).where(AuditLog.action == "code.attempt")).all()
    assert {(a.actor, a.detail["outcome"]) for a in looked} == {
        ("key:test clinic", "looked_up"),
        ("key:other desk", "looked_up"),
    }


@pytest.mark.parametrize("action", ["show", "redeem"])
def test_a_key_guessing_codes_is_stopped_at_the_limit_and_audited(client, keys, session, action):
    from tests.factories import unknown_code

    code = issue_by_api(client, keys, worker_id=demo_worker(session).id)["code"]

    def attempt(typed: str):
        if action == "show":
            return client.get(f"{API}/codes/{typed}", headers=keys.clinic)
        return client.post(f"{API}/codes/{typed}/redeem", headers=keys.clinic)

    for _ in range(10):
        assert attempt(unknown_code()).status_code == 404
    throttled = attempt(code)  # over the limit, even a real code is not looked up
    assert throttled.status_code == 429 and "wrong codes" in throttled.json()["detail"]
    session.expire_all()
    assert len(session.exec(select(Redemption)).all()) == 0
    outcomes = [
        a.detail["outcome"] for a in session.exec(select(AuditLog).where(AuditLog.actor == "key:test clinic"))
    ]
    assert outcomes.count("unknown") == 10 and "throttled" in outcomes
