"""Services through the API (`app.routes.services`): create, list, show,
update, deactivate; audit; a duplicate code; display names are discreet."""

from __future__ import annotations

import pytest

from tests.factories import API, audit_actions, service_id


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


@pytest.mark.parametrize(
    "display_name, word",
    [
        ("Cham soc HIV", "hiv"),
        ("Thuoc chong AIDS", "aids"),
        ("Điều trị Methadone", "methadone"),
        ("Xét nghiệm", "xet nghiem"),
    ],
)
def test_a_display_name_naming_a_sensitive_word_is_refused(client, keys, session, display_name, word):
    r = client.post(
        f"{API}/services",
        json={"code": "ART", "name": "ART", "display_name": display_name},
        headers=keys.admin,
    )
    assert r.status_code == 422, r.text
    assert "display_name" in r.json()["detail"] and repr(word) in r.json()["detail"]
    assert client.get(f"{API}/services", headers=keys.admin).json()["total"] == 4

    vct = service_id(session, "VCT")
    r = client.patch(f"{API}/services/{vct}", json={"display_name": display_name}, headers=keys.admin)
    assert r.status_code == 422 and repr(word) in r.json()["detail"], r.text
    assert client.get(f"{API}/services/{vct}", headers=keys.admin).json()["display_name"] == "Tu van suc khoe"


def test_service_codes_and_internal_names_are_staff_facing_and_not_checked(client, keys):
    body = {"code": "ARV", "name": "HIV treatment (ARV)", "display_name": "Cham soc lau dai"}
    assert client.post(f"{API}/services", json=body, headers=keys.admin).status_code == 201
