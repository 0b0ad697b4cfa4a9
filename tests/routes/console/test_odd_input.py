"""Odd input across the console gets a page that says why, never a 500:
ids beyond what the database holds, months in other digits, an edit of a
clinic that does not exist; a clinic desk does not open the program's
worker and service lists (as a clinic API key does not); a viewer's
redemptions CSV masks the desks' phones."""

from __future__ import annotations

import pytest

from app.demo import DEMO_CLINIC_PHONE
from app.domain.code_text import format_code
from app.messages import render
from tests.factories import CLIENT_LOCAL, issue_by_sms, sms
from tests.routes.console.conftest import form_token

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "path",
    [
        f"/console/users/{HUGE}/deactivate",
        f"/console/users/{HUGE}/reactivate",
        f"/console/users/{HUGE}/password",
        f"/console/api-keys/{HUGE}/revoke",
        f"/console/workers/{HUGE}/deactivate",
        "/console/workers/2147483648/reactivate",
    ],
)
def test_an_id_beyond_the_database_is_a_not_found_page(staff, path):
    admin = staff("admin")
    token = form_token(admin.get("/console/").text)
    r = admin.post(path, data={"csrf": token, "password": "x" * 12, "password_again": "x" * 12})
    assert r.status_code == 404 and render("error.not_found", "vi") in r.text


@pytest.mark.parametrize("field", ["clinic", "expires_in_days"])
def test_a_huge_number_in_a_key_form_is_refused_on_the_page(staff, field):
    admin = staff("admin")
    token = form_token(admin.get("/console/api-keys").text)
    r = admin.post("/console/api-keys", data={"csrf": token, "name": "Big", "role": "clinic", field: HUGE})
    assert r.status_code == 422 and 'role="alert"' in r.text


@pytest.mark.parametrize(
    "url",
    [
        "/console/reports?month=٢٠٢٦-١١",
        "/console/reports/monthly.csv?month=２０２６-１１",
        "/console/reports/monthly.csv?month= 2026-1",
    ],
)
def test_a_month_in_other_digits_is_refused_not_a_crash(staff, url):
    r = staff("viewer").get(url)
    assert r.status_code == 422, r.text


def test_editing_a_clinic_that_does_not_exist_is_a_not_found_page(staff):
    admin = staff("admin")
    token = form_token(admin.get("/console/clinics").text)
    r = admin.post("/console/clinics/999999", data={"csrf": token, "display_name": ""})
    assert r.status_code == 404 and "<nav" in r.text


@pytest.mark.parametrize("path", ["/console/workers", "/console/services", "/console/services/1"])
def test_a_clinic_desk_does_not_open_the_programs_lists(staff, path):
    desk = staff("clinic", clinic="Phong kham Him Lam")
    assert desk.get(path).status_code == 403
    assert f'href="{path}"' not in desk.get("/console/").text


def test_a_viewers_redemptions_csv_masks_the_desks_phone(staff):
    viewer = staff("viewer")
    code = issue_by_sms(viewer, f"GT VCT {CLIENT_LOCAL}")
    sms(viewer, DEMO_CLINIC_PHONE, f"XN {format_code(code.code)}")
    text = viewer.get("/console/reports/redemptions.csv?month=2026-11").text
    assert "phone:+8490****002" in text and DEMO_CLINIC_PHONE not in text
