"""The admin API as a whole (`app.routes.api`): every route against every
role (401 without a valid key, 403 for a role that may not act, anything
else for the roles that may), errors documented, and a bad request is a
clear JSON error."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from app.routes.deps import API_ERRORS
from tests.factories import API, make_keys

ROLES = ("admin", "viewer", "clinic")
A, R, C, ANY = {"admin"}, {"admin", "viewer"}, {"admin", "clinic"}, set(ROLES)

# (method, path) -> roles allowed. A route missing here fails the test below.
ALLOWED = {
    ("GET", "/services"): R,
    ("POST", "/services"): A,
    ("GET", "/services/{service_id}"): R,
    ("PATCH", "/services/{service_id}"): A,
    ("GET", "/clinics"): R,
    ("POST", "/clinics"): A,
    ("GET", "/clinics/{clinic_id}"): R,
    ("PATCH", "/clinics/{clinic_id}"): A,
    ("GET", "/workers"): R,
    ("POST", "/workers"): A,
    ("GET", "/workers/{worker_id}"): R,
    ("PATCH", "/workers/{worker_id}"): A,
    ("GET", "/codes"): R,
    ("POST", "/codes"): A,
    ("GET", "/codes/{code}"): ANY,
    ("POST", "/codes/{code}/redeem"): C,
    ("POST", "/codes/{code}/void"): A,
    ("GET", "/codes/{code}/chain"): R,
    ("GET", "/redemptions"): ANY,
    ("GET", "/stats/redemptions"): R,
    ("GET", "/stats/chains"): R,
    ("GET", "/indicators"): R,
    ("GET", "/reminders"): R,
    ("POST", "/reminders"): A,
    ("POST", "/reminders/{reminder_id}/cancel"): A,
    ("GET", "/messages"): R,
    ("GET", "/export/codes.csv"): R,
    ("GET", "/export/redemptions.csv"): ANY,
    ("GET", "/export/coupons.csv"): R,
    ("GET", "/export/dhis2"): R,
    ("GET", "/audit"): A,
    ("GET", "/reports/monthly"): R,
    ("GET", "/reports/monthly.csv"): R,
    ("GET", "/api-keys"): A,
    ("POST", "/api-keys"): A,
    ("POST", "/api-keys/{key_id}/revoke"): A,
    ("POST", "/api-keys/{key_id}/rotate"): A,
}

# Values that let a permitted call get past validation (it may still 404).
PATH_VALUES = {
    "service_id": "1",
    "clinic_id": "1",
    "worker_id": "1",
    "reminder_id": "1",
    "code": "0000-0000",
    "key_id": "999999",
}
QUERY = {
    ("GET", "/indicators"): {"from": "2026-01-01", "to": "2026-01-31"},
    ("GET", "/reports/monthly"): {"month": "2026-01"},
    ("GET", "/export/dhis2"): {"period": "202601"},
    ("GET", "/reports/monthly.csv"): {"month": "2026-01"},
}


def api_routes(app):
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.path.startswith(API):
            for method in route.methods:
                yield method, route.path[len(API) :]


def test_every_api_route_has_an_expected_role_set(app):
    found = set(api_routes(app))
    assert found == set(ALLOWED), (
        f"routes without a role entry: {found - set(ALLOWED)}; stale: {set(ALLOWED) - found}"
    )


def _url(path: str) -> str:
    return API + re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


@pytest.mark.parametrize(("method", "path"), sorted(ALLOWED))
def test_route_refuses_a_missing_or_unknown_key(client, method, path):
    for headers in ({}, {"Authorization": "Bearer hen_not-a-real-key"}, {"Authorization": "Basic abc"}):
        r = client.request(method, _url(path), headers=headers, params=QUERY.get((method, path)))
        assert r.status_code == 401, (method, path, headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert "API key" in r.json()["detail"]


def test_every_route_against_every_role(client, demo):
    keys = make_keys(demo)
    for method, path in sorted(ALLOWED):
        for role in ROLES:
            r = client.request(
                method, _url(path), headers=keys.of(role), params=QUERY.get((method, path)), json={}
            )
            if role in ALLOWED[(method, path)]:
                assert r.status_code not in (401, 403), (role, method, path, r.status_code, r.text)
                assert r.status_code < 500, (role, method, path, r.text)
            else:
                assert r.status_code == 403, (role, method, path, r.status_code, r.text)
                assert role in r.json()["detail"]


def test_a_deactivated_key_is_refused(client, demo):
    from app.models import ApiKey

    keys = make_keys(demo)
    for row in demo.exec(__import__("sqlmodel").select(ApiKey)):
        row.active = False
        demo.add(row)
    demo.commit()
    assert client.get(f"{API}/services", headers=keys.admin).status_code == 401


def test_errors_are_documented_with_the_detail_shape(app):
    spec = app.openapi()
    for path, item in spec["paths"].items():
        if not path.startswith(API):
            continue
        for method, op in item.items():
            assert op.get("summary"), (method, path)
            for status in API_ERRORS:
                schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorDetail"}, (method, path, status)


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


def test_a_query_parameter_the_route_does_not_take_is_refused_not_ignored(client, demo):
    keys = make_keys(demo)
    r = client.get(f"{API}/codes", params={"from": "2026-01-01"}, headers=keys.admin)
    assert r.status_code == 422
    assert "from: not a parameter of this route" in r.json()["detail"] and "issued_from" in r.json()["detail"]
    assert (
        client.get(f"{API}/codes", params={"issued_from": "2026-01-01"}, headers=keys.admin).status_code
        == 200
    )
