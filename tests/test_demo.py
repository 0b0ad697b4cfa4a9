"""The demo data of `hen demo` (`app.demo`): as the spec says, loaded once,
named discreetly."""

from __future__ import annotations

from sqlmodel import select

from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE, load_demo
from app.models import Clinic, ClinicService, ClinicStaff, Service, Worker


def test_demo_data_matches_the_spec_and_loads_once(session):
    first = load_demo(session)
    session.commit()
    assert first["services"] == 4 and first["clinics"] >= 4
    again = load_demo(session)
    session.commit()
    assert not any(again.values())
    assert {s.code for s in session.exec(select(Service))} >= {"VCT", "MMT", "STI", "PREP"}
    clinics = session.exec(select(Clinic)).all()
    assert len(clinics) >= 4
    districts = {c.district for c in clinics}
    assert "Dien Bien Phu" in districts and len(districts) >= 2
    assert any(c.province == "Ha Noi" for c in clinics)
    assert all(c.address and c.hours for c in clinics)
    assert session.exec(select(Worker).where(Worker.phone == DEMO_WORKER_PHONE)).one().active
    staff = session.exec(select(ClinicStaff).where(ClinicStaff.phone == DEMO_CLINIC_PHONE)).one()
    offered = {
        session.get(Service, link.service_id).code
        for link in session.exec(select(ClinicService).where(ClinicService.clinic_id == staff.clinic_id))
    }
    assert {"VCT", "MMT"} <= offered


def test_service_display_names_are_discreet(session):
    load_demo(session)
    from tests.discretion import assert_discreet

    for service in session.exec(select(Service)):
        assert_discreet(service.display_name)
    for clinic in session.exec(select(Clinic)):
        assert_discreet(clinic.display_name)
