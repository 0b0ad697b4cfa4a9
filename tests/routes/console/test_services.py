"""`/console/services`: the services with what clients read in each
language; an admin adds, edits and deactivates a service (no new codes for
it then); display names are checked like the API's, a taken code or a bad
day count is refused with nothing saved; a viewer or a clinic user changes
nothing; every change is audited with the user."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain.code_text import format_code
from app.messages import render
from app.models import ReferralCode, Service
from tests.factories import CLIENT_LOCAL, audits, count_in, count_rows, issue_by_sms, reply, service_with_code
from tests.routes.console.conftest import form_token

ADMIN = "boss@example.org"
NUTRITION = {
    "code": "dd",
    "name": "Nutrition counselling",
    "display_name": "Tư vấn dinh dưỡng",
    "expiry_days": "60",
}


def _add(client, **fields):
    page = client.get("/console/services").text
    data = {**NUTRITION, "retest_after_days": "", "csrf": form_token(page), **fields}
    return client.post("/console/services", data=data, follow_redirects=False)


def _post(client, path: str, **data):
    token = form_token(client.get("/console/services").text)
    return client.post(path, data={"csrf": token, **data}, follow_redirects=False)


def _said(key: str, **values) -> str:
    return render(key, "vi", **values)


def _edit(service: Service, **changes) -> dict:
    data = {
        "name": service.name,
        "display_name": service.display_name,
        "expiry_days": str(service.expiry_days),
    }
    data["retest_after_days"] = str(service.retest_after_days or "")
    return {**data, **changes}


def test_the_list_shows_codes_names_and_what_clients_read_in_each_language(staff):
    page = staff("viewer").get("/console/services").text
    assert "Voluntary counselling and testing" in page  # the internal name, for staff
    assert "Tu van suc khoe" in page and render("services.VCT", "en") in page  # vi / en client labels
    assert "(en)" in page and "(vi-ascii)" in page
    assert 'action="/console/services' not in page  # a viewer gets no forms


def test_an_admin_adds_a_service_that_clinics_can_then_offer(staff, demo):
    admin = staff("admin", email=ADMIN)
    assert _add(admin).headers["location"] == "/console/services"
    demo.expire_all()
    service = service_with_code(demo, "DD")
    assert (service.name, service.display_name, service.expiry_days) == (
        "Nutrition counselling",
        "Tư vấn dinh dưỡng",
        60,
    )
    assert service.retest_after_days is None and service.active
    assert "Tư vấn dinh dưỡng" in admin.get("/console/services").text
    assert 'id="service-DD"' in admin.get("/console/clinics").text  # offered on the clinic form
    [created] = audits(demo, "service.create")
    assert created.actor == f"user:{ADMIN}" and created.detail["code"] == "DD"


@pytest.mark.parametrize(
    "display_name", ["Xét nghiệm nhanh", "HIV counselling", "Cấp PrEP", "Điều trị methadone"]
)
def test_an_indiscreet_display_name_is_refused_and_nothing_is_saved(staff, demo, display_name):
    admin = staff("admin")
    before = count_rows(demo, Service)
    r = _add(admin, display_name=display_name)
    assert r.status_code == 422 and 'role="alert"' in r.text
    assert _said("console_clinics.indiscreet", field=_said("console_clinics.display_name")) in r.text
    assert 'value="Nutrition counselling"' in r.text  # the form is kept
    demo.expire_all()
    assert count_rows(demo, Service) == before and audits(demo, "service.create") == []


def test_the_internal_name_is_staff_facing_and_not_checked(staff, demo):
    assert _add(staff("admin"), name="HIV nutrition support").status_code == 303


def test_an_indiscreet_edit_is_refused_and_the_service_is_unchanged(staff, demo):
    admin = staff("admin")
    vct = service_with_code(demo, "VCT")
    r = _post(
        admin, f"/console/services/{vct.id}", **_edit(vct, display_name="Xet nghiem HIV", expiry_days="45")
    )
    assert r.status_code == 422
    assert _said("console_clinics.indiscreet", field=_said("console_clinics.display_name")) in r.text
    demo.expire_all()
    vct = demo.get(Service, vct.id)
    assert (vct.display_name, vct.expiry_days) == ("Tu van suc khoe", 30)
    assert audits(demo, "service.update") == []


@pytest.mark.parametrize(
    ("fields", "says", "field"),
    [
        ({"code": "vct"}, "console_clinics.code_taken", None),
        ({"code": "X"}, "console_clinics.check_field", "console_clinics.code"),
        ({"code": "D D"}, "console_clinics.check_field", "console_clinics.code"),
        ({"expiry_days": "abc"}, "console_clinics.check_field", "console_clinics.expiry_days"),
        ({"expiry_days": "0"}, "console_clinics.check_field", "console_clinics.expiry_days"),
        ({"expiry_days": ""}, "console_clinics.check_field", "console_clinics.expiry_days"),
        ({"retest_after_days": "-3"}, "console_clinics.check_field", "console_clinics.retest_after_days"),
        ({"display_name": " "}, "console_clinics.check_field", "console_clinics.display_name"),
    ],
)
def test_a_taken_code_or_bad_input_is_refused_on_the_page_and_nothing_is_saved(
    staff, demo, fields, says, field
):
    admin = staff("admin")
    r = _add(admin, **fields)
    assert r.status_code == 422 and 'role="alert"' in r.text
    assert (_said(says, field=_said(field)) if field else _said(says)) in r.text
    demo.expire_all()
    assert count_rows(demo, Service) == 4 and audits(demo, "service.create") == []


def test_an_admin_edits_a_service(staff, demo):
    admin = staff("admin", email=ADMIN)
    sti = service_with_code(demo, "STI")
    path = f"/console/services/{sti.id}"
    page = admin.get(path).text
    assert 'value="Kham suc khoe"' in page and '<label for="retest_after_days">' in page
    r = _post(admin, path, **_edit(sti, display_name="Kham tong quat", retest_after_days="180"))
    assert r.status_code == 303 and r.headers["location"] == path
    demo.expire_all()
    sti = demo.get(Service, sti.id)
    assert (sti.display_name, sti.retest_after_days, sti.code) == ("Kham tong quat", 180, "STI")
    [update] = audits(demo, "service.update")
    assert update.actor == f"user:{ADMIN}"
    assert update.detail["changes"] == {
        "display_name": ["Kham suc khoe", "Kham tong quat"],
        "retest_after_days": [None, 180],
    }


def test_an_admin_deactivates_a_service_and_workers_can_refer_to_it_no_more(staff, demo):
    admin = staff("admin", email=ADMIN)
    sti = service_with_code(demo, "STI")
    r = _post(admin, f"/console/services/{sti.id}/deactivate", back="list")
    assert r.status_code == 303 and r.headers["location"] == "/console/services"
    demo.expire_all()
    assert not demo.get(Service, sti.id).active
    [deactivated] = audits(demo, "service.deactivate")
    assert deactivated.actor == f"user:{ADMIN}" and deactivated.entity_id == str(sti.id)
    page = admin.get(f"/console/services/{sti.id}").text
    assert _said("console.inactive") in page and _said("console_clinics.reactivate") in page
    codes = count_in(admin, ReferralCode)
    reply(admin, DEMO_WORKER_PHONE, f"GT STI {CLIENT_LOCAL}")
    assert count_in(admin, ReferralCode) == codes  # no code for an inactive service
    r = _post(admin, f"/console/services/{sti.id}/reactivate")
    assert r.status_code == 303 and r.headers["location"] == f"/console/services/{sti.id}"
    reply(admin, DEMO_WORKER_PHONE, f"GT STI {CLIENT_LOCAL}")
    assert count_in(admin, ReferralCode) == codes + 1
    assert [a.actor for a in audits(demo, "service.reactivate")] == [f"user:{ADMIN}"]


@pytest.mark.parametrize("role", ["viewer", "clinic"])
def test_a_viewer_or_clinic_user_cannot_change_services(staff, demo, role):
    client = staff(role, clinic="Phong kham Him Lam" if role == "clinic" else None)
    vct = service_with_code(demo, "VCT")
    page = client.get(f"/console/services/{vct.id}").text
    assert page.count("<form") == 1  # sign-out only
    token = form_token(page)
    for path, data in (
        ("/console/services", {**NUTRITION}),
        (f"/console/services/{vct.id}", _edit(vct, display_name="Something else")),
        (f"/console/services/{vct.id}/deactivate", {}),
    ):
        r = client.post(path, data={**data, "csrf": token}, follow_redirects=False)
        assert r.status_code == 403 and _said("console.admins_only") in r.text
    demo.expire_all()
    vct = demo.get(Service, vct.id)
    assert vct.active and vct.display_name == "Tu van suc khoe" and count_rows(demo, Service) == 4


def test_a_form_without_its_token_is_refused_and_nothing_is_saved(staff, demo):
    admin = staff("admin")
    vct = service_with_code(demo, "VCT")
    r = admin.post("/console/services", data=NUTRITION, follow_redirects=False)
    assert r.status_code == 403 and _said("console.form_expired") in r.text
    forged = admin.post(f"/console/services/{vct.id}/deactivate", data={"csrf": "x"}, follow_redirects=False)
    assert forged.status_code == 403
    demo.expire_all()
    assert count_rows(demo, Service) == 4 and demo.get(Service, vct.id).active


@pytest.mark.parametrize("service_id", ["99999", "0", "abc"])
def test_an_unknown_service_is_a_404_page(staff, service_id):
    admin = staff("admin")
    r = admin.get(f"/console/services/{service_id}")
    assert r.status_code == 404 and _said("console_clinics.unknown_service") in r.text
    assert _post(admin, f"/console/services/{service_id}/deactivate").status_code == 404


def test_an_admin_sets_a_services_peer_coupons_and_the_next_client_gets_them(staff, demo):
    admin = staff("admin", email=ADMIN)
    mmt = service_with_code(demo, "MMT")
    page = admin.get(f"/console/services/{mmt.id}").text
    assert '<label for="peer_coupons">' in page and '<label for="coupon_services">' in page
    data = _edit(mmt, peer_coupons="2", coupon_services="vct, mmt", max_waves="1")
    r = admin.post(
        f"/console/services/{mmt.id}", data={"csrf": form_token(page), **data}, follow_redirects=False
    )
    assert r.status_code == 303
    demo.refresh(mmt)
    assert (mmt.peer_coupons, mmt.coupon_services, mmt.max_waves) == (2, ["VCT", "MMT"], 1)
    assert audits(demo, "service.update")[-1].actor == f"user:{ADMIN}"
    bad = admin.post(
        f"/console/services/{mmt.id}",
        data={"csrf": form_token(page), **_edit(mmt, coupon_services="NOPE")},
        follow_redirects=False,
    )
    assert bad.status_code == 422
    demo.refresh(mmt)
    assert mmt.coupon_services == ["VCT", "MMT"]  # nothing saved

    code = issue_by_sms(admin, f"GT MMT {CLIENT_LOCAL}")
    reply(admin, DEMO_CLINIC_PHONE, f"XN {format_code(code.code)}")
    coupons = [c for c in demo.exec(select(ReferralCode).where(ReferralCode.parent_code_id == code.id))]
    assert sorted(c.service_id for c in coupons) == sorted([service_with_code(demo, "VCT").id, mmt.id])
