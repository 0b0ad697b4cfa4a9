"""`/console/clinics`: an admin adds a clinic that the SMS clinic search then
lists, edits and deactivates one; display names are checked like the
API's, staff phones of a worker or of another clinic are refused, and
nothing is half-saved; a viewer or a clinic user changes nothing, a clinic
user sees only its own clinic; every change is audited with the user."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.messages import render
from app.models import AuditLog, Clinic, ClinicService, ClinicStaff
from tests.factories import CLIENT, audits, clinic_named, count_rows, reply
from tests.routes.console.conftest import form_token

ADMIN = "boss@example.org"
NEW_STAFF = "0912 555 666"
NEW_STAFF_E164 = "+84912555666"
TUAN_GIAO = {
    "display_name": "Phòng khám Tuần Giáo",
    "name": "Tuan Giao district health centre",
    "district": "Tuan Giao",
    "province": "Dien Bien",
    "address": "3 Duong Moi, Tuan Giao",
    "hours": "T2-T6 8:00-17:00",
    "services": ["VCT"],
    "staff": f"{NEW_STAFF}, Chị Hoa",
}


def _add(client, **fields):
    page = client.get("/console/clinics").text
    data = {**TUAN_GIAO, "csrf": form_token(page), **fields}
    return client.post("/console/clinics", data=data, follow_redirects=False)


def _post(client, path: str, page_path: str, **data):
    token = form_token(client.get(page_path).text)
    return client.post(path, data={"csrf": token, **data}, follow_redirects=False)


def _edit_data(clinic: Clinic, **changes) -> dict:
    data = {name: getattr(clinic, name) for name in ("name", "display_name", "district", "province")}
    data.update(address=clinic.address, hours=clinic.hours, services=["VCT", "MMT"], staff=DEMO_CLINIC_PHONE)
    data.update(changes)
    return data


def _listed(text: str) -> bool:
    return "Phong kham Tuan Giao" in text


def _said(key: str, **values) -> str:
    return render(key, "vi", **values)


def test_an_admin_adds_a_clinic_offering_vct_that_the_sms_clinic_search_then_lists(staff, demo):
    admin = staff("admin", email=ADMIN)
    assert not _listed(reply(admin, CLIENT, "PK Tuan Giao"))
    assert _add(admin).headers["location"] == "/console/clinics"
    page = admin.get("/console/clinics").text
    assert "Phòng khám Tuần Giáo" in page and NEW_STAFF_E164 in page  # an admin sees whole phones
    assert _listed(reply(admin, CLIENT, "PK Tuan Giao"))
    assert _listed(reply(admin, CLIENT, "PK xet nghiem"))  # it offers VCT
    assert not _listed(reply(admin, CLIENT, "PK methadone"))
    demo.expire_all()
    clinic = clinic_named(demo, "Phong kham Tuan Giao")
    assert clinic.district == "Tuan Giao" and clinic.hours == "T2-T6 8:00-17:00"
    [desk] = demo.exec(select(ClinicStaff).where(ClinicStaff.clinic_id == clinic.id)).all()
    assert (desk.phone, desk.name) == (NEW_STAFF_E164, "Chị Hoa")
    [created] = audits(demo, "clinic.create")
    assert created.actor == f"user:{ADMIN}" and created.entity_id == str(clinic.id)
    assert created.detail["services"] == ["VCT"] and created.detail["staff"] == [NEW_STAFF_E164]


def test_the_add_form_offers_the_active_services_as_labelled_checkboxes(staff, demo):
    page = staff("admin").get("/console/clinics").text
    for code in ("VCT", "MMT", "STI", "PREP"):
        assert f'<label for="service-{code}"><input type="checkbox" id="service-{code}"' in page
    for field in ("display_name", "name", "district", "province", "address", "hours", "phone", "staff"):
        assert f'<label for="{field}">' in page and f'id="{field}"' in page


@pytest.mark.parametrize(
    ("field", "text", "label"),
    [
        ("display_name", "Phòng khám HIV Tuần Giáo", "console_clinics.display_name"),
        ("display_name", "Điểm xét nghiệm Tuần Giáo", "console_clinics.display_name"),
        ("address", "Cạnh trạm methadone, Tuan Giao", "console_clinics.address"),
        ("hours", "PrEP: T2-T6 8:00-17:00", "console_clinics.hours"),
        ("district", "Ma tuy", "console.district"),
    ],
)
def test_an_indiscreet_name_is_refused_on_the_page_and_nothing_is_saved(staff, demo, field, text, label):
    admin = staff("admin")
    before = count_rows(demo, Clinic), count_rows(demo, ClinicStaff)
    r = _add(admin, **{field: text})
    assert r.status_code == 422 and 'role="alert"' in r.text
    assert _said("console_clinics.indiscreet", field=_said(label)) in r.text
    assert 'value="Tuan Giao district health centre"' in r.text  # the form is kept
    demo.expire_all()
    assert (count_rows(demo, Clinic), count_rows(demo, ClinicStaff)) == before
    assert audits(demo, "clinic.create") == []


def test_an_indiscreet_edit_is_refused_and_the_clinic_is_unchanged(staff, demo):
    admin = staff("admin")
    clinic = clinic_named(demo)
    path = f"/console/clinics/{clinic.id}"
    r = _post(admin, path, path, **_edit_data(clinic, display_name="Phòng khám HIV", hours="T2-T7"))
    assert r.status_code == 422
    assert _said("console_clinics.indiscreet", field=_said("console_clinics.display_name")) in r.text
    demo.expire_all()
    clinic = demo.get(Clinic, clinic.id)
    assert clinic.display_name == "Phòng khám Him Lam" and clinic.hours == "T2-T6 7:30-16:30"
    assert audits(demo, "clinic.update") == []


@pytest.mark.parametrize(
    ("staff_text", "says"),
    [
        (DEMO_WORKER_PHONE, "registry.phone_is_workers"),  # an active outreach worker's phone
        (DEMO_CLINIC_PHONE, "registry.staff_phone_taken"),  # Him Lam's desk
        (f"{NEW_STAFF}\n{NEW_STAFF_E164}, again", None),  # the same phone twice
        ("12", "console_clinics.check_field"),
        ("not a phone", "console_clinics.check_field"),
    ],
)
def test_a_taken_repeated_or_bad_staff_phone_is_refused_and_nothing_is_saved(staff, demo, staff_text, says):
    admin = staff("admin")
    before = count_rows(demo, Clinic), count_rows(demo, ClinicStaff), count_rows(demo, ClinicService)
    r = _add(admin, staff=staff_text)
    assert r.status_code == 422 and 'role="alert"' in r.text
    if says == "console_clinics.check_field":
        assert _said(says, field=_said("console_clinics.staff_phones")) in r.text
    elif says:
        assert _said(says, phone=staff_text) in r.text
    demo.expire_all()
    after = count_rows(demo, Clinic), count_rows(demo, ClinicStaff), count_rows(demo, ClinicService)
    assert after == before
    assert not _listed(reply(admin, CLIENT, "PK Tuan Giao"))


def test_a_missing_display_name_names_the_field(staff, demo):
    r = _add(staff("admin"), display_name="  ")
    assert r.status_code == 422
    assert _said("console_clinics.check_field", field=_said("console_clinics.display_name")) in r.text
    assert count_rows(demo, Clinic) == 4


def test_an_admin_edits_a_clinics_services_and_staff_and_it_is_audited(staff, demo):
    admin = staff("admin", email=ADMIN)
    clinic = clinic_named(demo)
    path = f"/console/clinics/{clinic.id}"
    page = admin.get(path).text
    assert 'value="Phòng khám Him Lam"' in page and DEMO_CLINIC_PHONE in page
    r = _post(
        admin, path, path, **_edit_data(clinic, hours="T2-T7 7:00-17:00", services=["VCT"], staff=NEW_STAFF)
    )
    assert r.status_code == 303 and r.headers["location"] == path
    demo.expire_all()
    clinic = demo.get(Clinic, clinic.id)
    assert clinic.hours == "T2-T7 7:00-17:00"
    staff_rows = {
        s.phone: s.active for s in demo.exec(select(ClinicStaff).where(ClinicStaff.clinic_id == clinic.id))
    }
    assert staff_rows == {DEMO_CLINIC_PHONE: False, NEW_STAFF_E164: True}
    [update] = audits(demo, "clinic.update")
    assert update.actor == f"user:{ADMIN}"
    assert update.detail["changes"]["services"] == [["MMT", "VCT"], ["VCT"]]
    assert update.detail["staff_added"] == [NEW_STAFF_E164] and update.detail["staff_removed"] == [
        DEMO_CLINIC_PHONE
    ]
    assert "Him Lam" not in reply(admin, CLIENT, "PK methadone")


def test_an_admin_deactivates_a_clinic_that_the_search_then_leaves_out_and_reactivates_it(staff, demo):
    admin = staff("admin", email=ADMIN)
    clinic = clinic_named(demo, "Phong kham Muong Thanh")
    path = f"/console/clinics/{clinic.id}"
    assert "Muong Thanh" in reply(admin, CLIENT, "PK Dien Bien")
    r = _post(admin, f"{path}/deactivate", path)
    assert r.status_code == 303 and r.headers["location"] == path
    assert _said("console_clinics.reactivate") in admin.get(path).text
    assert "Muong Thanh" not in reply(admin, CLIENT, "PK Dien Bien")
    assert _post(admin, f"{path}/reactivate", path).status_code == 303
    assert "Muong Thanh" in reply(admin, CLIENT, "PK Dien Bien")
    actions = [(a.action, a.actor) for a in demo.exec(select(AuditLog).where(AuditLog.entity == "clinic"))]
    assert actions == [("clinic.deactivate", f"user:{ADMIN}"), ("clinic.reactivate", f"user:{ADMIN}")]


def test_a_viewer_sees_masked_phones_and_every_post_is_refused(staff, demo):
    viewer = staff("viewer")
    clinic = clinic_named(demo)
    listing = viewer.get("/console/clinics").text
    assert (
        "Phòng khám Mường Thanh" in listing and "+8490****002" in listing and DEMO_CLINIC_PHONE not in listing
    )
    assert 'action="/console/clinics"' not in listing
    page = viewer.get(f"/console/clinics/{clinic.id}").text
    assert 'action="/console/clinics/' not in page and "+8490****002" in page
    token = form_token(page)
    for path, data in (
        ("/console/clinics", {**TUAN_GIAO}),
        (f"/console/clinics/{clinic.id}", _edit_data(clinic, hours="closed")),
        (f"/console/clinics/{clinic.id}/deactivate", {}),
    ):
        r = viewer.post(path, data={**data, "csrf": token}, follow_redirects=False)
        assert r.status_code == 403 and _said("console.admins_only") in r.text
    demo.expire_all()
    assert count_rows(demo, Clinic) == 4 and demo.get(Clinic, clinic.id).active
    assert demo.get(Clinic, clinic.id).hours == "T2-T6 7:30-16:30"
    assert audits(demo, "clinic.create") == audits(demo, "clinic.update") == []


def test_a_clinic_user_sees_its_own_clinic_only_and_changes_nothing(staff, demo):
    desk = staff("clinic", clinic="Phong kham Him Lam")
    own, other = clinic_named(demo), clinic_named(demo, "Phong kham Muong Thanh")
    listing = desk.get("/console/clinics").text
    assert "Phòng khám Him Lam" in listing and "Mường Thanh" not in listing and "Đống Đa" not in listing
    page = desk.get(f"/console/clinics/{own.id}")
    assert (
        page.status_code == 200
        and "+8490****002" in page.text
        and '<form method="post" action="/console/clinics' not in page.text
    )
    for path in (f"/console/clinics/{other.id}", "/console/clinics/99999", "/console/clinics/x"):
        r = desk.get(path)
        assert r.status_code == 403 and _said("console.not_yours") in r.text
    r = desk.post(
        f"/console/clinics/{own.id}/deactivate", data={"csrf": form_token(page.text)}, follow_redirects=False
    )
    assert r.status_code == 403
    demo.expire_all()
    assert demo.get(Clinic, own.id).active


def test_a_form_without_its_token_is_refused_and_nothing_is_saved(staff, demo):
    admin = staff("admin")
    clinic = clinic_named(demo)
    r = admin.post("/console/clinics", data=TUAN_GIAO, follow_redirects=False)
    assert r.status_code == 403 and _said("console.form_expired") in r.text
    forged = admin.post(
        f"/console/clinics/{clinic.id}/deactivate", data={"csrf": "forged"}, follow_redirects=False
    )
    assert forged.status_code == 403
    demo.expire_all()
    assert count_rows(demo, Clinic) == 4 and demo.get(Clinic, clinic.id).active


@pytest.mark.parametrize("clinic_id", ["99999", "0", "abc", "99999999999999999999"])
def test_an_unknown_clinic_is_a_404_page(staff, clinic_id):
    admin = staff("admin")
    r = admin.get(f"/console/clinics/{clinic_id}")
    assert r.status_code == 404 and _said("console_clinics.unknown_clinic") in r.text and "<nav" in r.text
    forced = _post(admin, f"/console/clinics/{clinic_id}/deactivate", "/console/clinics")
    assert forced.status_code == 404


def test_the_page_speaks_english_on_request(staff, demo):
    page = staff("admin").get("/console/clinics?lang=en").text
    assert (
        render("console_clinics.add_clinic", "en") in page
        and render("console_clinics.staff_hint", "en") in page
    )


def test_the_same_clinic_sent_twice_is_added_once(staff, demo):
    admin = staff("admin", email=ADMIN)
    assert _add(admin).status_code == 303
    again = _add(admin, staff="")  # a double tap on the button, the desk phone left out
    assert again.status_code == 422
    assert render("registry.clinic_name_taken", "vi", name=TUAN_GIAO["name"]) in again.text.replace(
        "&#34;", '"'
    )
    demo.expire_all()
    assert len([c for c in demo.exec(select(Clinic)) if c.name == TUAN_GIAO["name"]]) == 1
