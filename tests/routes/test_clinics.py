"""Clinics through the API (`app.routes.clinics`): create with services and
staff, update, deactivate; audit; bad input; a phone is a worker's or a
clinic's, never both; staff changed whole or phone by phone; names and
addresses clients read are discreet."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.domain.people import resolve_caller
from app.models import AuditLog, Clinic, Role
from tests.factories import API, audit_actions, audits, count_rows, demo_worker


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


# ---------------------------------------------------------------- one phone, one role


def _new_clinic(client, keys, **body) -> dict:
    body = {"name": "Muong Cha post", "display_name": "Phong kham Muong Cha", "district": "Muong Cha", **body}
    r = client.post(f"{API}/clinics", json=body, headers=keys.admin)
    assert r.status_code == 201, r.text
    return r.json()


def test_an_active_worker_s_phone_is_not_made_clinic_staff(client, keys, session):
    before = count_rows(session, Clinic)
    body = {"name": "X", "display_name": "Y", "district": "Z", "staff": [{"phone": "0900000001"}]}
    r = client.post(f"{API}/clinics", json=body, headers=keys.admin)
    assert r.status_code == 409, r.text
    assert "+84900000001" in r.json()["detail"] and "worker" in r.json()["detail"]
    assert count_rows(session, Clinic) == before

    clinic = _new_clinic(client, keys)
    for change in ({"staff": [{"phone": "+84900000001"}]}, {"add_staff": [{"phone": "+84900000001"}]}):
        r = client.patch(f"{API}/clinics/{clinic['id']}", json=change, headers=keys.admin)
        assert r.status_code == 409 and "+84900000001" in r.json()["detail"], r.text
    session.expire_all()
    assert resolve_caller(session, "+84900000001", "en").role is Role.worker


def test_a_former_worker_s_phone_may_become_clinic_staff(client, keys, session):
    worker = demo_worker(session)
    client.patch(f"{API}/workers/{worker.id}", json={"active": False}, headers=keys.admin)
    clinic = _new_clinic(client, keys, staff=[{"phone": worker.phone}])
    assert [s["phone"] for s in clinic["staff"]] == [worker.phone]
    session.expire_all()
    assert resolve_caller(session, worker.phone, "en").role is Role.clinic


# ---------------------------------------------------------------- changing the staff list


def _active_staff(clinic: dict) -> list[str]:
    return sorted(s["phone"] for s in clinic["staff"] if s["active"])


def test_add_staff_and_remove_staff_change_only_the_phones_they_name(client, keys, session):
    clinic = _new_clinic(client, keys, staff=[{"phone": "0912345601"}, {"phone": "0912345602"}])
    url = f"{API}/clinics/{clinic['id']}"
    r = client.patch(
        url, json={"add_staff": [{"phone": "0912 345 603", "name": "Night desk"}]}, headers=keys.admin
    )
    assert r.status_code == 200, r.text
    assert _active_staff(r.json()) == ["+84912345601", "+84912345602", "+84912345603"]
    assert r.json()["staff_added"] == ["+84912345603"] and r.json()["staff_removed"] == []

    r = client.patch(url, json={"remove_staff": ["0912345601"]}, headers=keys.admin)
    assert r.status_code == 200, r.text
    assert _active_staff(r.json()) == ["+84912345602", "+84912345603"]
    assert r.json()["staff_added"] == [] and r.json()["staff_removed"] == ["+84912345601"]
    session.expire_all()
    assert resolve_caller(session, "+84912345601", "en").role is Role.client
    assert resolve_caller(session, "+84912345602", "en").role is Role.clinic

    # a removed phone comes back with add_staff
    r = client.patch(url, json={"add_staff": [{"phone": "0912345601"}]}, headers=keys.admin)
    assert r.json()["staff_added"] == ["+84912345601"] and len(_active_staff(r.json())) == 3
    details = [a.detail for a in audits(session, "clinic.update")]
    assert [(d["staff_added"], d["staff_removed"]) for d in details] == [
        (["+84912345603"], []),
        ([], ["+84912345601"]),
        (["+84912345601"], []),
    ]


def test_staff_as_a_whole_list_says_who_it_removed(client, keys, session):
    clinic = _new_clinic(client, keys, staff=[{"phone": "0912345601"}, {"phone": "0912345602"}])
    r = client.patch(
        f"{API}/clinics/{clinic['id']}",
        json={"staff": [{"phone": "0912345602"}, {"phone": "0912345603"}]},
        headers=keys.admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["staff_added"] == ["+84912345603"] and r.json()["staff_removed"] == ["+84912345601"]
    assert _active_staff(r.json()) == ["+84912345602", "+84912345603"]
    detail = audits(session, "clinic.update")[-1].detail
    assert detail["staff_removed"] == ["+84912345601"] and detail["staff_added"] == ["+84912345603"]
    assert detail["changes"]["staff"] == [["+84912345601", "+84912345602"], ["+84912345602", "+84912345603"]]

    r = client.patch(f"{API}/clinics/{clinic['id']}", json={"hours": "T2-T6"}, headers=keys.admin)
    assert r.json()["staff_added"] == r.json()["staff_removed"] == []
    assert _active_staff(r.json()) == ["+84912345602", "+84912345603"]


@pytest.mark.parametrize(
    "change, words",
    [
        ({"staff": [{"phone": "0912345609"}], "add_staff": [{"phone": "0912345608"}]}, "either staff"),
        ({"staff": [], "remove_staff": ["0912345601"]}, "either staff"),
        ({"add_staff": [{"phone": "0912345601"}], "remove_staff": ["0912 345 601"]}, "both"),
        ({"remove_staff": ["0912345699"]}, "not a staff phone"),
        ({"remove_staff": ["+84900000002"]}, "not a staff phone"),
        ({"add_staff": [{"phone": "0912345605"}, {"phone": "+84912345605"}]}, "twice"),
    ],
)
def test_a_staff_change_that_does_not_add_up_is_refused_whole(client, keys, session, change, words):
    clinic = _new_clinic(client, keys, staff=[{"phone": "0912345601"}])
    r = client.patch(f"{API}/clinics/{clinic['id']}", json={**change, "hours": "T7"}, headers=keys.admin)
    assert r.status_code == 422 and words in r.json()["detail"], r.text
    after = client.get(f"{API}/clinics/{clinic['id']}", headers=keys.admin).json()
    assert _active_staff(after) == ["+84912345601"] and after["hours"] == ""


# ---------------------------------------------------------------- discretion


@pytest.mark.parametrize(
    "field, value, word",
    [
        ("display_name", "Co so dieu tri Methadone Tuan Giao", "methadone"),
        ("display_name", "Phòng khám HIV", "hiv"),
        ("address", "Khu xet nghiem, 12 Vo Nguyen Giap", "xet nghiem"),
        ("hours", "T2-T6, PrEP T7", "prep"),
        ("district", "Ma tuy", "ma tuy"),
    ],
)
def test_a_clinic_name_or_address_naming_a_sensitive_word_is_refused(
    client, keys, session, field, value, word
):
    before = count_rows(session, Clinic)
    body = {"name": "Tuan Giao MMT site", "display_name": "Phong kham Tuan Giao", "district": "Tuan Giao"}
    r = client.post(f"{API}/clinics", json={**body, field: value}, headers=keys.admin)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"] and repr(word) in r.json()["detail"]
    assert count_rows(session, Clinic) == before

    r = client.patch(f"{API}/clinics/{keys.clinic_id}", json={field: value}, headers=keys.admin)
    assert r.status_code == 422 and repr(word) in r.json()["detail"], r.text
    session.expire_all()
    assert getattr(session.get(Clinic, keys.clinic_id), field) != value


def test_a_clinic_s_internal_name_may_name_its_services(client, keys):
    clinic = _new_clinic(client, keys, name="Tuan Giao methadone and HIV testing site")
    assert clinic["name"] == "Tuan Giao methadone and HIV testing site"


def test_a_clinics_internal_name_is_its_own(client, keys, session):
    """The DHIS2 export and staff tell clinics apart by the internal name:
    a second clinic of the same name (any case or spacing) is a 409, on
    create and on a rename."""
    taken = session.get(Clinic, keys.clinic_id).name
    body = {"name": f"  {taken.upper()} ", "display_name": "Phong kham moi", "district": "Muong Lay"}
    r = client.post(f"{API}/clinics", json=body, headers=keys.admin)
    assert r.status_code == 409 and taken in r.json()["detail"], r.text
    r = client.patch(f"{API}/clinics/{keys.other_clinic_id}", json={"name": taken}, headers=keys.admin)
    assert r.status_code == 409
    same = client.patch(f"{API}/clinics/{keys.clinic_id}", json={"name": taken}, headers=keys.admin)
    assert same.status_code == 200  # its own name again
