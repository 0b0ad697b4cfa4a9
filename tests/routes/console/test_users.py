"""`/console/users`: an admin adds a user who can then sign in, deactivates
one (whose session ends at once), reactivates one and resets a password
(the old one fails, the new one works, open sessions end); bad input is
explained on the page and saves nothing; passwords appear nowhere; only
admins open the page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.domain import audit, users
from app.messages import render
from app.models import AuditLog, StaffUser
from tests.factories import clinic_named
from tests.routes.console.conftest import PASSWORD, form_token

PAGE = "/console/users"
NEW_PASSWORD = "a brand new passphrase"


def _browser(client) -> TestClient:
    """A second browser (its own cookies) on the same application."""
    return TestClient(client.app)


def _sign_in(browser, email: str, password: str) -> int:
    form = browser.get("/console/login")
    data = {"email": email, "password": password, "csrf": form_token(form.text)}
    return browser.post("/console/login", data=data, follow_redirects=False).status_code


def _signed_in(browser) -> bool:
    return browser.get("/console/", follow_redirects=False).status_code == 200


def _add(client, **fields):
    token = form_token(client.get(PAGE).text)
    data = {
        "name": "Lò Thị Hoa",
        "email": "hoa@example.org",
        "role": "viewer",
        "clinic": "",
        "password": PASSWORD,
        "password_again": PASSWORD,
        **fields,
    }
    return client.post(PAGE, data={**data, "csrf": token}, follow_redirects=False)


def _user(demo, email: str = "hoa@example.org") -> StaffUser | None:
    demo.expire_all()
    return demo.exec(select(StaffUser).where(StaffUser.email == email)).first()


def _post(client, path: str, **data):
    token = form_token(client.get(PAGE).text)
    return client.post(path, data={**data, "csrf": token}, follow_redirects=False)


def _no_password_anywhere(demo, *texts: str) -> None:
    audited = " ".join(f"{a.detail}" for a in demo.exec(select(AuditLog)))
    for password in (PASSWORD, NEW_PASSWORD):
        assert password not in audited
        assert all(password not in text for text in texts)


def test_an_admin_adds_a_user_who_can_then_sign_in(staff, demo):
    admin = staff("admin", email="boss@example.org")
    r = _add(admin)
    assert r.status_code == 303
    page = admin.get(r.headers["location"]).text
    assert render("console_admin.user_created", "vi") in page
    assert "Lò Thị Hoa" in page and "hoa@example.org" in page
    user = _user(demo)
    assert user.role == "viewer" and user.active and user.password_hash.startswith("$argon2id$")
    hoa = _browser(admin)
    assert _sign_in(hoa, "hoa@example.org", PASSWORD) == 303 and _signed_in(hoa)
    created = demo.exec(select(AuditLog).where(AuditLog.action == "user.create")).all()
    assert [a.actor for a in created if a.entity_id == str(user.id)] == [audit.user_actor("boss@example.org")]
    _no_password_anywhere(demo, page, r.text)


def test_a_clinic_desk_user_is_bound_to_the_chosen_clinic(staff, demo):
    admin = staff("admin")
    him_lam = clinic_named(demo)
    assert _add(admin, role="clinic", clinic=str(him_lam.id)).status_code == 303
    assert (_user(demo).role, _user(demo).clinic_id) == ("clinic", him_lam.id)
    assert him_lam.name in admin.get(PAGE).text


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"password_again": "a different secret"}, "console_admin.passwords_differ"),
        ({"password": "short", "password_again": "short"}, "console_admin.user_refused"),
        ({"email": "not-an-address"}, "console_admin.user_refused"),
        ({"name": "  "}, "console_admin.user_refused"),
        ({"role": "clinic"}, "console_admin.user_refused"),  # a clinic desk user without its clinic
        ({"role": "viewer", "clinic": "1"}, "console_admin.user_refused"),
        ({"role": "clinic", "clinic": "999999"}, "console_admin.bad_clinic"),
    ],
)
def test_a_refused_user_is_explained_on_the_page_and_nothing_is_saved(staff, demo, fields, says):
    admin = staff("admin")
    before = len(users.list_users(demo))
    r = _add(admin, **fields)
    assert r.status_code == 422 and 'role="alert"' in r.text and render(says, "vi") in r.text
    assert len(users.list_users(demo)) == before and _user(demo) is None
    assert 'value="hoa@example.org"' in r.text or "email" in fields  # the form keeps what was typed
    _no_password_anywhere(demo, r.text)


def test_an_email_is_one_account(staff, demo):
    admin = staff("admin")
    assert _add(admin).status_code == 303
    r = _add(admin, email="HOA@example.org", name="Someone else", role="admin")
    assert r.status_code == 422 and render("console_admin.email_taken", "vi") in r.text
    assert [(u.name, u.role) for u in users.list_users(demo) if u.email == "hoa@example.org"] == [
        ("Lò Thị Hoa", "viewer")
    ]


def test_a_deactivated_user_is_signed_out_at_once_and_cannot_sign_in_until_reactivated(staff, demo):
    admin = staff("admin", email="boss@example.org")
    _add(admin)
    hoa = _browser(admin)
    assert _sign_in(hoa, "hoa@example.org", PASSWORD) == 303 and _signed_in(hoa)
    user = _user(demo)
    r = _post(admin, f"{PAGE}/{user.id}/deactivate")
    assert r.status_code == 303
    page = admin.get(r.headers["location"]).text
    assert render("console_admin.user_deactivated", "vi") in page
    assert not _signed_in(hoa)
    assert _sign_in(hoa, "hoa@example.org", PASSWORD) == 401
    assert _post(admin, f"{PAGE}/{user.id}/reactivate").status_code == 303
    assert not _signed_in(hoa)  # the old session does not come back
    assert _sign_in(hoa, "hoa@example.org", PASSWORD) == 303 and _signed_in(hoa)
    actions = [a.action for a in demo.exec(select(AuditLog).where(AuditLog.entity_id == str(user.id)))]
    assert {"user.deactivate", "user.activate"} <= set(actions)


def test_an_admin_cannot_deactivate_their_own_account(staff, demo):
    admin = staff("admin", email="boss@example.org")
    me = _user(demo, "boss@example.org")
    assert f'action="/console/users/{me.id}/deactivate"' not in admin.get(PAGE).text
    r = _post(admin, f"{PAGE}/{me.id}/deactivate")
    assert r.status_code == 409 and render("console_admin.not_yourself", "vi") in r.text
    assert _user(demo, "boss@example.org").active and _signed_in(admin)


def test_a_reset_password_replaces_the_old_one_and_ends_the_users_sessions(staff, demo):
    admin = staff("admin", email="boss@example.org")
    _add(admin)
    hoa = _browser(admin)
    assert _sign_in(hoa, "hoa@example.org", PASSWORD) == 303
    user = _user(demo)
    path = f"{PAGE}/{user.id}/password"
    mismatch = _post(admin, path, password=NEW_PASSWORD, password_again=NEW_PASSWORD + "!")
    assert mismatch.status_code == 422 and render("console_admin.passwords_differ", "vi") in mismatch.text
    short = _post(admin, path, password="short", password_again="short")
    assert short.status_code == 422 and render("console_admin.password_refused", "vi") in short.text
    assert _signed_in(hoa)  # nothing changed yet
    r = _post(admin, path, password=NEW_PASSWORD, password_again=NEW_PASSWORD)
    assert r.status_code == 303
    page = admin.get(r.headers["location"]).text
    assert render("console_admin.password_changed", "vi") in page
    assert not _signed_in(hoa)
    assert _sign_in(hoa, "hoa@example.org", PASSWORD) == 401
    assert _sign_in(hoa, "hoa@example.org", NEW_PASSWORD) == 303 and _signed_in(hoa)
    [reset] = demo.exec(select(AuditLog).where(AuditLog.action == "user.password")).all()
    assert reset.actor == audit.user_actor("boss@example.org") and reset.entity_id == str(user.id)
    _no_password_anywhere(demo, page, mismatch.text, short.text)
    unknown = _post(admin, f"{PAGE}/999999/password", password=NEW_PASSWORD, password_again=NEW_PASSWORD)
    assert unknown.status_code == 404


@pytest.mark.parametrize("role", ["viewer", "clinic"])
def test_only_an_admin_opens_the_page_or_changes_accounts(staff, demo, role):
    admin = staff("admin")
    _add(admin)
    user = _user(demo)
    client = staff(role, clinic="Phong kham Him Lam" if role == "clinic" else None)
    r = client.get(PAGE)
    assert r.status_code == 403 and render("console.admins_only", "vi") in r.text
    assert "hoa@example.org" not in r.text
    token = form_token(client.get("/console/").text)  # the session's own form token
    new = {"name": "X", "email": "x@example.org", "role": "admin", "password": PASSWORD}
    attempts = [
        (PAGE, {**new, "password_again": PASSWORD}),
        (f"{PAGE}/{user.id}/deactivate", {}),
        (f"{PAGE}/{user.id}/password", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}),
    ]
    for path, data in attempts:
        assert client.post(path, data={**data, "csrf": token}, follow_redirects=False).status_code == 403
    assert _user(demo, "x@example.org") is None and _user(demo).active
    assert users.authenticate(demo, "hoa@example.org", PASSWORD) is not None
    assert 'href="/console/users"' not in client.get("/console/").text


def test_a_form_without_its_token_is_refused(staff, demo):
    admin = staff("admin")
    _add(admin)
    user = _user(demo)
    forged = {"name": "X", "email": "x@example.org", "role": "admin", "password": PASSWORD}
    r = admin.post(PAGE, data={**forged, "password_again": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and render("console.form_expired", "vi") in r.text
    assert admin.post(f"{PAGE}/{user.id}/deactivate", follow_redirects=False).status_code == 403
    assert _user(demo, "x@example.org") is None and _user(demo).active


def test_the_page_in_english(staff):
    admin = staff("admin")
    page = admin.get(f"{PAGE}?lang=en").text
    assert render("console_admin.add_user", "en") in page and '<label for="password_again">' in page
