"""API keys through the admin API and the command line: made, listed,
revoked, rotated and expired; a clinic key stops with its clinic; names are
unique; the last use is noted."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.models import ApiKey, AuditLog
from tests.factories import API, API_NOW, bearer

KEYS = f"{API}/api-keys"


def _make(client, keys, **body) -> dict:
    body.setdefault("role", "viewer")
    r = client.post(KEYS, json=body, headers=keys.admin)
    assert r.status_code == 201, r.text
    return r.json()


def _works(client, plain: str) -> int:
    return client.get(f"{API}/services", headers=bearer(plain)).status_code


def test_a_key_made_by_an_admin_works_and_its_plain_copy_is_shown_once(client, keys, demo):
    made = _make(client, keys, name="M&E officer")
    assert made["key"].startswith("hen_") and made["prefix"] == made["key"][:8]
    assert _works(client, made["key"]) == 200
    listed = client.get(KEYS, headers=keys.admin).json()
    mine = next(k for k in listed if k["id"] == made["id"])
    assert "key" not in mine and mine["active"] is True
    assert mine["last_used_at"] is not None  # noted on use
    assert all("key_hash" not in k for k in listed)
    actions = [a.action for a in demo.exec(select(AuditLog).where(AuditLog.entity == "api_key"))]
    assert "apikey.create" in actions


def test_a_revoked_key_stops_at_once(client, keys, demo):
    made = _make(client, keys, name="leaving officer")
    r = client.post(f"{KEYS}/{made['id']}/revoke", headers=keys.admin)
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["revoked_at"]
    assert _works(client, made["key"]) == 401
    again = client.post(f"{KEYS}/{made['id']}/revoke", headers=keys.admin)
    assert again.status_code == 409 and "revoked already" in again.json()["detail"]
    assert client.post(f"{KEYS}/999999/revoke", headers=keys.admin).status_code == 404


def test_rotation_replaces_a_key_under_the_same_name(client, keys):
    made = _make(client, keys, name="district report")
    r = client.post(f"{KEYS}/{made['id']}/rotate", json={}, headers=keys.admin)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["name"] == "district report" and new["role"] == "viewer" and new["key"] != made["key"]
    assert _works(client, made["key"]) == 401
    assert _works(client, new["key"]) == 200
    names = {k["name"] for k in client.get(KEYS, headers=keys.admin).json()}
    assert f"district report (old #{made['id']})" in names


def test_two_keys_may_not_share_a_name(client, keys):
    _make(client, keys, name="Clinic Him Lam desk")
    r = client.post(KEYS, json={"name": "Clinic  Him Lam desk", "role": "viewer"}, headers=keys.admin)
    assert r.status_code == 409 and "exists already" in r.json()["detail"]


def test_a_key_with_an_expiry_stops_on_that_day(client, keys, frozen_clock):
    made = _make(client, keys, name="one-week auditor", expires_in_days=7)
    assert _works(client, made["key"]) == 200
    frozen_clock(API_NOW + timedelta(days=7, seconds=1))
    assert _works(client, made["key"]) == 401
    assert (
        client.post(
            KEYS, json={"name": "x", "role": "viewer", "expires_in_days": 0}, headers=keys.admin
        ).status_code
        == 422
    )


def test_a_clinic_key_stops_when_its_clinic_is_deactivated(client, keys):
    made = _make(client, keys, name="desk key", role="clinic", clinic_id=keys.clinic_id)
    assert client.get(f"{API}/redemptions", headers=bearer(made["key"])).status_code == 200
    r = client.patch(f"{API}/clinics/{keys.clinic_id}", json={"active": False}, headers=keys.admin)
    assert r.status_code == 200, r.text
    assert client.get(f"{API}/redemptions", headers=bearer(made["key"])).status_code == 401


def test_only_admin_keys_manage_keys(client, keys):
    for role in ("viewer", "clinic"):
        assert client.get(KEYS, headers=keys.of(role)).status_code == 403
        assert (
            client.post(KEYS, json={"name": "mine", "role": "admin"}, headers=keys.of(role)).status_code
            == 403
        )


def test_last_use_is_written_at_most_once_a_minute(client, keys, demo, frozen_clock):
    made = _make(client, keys, name="scraper")
    _works(client, made["key"])
    demo.expire_all()
    first = demo.get(ApiKey, made["id"]).last_used_at
    frozen_clock(API_NOW + timedelta(seconds=30))
    _works(client, made["key"])
    demo.expire_all()
    assert demo.get(ApiKey, made["id"]).last_used_at == first
    frozen_clock(API_NOW + timedelta(minutes=2))
    _works(client, made["key"])
    demo.expire_all()
    assert demo.get(ApiKey, made["id"]).last_used_at == API_NOW + timedelta(minutes=2)
