"""`/console/api-keys`: an admin creates a key, sees it once, uses it on the
JSON API and revokes it, after which it is refused; bad names and roles
are refused on the page and save nothing; only admins open the page."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from app.domain import audit
from app.domain.apikeys import hash_key
from app.messages import render
from app.models import ApiKey, AuditLog
from tests.factories import API, bearer, clinic_named
from tests.routes.console.conftest import form_token

PAGE = "/console/api-keys"


def _create(client, **fields):
    token = form_token(client.get(PAGE).text)
    data = {"name": "District report", "role": "viewer", "clinic": "", "expires_in_days": "", **fields}
    return client.post(PAGE, data={**data, "csrf": token}, follow_redirects=False)


def _plain(page: str) -> str:
    return re.search(r'class="secret">(hen_[A-Za-z0-9_-]+)<', page).group(1)


def _keys(demo) -> list[ApiKey]:
    demo.expire_all()
    return list(demo.exec(select(ApiKey)).all())


def _works(client, plain: str) -> int:
    return client.get(f"{API}/services", headers=bearer(plain)).status_code


def _actions(demo, actor: str) -> list[str]:
    return [a.action for a in demo.exec(select(AuditLog).where(AuditLog.actor == actor))]


def test_a_new_key_is_shown_once_works_on_the_api_and_stops_when_revoked(staff, demo):
    client = staff("admin", email="boss@example.org")
    r = _create(client)
    assert r.status_code == 200 and "no-store" in r.headers["cache-control"]
    plain = _plain(r.text)
    assert render("console_admin.shown_once", "vi") in r.text
    [row] = [k for k in _keys(demo) if k.name == "District report"]
    assert row.key_hash == hash_key(plain) and row.role == "viewer"
    assert _works(client, plain) == 200

    page = client.get(PAGE).text
    assert "District report" in page and plain not in page and row.key_hash not in page
    assert 'class="secret"' not in page
    assert render("console_admin.works", "vi") in page

    r = client.post(f"{PAGE}/{row.id}/revoke", data={"csrf": form_token(page)}, follow_redirects=False)
    assert r.status_code == 303
    assert _works(client, plain) == 401
    page = client.get(r.headers["location"]).text
    assert render("console_admin.key_revoked", "vi") in page
    assert render("console_admin.revoked_on", "vi", date="23/11/2026 14:00") in page
    assert plain not in page
    assert {"apikey.create", "apikey.revoke"} <= set(_actions(demo, audit.user_actor("boss@example.org")))


def test_a_clinic_key_is_bound_to_the_chosen_clinic(staff, demo):
    client = staff("admin")
    him_lam = clinic_named(demo, "Phong kham Him Lam")
    r = _create(client, name="Him Lam desk", role="clinic", clinic=str(him_lam.id), expires_in_days="30")
    assert r.status_code == 200
    [row] = [k for k in _keys(demo) if k.name == "Him Lam desk"]
    assert row.clinic_id == him_lam.id and row.expires_at is not None
    assert client.get(f"{API}/redemptions", headers=bearer(_plain(r.text))).status_code == 200
    page = client.get(PAGE).text
    assert him_lam.name in page and "23/12/2026 14:00" in page


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"role": "clinic"}, "console_admin.key_refused"),  # a clinic key without its clinic
        ({"role": "viewer", "clinic": "1"}, "console_admin.key_refused"),
        ({"name": "   "}, "console_admin.key_refused"),
        ({"role": "owner"}, "console_admin.key_refused"),
        ({"expires_in_days": "0"}, "console_admin.key_refused"),
        ({"expires_in_days": "soon"}, "console_admin.bad_days"),
        ({"role": "clinic", "clinic": "999999"}, "console_admin.bad_clinic"),
        ({"role": "clinic", "clinic": "x"}, "console_admin.bad_clinic"),
    ],
)
def test_a_refused_key_is_explained_on_the_page_and_nothing_is_saved(staff, demo, fields, says):
    client = staff("admin")
    before = len(_keys(demo))
    r = _create(client, **fields)
    assert r.status_code == 422 and 'role="alert"' in r.text
    assert render(says, "vi") in r.text and 'class="secret"' not in r.text
    assert len(_keys(demo)) == before


def test_a_second_key_of_the_same_name_is_refused(staff, demo):
    client = staff("admin")
    assert _create(client).status_code == 200
    r = _create(client, role="admin")
    assert r.status_code == 422 and render("console_admin.key_name_taken", "vi") in r.text
    assert 'class="secret"' not in r.text
    assert [k.role for k in _keys(demo) if k.name == "District report"] == ["viewer"]


def test_revoking_a_revoked_or_unknown_key_says_so(staff, demo):
    client = staff("admin")
    _create(client)
    [row] = [k for k in _keys(demo) if k.name == "District report"]
    token = form_token(client.get(PAGE).text)
    assert client.post(f"{PAGE}/{row.id}/revoke", data={"csrf": token}).status_code == 200  # redirected
    again = client.post(f"{PAGE}/{row.id}/revoke", data={"csrf": token})
    assert again.status_code == 409 and render("console_admin.key_revoked_already", "vi") in again.text
    unknown = client.post(f"{PAGE}/999999/revoke", data={"csrf": token})
    assert unknown.status_code == 404 and render("error.not_found", "vi") in unknown.text


@pytest.mark.parametrize("role", ["viewer", "clinic"])
def test_only_an_admin_opens_the_page_or_makes_and_revokes_keys(staff, demo, role):
    admin = staff("admin")
    _create(admin)
    [row] = [k for k in _keys(demo) if k.name == "District report"]
    client = staff(role, clinic="Phong kham Him Lam" if role == "clinic" else None)
    r = client.get(PAGE)
    assert r.status_code == 403 and render("console.admins_only", "vi") in r.text
    assert "District report" not in r.text
    token = form_token(client.get("/console/").text)  # the session's own form token
    data = {"name": "Mine", "role": "admin", "csrf": token}
    assert client.post(PAGE, data=data, follow_redirects=False).status_code == 403
    assert client.post(f"{PAGE}/{row.id}/revoke", data={"csrf": token}).status_code == 403
    assert [(k.name, k.active) for k in _keys(demo)] == [("District report", True)]
    assert 'href="/console/api-keys"' not in client.get("/console/").text


def test_a_form_without_its_token_is_refused(staff, demo):
    client = staff("admin")
    _create(client)
    [row] = [k for k in _keys(demo) if k.name == "District report"]
    r = client.post(PAGE, data={"name": "Forged", "role": "admin"}, follow_redirects=False)
    assert r.status_code == 403 and render("console.form_expired", "vi") in r.text
    forged = client.post(f"{PAGE}/{row.id}/revoke", data={"csrf": "guessed"}, follow_redirects=False)
    assert forged.status_code == 403
    assert [(k.name, k.active) for k in _keys(demo)] == [("District report", True)]


def test_signed_out_the_page_leads_to_the_sign_in(client):
    r = client.get(PAGE, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
