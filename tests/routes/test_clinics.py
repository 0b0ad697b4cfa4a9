"""Services, clinics and workers through the API: create, list, show,
update, deactivate; audit; bad input; paging."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.domain.people import resolve_caller
from app.models import AuditLog, Clinic, Role, Worker
from tests.api_support import API, make_keys


@pytest.fixture
def keys(demo):
    return make_keys(demo)


def audit_actions(session, entity: str) -> list[str]:
    session.expire_all()
    return [
        a.action
        for a in session.exec(select(AuditLog).where(AuditLog.entity == entity).order_by(AuditLog.id))
    ]


def test_service_create_list_show_update_deactivate(client, keys, session):
    body = {
        "code": "arv",
        "name": "Antiretroviral therapy",
        "display_name": "Cham soc lau dai",
        "expiry_days": 14,
    }
    r = client.post(f"{API}/services", json=body, headers=keys.admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["code"] == "ARV" and created["active"] is True and created["expiry_days"] == 14

    r = client.get(f"{API}/services", headers=keys.viewer, params={"limit": 2, "offset": 4})
    assert r.json()["total"] == 5 and [s["code"] for s in r.json()["items"]] == ["ARV"]
    assert client.get(f"{API}/services/{created['id']}", headers=keys.viewer).json()["name"] == body["name"]

    r = client.patch(f"{API}/services/{created['id']}", json={"active": False}, headers=keys.admin)
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.get(f"{API}/services", headers=keys.admin, params={"active": "true"}).json()["total"] == 4
    assert audit_actions(session, "service") == ["service.create", "service.deactivate"]


def test_a_duplicate_service_code_is_a_conflict(client, keys):
    r = client.post(
        f"{API}/services", json={"code": "VCT", "name": "x", "display_name": "y"}, headers=keys.admin
    )
    assert r.status_code == 409 and "VCT" in r.json()["detail"]


def test_clinic_with_services_and_staff(client, keys, session, settings):
    body = {
        "name": "Muong Lay health post",
        "display_name": "Phong kham Muong Lay",
        "district": "Muong Lay",
        "province": "Dien Bien",
        "hours": "T2-T6 8:00-16:00",
        "services": ["vct", "STI"],
        "staff": [{"phone": "0912 345 678", "name": "Desk"}],
    }
    r = client.post(f"{API}/clinics", json=body, headers=keys.admin)
    assert r.status_code == 201, r.text
    clinic = r.json()
    assert clinic["services"] == ["STI", "VCT"]
    assert [s["phone"] for s in clinic["staff"]] == ["+84912345678"]
    assert resolve_caller(session, "+84912345678", "en").role is Role.clinic

    r = client.patch(
        f"{API}/clinics/{clinic['id']}",
        json={"services": ["MMT"], "staff": [{"phone": "+84912345679"}], "hours": "T2-T7"},
        headers=keys.admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["services"] == ["MMT"] and r.json()["hours"] == "T2-T7"
    active_staff = [s["phone"] for s in r.json()["staff"] if s["active"]]
    assert active_staff == ["+84912345679"]
    assert resolve_caller(session, "+84912345678", "en").role is Role.client

    r = client.patch(f"{API}/clinics/{clinic['id']}", json={"active": False}, headers=keys.admin)
    assert r.json()["active"] is False
    listed = client.get(f"{API}/clinics", headers=keys.viewer, params={"active": True, "limit": 500}).json()
    assert clinic["id"] not in [c["id"] for c in listed["items"]]
    assert audit_actions(session, "clinic") == ["clinic.create", "clinic.update", "clinic.deactivate"]
    detail = session.exec(select(AuditLog).where(AuditLog.action == "clinic.update")).one().detail
    assert detail["changes"]["services"] == [["STI", "VCT"], ["MMT"]]


def test_deactivated_clinic_no_longer_shows_in_clinic_search(client, keys, session):
    from app.domain.clinics import find_clinics

    before = {c.id for c in find_clinics(session, None)}
    assert keys.other_clinic_id in before
    client.patch(f"{API}/clinics/{keys.other_clinic_id}", json={"active": False}, headers=keys.admin)
    session.expire_all()
    assert keys.other_clinic_id not in {c.id for c in find_clinics(session, None)}


def test_a_clinic_with_an_unknown_service_is_not_created_at_all(client, keys, session):
    before = len(session.exec(select(Clinic)).all())
    body = {
        "name": "X",
        "display_name": "Y",
        "district": "Z",
        "services": ["VCT", "NOPE"],
        "staff": [{"phone": "0912345670"}],
    }
    r = client.post(f"{API}/clinics", json=body, headers=keys.admin)
    assert r.status_code == 422 and "NOPE" in r.json()["detail"]
    session.expire_all()
    assert len(session.exec(select(Clinic)).all()) == before
    assert resolve_caller(session, "+84912345670", "en").role is Role.client


def test_staff_phone_of_another_clinic_is_a_conflict(client, keys):
    body = {"name": "X", "display_name": "Y", "district": "Z", "staff": [{"phone": "+84900000002"}]}
    r = client.post(f"{API}/clinics", json=body, headers=keys.admin)
    assert r.status_code == 409 and "+84900000002" in r.json()["detail"]


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


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/services/999", {}, 404),
        ("GET", "/clinics/999", {}, 404),
        ("GET", "/workers/999", {}, 404),
        ("PATCH", "/workers/999", {"json": {"name": "x"}}, 404),
        ("GET", "/services/abc", {}, 422),
        ("GET", "/services", {"params": {"limit": 10**9}}, 422),
        ("GET", "/services", {"params": {"limit": 0}}, 422),
        ("GET", "/workers", {"params": {"offset": -1}}, 422),
        (
            "POST",
            "/services",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
        ),
        (
            "POST",
            "/services",
            {"json": {"code": "OK", "name": "n", "display_name": "d", "expiry_days": "many"}},
            422,
        ),
        (
            "POST",
            "/services",
            {"json": {"code": "OK", "name": "n", "display_name": "d", "colour": "red"}},
            422,
        ),
        ("POST", "/services", {"json": {"code": "OK", "name": "n" * 500, "display_name": "d"}}, 422),
        ("POST", "/workers", {"json": ["not", "an", "object"]}, 422),
        ("PATCH", "/workers/1", {"json": {"name": None}}, 422),
        ("GET", "/workers", {"params": [("district", "A"), ("district", "B")]}, 422),
    ],
)
def test_bad_requests_get_a_clear_json_error(client, keys, method, path, kwargs, status):
    headers = {**keys.admin, **kwargs.pop("headers", {})}
    r = client.request(method, API + path, headers=headers, **kwargs)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail


def test_paging_reports_the_total_and_slices(client, keys):
    for i in range(7):
        client.post(f"{API}/workers", json={"name": f"W{i}", "phone": f"+8491200030{i}"}, headers=keys.admin)
    first = client.get(f"{API}/workers", params={"limit": 3}, headers=keys.viewer).json()
    rest = client.get(f"{API}/workers", params={"limit": 500, "offset": 3}, headers=keys.viewer).json()
    assert first["total"] == rest["total"] == 8
    assert len(first["items"]) == 3 and len(rest["items"]) == 5
    assert {w["id"] for w in first["items"]}.isdisjoint({w["id"] for w in rest["items"]})
