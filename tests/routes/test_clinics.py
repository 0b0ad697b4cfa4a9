"""Clinics through the API (`app.routes.clinics`): create with services and
staff, update, deactivate; audit; bad input."""

from __future__ import annotations

from sqlmodel import select

from app.domain.people import resolve_caller
from app.models import AuditLog, Clinic, Role
from tests.factories import API, audit_actions


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
