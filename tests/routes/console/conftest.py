"""`staff`: sign the test client in as a new console user of a role, on
the demo data with the clock frozen at `NOW`; `form_token(page)` reads a
page's CSRF token.

    def test_x(staff):
        client = staff("clinic", clinic="Phong kham Him Lam")
        page = client.get("/console/codes").text
        client.post("/console/...", data={"csrf": form_token(page), ...})
"""

from __future__ import annotations

import itertools
import re

import pytest

from app.domain import users
from tests.factories import NOW, clinic_named

PASSWORD = "a long enough secret"


def form_token(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.fixture
def staff(demo, client, frozen_clock):
    frozen_clock(NOW)
    numbers = itertools.count(1)

    def sign_in_as(role: str, *, clinic: str | None = None, email: str | None = None):
        email = email or f"{role}{next(numbers)}@example.org"
        clinic_id = clinic_named(demo, clinic).id if clinic else None
        users.create_user(
            demo, role=role, name=f"{role.title()} user", email=email, password=PASSWORD, clinic_id=clinic_id
        )
        demo.commit()
        form = client.get("/console/login")
        r = client.post(
            "/console/login",
            data={"email": email, "password": PASSWORD, "csrf": form_token(form.text)},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return client

    return sign_in_as
