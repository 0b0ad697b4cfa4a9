"""Console accounts (`app.domain.users`): argon2 hashes only, sign-in that
tells nothing about which part was wrong, deactivation and resets."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.domain import console_sessions, users
from app.domain.errors import NotFound
from app.models import AuditLog, StaffUser
from tests.factories import clinic_named

PASSWORD = "correct horse battery"


def _make(session, **overrides) -> StaffUser:
    values = dict(role="viewer", name="Lò Thị Hoa", email="Hoa@Example.org", password=PASSWORD)
    values.update(overrides)
    return users.create_user(session, **values)


def test_a_user_keeps_only_an_argon2_hash_and_signs_in_by_email_any_case(demo):
    user = _make(demo)
    assert user.email == "hoa@example.org"
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert users.authenticate(demo, " HOA@example.org ", PASSWORD).id == user.id
    assert user.last_sign_in_at is not None
    assert demo.exec(select(AuditLog).where(AuditLog.action == "user.create")).one().entity_id == str(user.id)


@pytest.mark.parametrize(
    ("email", "password"),
    [("hoa@example.org", "wrong password!"), ("nobody@example.org", PASSWORD), ("hoa@example.org", "")],
)
def test_a_wrong_email_or_password_is_refused_alike(demo, email, password):
    _make(demo)
    assert users.authenticate(demo, email, password) is None


def test_a_deactivated_user_cannot_sign_in_and_a_reset_password_replaces_the_old(demo):
    user = _make(demo)
    users.set_active(demo, user.id, False, actor="test")
    assert users.authenticate(demo, user.email, PASSWORD) is None
    users.set_active(demo, user.id, True, actor="test")
    users.set_password(demo, user.id, "another long secret", actor="test")
    assert users.authenticate(demo, user.email, PASSWORD) is None
    assert users.authenticate(demo, user.email, "another long secret").id == user.id
    with pytest.raises(NotFound):
        users.set_password(demo, 999_999, "another long secret", actor="test")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"role": "owner"}, users.InvalidUser),
        ({"email": "not-an-address"}, users.InvalidUser),
        ({"password": "short"}, users.InvalidUser),
        ({"name": "  "}, users.InvalidUser),
        ({"role": "clinic"}, users.InvalidUser),  # a clinic user needs its clinic
        ({"role": "viewer", "clinic_id": 1}, users.InvalidUser),
        ({"role": "clinic", "clinic_id": 999_999}, NotFound),
    ],
)
def test_bad_accounts_are_refused_and_nothing_is_written(demo, overrides, error):
    with pytest.raises(error):
        _make(demo, **overrides)
    assert demo.exec(select(StaffUser)).all() == []


def test_an_email_is_one_account(demo):
    _make(demo)
    with pytest.raises(users.EmailTaken):
        _make(demo, email="HOA@example.org", name="Someone else")


def test_a_clinic_user_is_bound_to_its_clinic(demo):
    him_lam = clinic_named(demo)
    user = _make(demo, role="clinic", clinic_id=him_lam.id, email="desk@example.org")
    assert (user.role, user.clinic_id) == ("clinic", him_lam.id)


def test_users_are_listed_in_the_order_they_were_made(demo):
    first = _make(demo)
    second = _make(demo, email="desk@example.org", name="Desk")
    assert [u.id for u in users.list_users(demo)] == [first.id, second.id]


def test_a_reset_password_or_a_deactivation_ends_the_users_sessions(demo):
    user = _make(demo)
    other = _make(demo, email="other@example.org", name="Other")
    token, _ = console_sessions.sign_in(demo, user.email, PASSWORD)
    kept, _ = console_sessions.sign_in(demo, other.email, PASSWORD)
    users.set_password(demo, user.id, "another long secret", actor="test")
    assert console_sessions.signed_in(demo, token) is None
    assert console_sessions.signed_in(demo, kept).user.id == other.id
    token, _ = console_sessions.sign_in(demo, user.email, "another long secret")
    users.set_active(demo, user.id, False, actor="test")
    users.set_active(demo, user.id, True, actor="test")
    assert console_sessions.signed_in(demo, token) is None  # reactivating does not revive it


def test_an_admin_cannot_deactivate_their_own_account(demo):
    admin = _make(demo, role="admin", email="admin@example.org")
    with pytest.raises(users.CannotDeactivateSelf):
        users.set_active(demo, admin.id, False, actor="test", by_user_id=admin.id)
    assert admin.active
    other = _make(demo, email="desk@example.org", name="Desk")
    assert users.set_active(demo, other.id, False, actor="test", by_user_id=admin.id).active is False
