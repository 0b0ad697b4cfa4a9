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
