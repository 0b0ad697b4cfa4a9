"""Outreach workers through the API (`app.routes.workers`): create,
deactivate, a phone taken or invalid; paging."""

from __future__ import annotations

from sqlmodel import select

from app.domain.people import resolve_caller
from app.models import AuditLog, Role, Worker
from tests.factories import API


def test_worker_create_normalises_phone_and_deactivation_makes_a_client(client, keys, session):
    r = client.post(
        f"{API}/workers",
        json={"name": "Lan", "phone": "84 912 000 111", "district": "Dien Bien Phu"},
        headers=keys.admin,
    )
    assert r.status_code == 201, r.text
    worker = r.json()
    assert worker["phone"] == "+84912000111"
    assert resolve_caller(session, "+84912000111", "en").role is Role.worker

    r = client.patch(f"{API}/workers/{worker['id']}", json={"active": False}, headers=keys.admin)
    assert r.status_code == 200 and r.json()["active"] is False
    session.expire_all()
    assert resolve_caller(session, "+84912000111", "en").role is Role.client
    rows = session.exec(select(AuditLog).where(AuditLog.entity == "worker").order_by(AuditLog.id)).all()
    assert [a.action for a in rows] == ["worker.create", "worker.deactivate"]
    assert rows[1].actor == "key:test admin" and rows[1].detail["changes"] == {"active": [True, False]}


def test_deactivated_worker_can_no_longer_issue_codes(client, keys, session):
    worker = session.exec(select(Worker)).first()
    client.patch(f"{API}/workers/{worker.id}", json={"active": False}, headers=keys.admin)
    r = client.post(f"{API}/codes", json={"service": "VCT", "worker_id": worker.id}, headers=keys.admin)
    assert r.status_code == 403, r.text


def test_worker_phone_taken_and_invalid(client, keys):
    r = client.post(f"{API}/workers", json={"name": "Dup", "phone": "+84900000001"}, headers=keys.admin)
    assert r.status_code == 409
    r = client.post(f"{API}/workers", json={"name": "Bad", "phone": "12345"}, headers=keys.admin)
    assert r.status_code == 422 and "phone" in r.json()["detail"]


def test_paging_reports_the_total_and_slices(client, keys):
    for i in range(7):
        client.post(f"{API}/workers", json={"name": f"W{i}", "phone": f"+8491200030{i}"}, headers=keys.admin)
    first = client.get(f"{API}/workers", params={"limit": 3}, headers=keys.viewer).json()
    rest = client.get(f"{API}/workers", params={"limit": 500, "offset": 3}, headers=keys.viewer).json()
    assert first["total"] == rest["total"] == 8
    assert len(first["items"]) == 3 and len(rest["items"]) == 5
    assert {w["id"] for w in first["items"]}.isdisjoint({w["id"] for w in rest["items"]})


# ---------------------------------------------------------------- one phone, one role


def test_a_worker_is_not_created_on_a_clinic_staff_phone(client, keys, session):
    r = client.post(f"{API}/workers", json={"name": "Desk", "phone": "0900 000 002"}, headers=keys.admin)
    assert r.status_code == 409, r.text
    assert "+84900000002" in r.json()["detail"] and "staff" in r.json()["detail"]
    session.expire_all()
    assert resolve_caller(session, "+84900000002", "en").role is Role.clinic


def test_a_worker_cannot_move_to_a_clinic_staff_phone(client, keys, session):
    worker = session.exec(select(Worker)).first()
    r = client.patch(f"{API}/workers/{worker.id}", json={"phone": "+84900000002"}, headers=keys.admin)
    assert r.status_code == 409, r.text
    session.expire_all()
    assert session.get(Worker, worker.id).phone == "+84900000001"


def test_a_worker_is_not_reactivated_once_the_phone_is_a_clinic_s(client, keys, session):
    worker = session.exec(select(Worker)).first()
    assert (
        client.patch(f"{API}/workers/{worker.id}", json={"active": False}, headers=keys.admin).status_code
        == 200
    )
    r = client.patch(
        f"{API}/clinics/{keys.other_clinic_id}",
        json={"add_staff": [{"phone": worker.phone}]},
        headers=keys.admin,
    )
    assert r.status_code == 200, r.text
    r = client.patch(f"{API}/workers/{worker.id}", json={"active": True}, headers=keys.admin)
    assert r.status_code == 409 and worker.phone in r.json()["detail"]
    session.expire_all()
    assert resolve_caller(session, worker.phone, "en").role is Role.clinic
    # once the phone leaves the clinic's staff, the worker comes back
    r = client.patch(
        f"{API}/clinics/{keys.other_clinic_id}", json={"remove_staff": [worker.phone]}, headers=keys.admin
    )
    assert r.json()["staff_removed"] == [worker.phone]
    assert (
        client.patch(f"{API}/workers/{worker.id}", json={"active": True}, headers=keys.admin).status_code
        == 200
    )
    session.expire_all()
    assert resolve_caller(session, worker.phone, "en").role is Role.worker


def test_an_inactive_worker_may_not_take_another_worker_s_phone_either(client, keys, session):
    r = client.post(f"{API}/workers", json={"name": "B", "phone": "+84912000222"}, headers=keys.admin)
    other = r.json()
    client.patch(f"{API}/workers/{other['id']}", json={"active": False}, headers=keys.admin)
    r = client.patch(f"{API}/workers/{other['id']}", json={"phone": "+84900000001"}, headers=keys.admin)
    assert r.status_code == 409, r.text
