"""Demo data (`hen demo`): services, clinics in two provinces, one outreach
worker and one clinic staff phone, so a newcomer can text the service at
once. Idempotent: running it again changes nothing."""

from __future__ import annotations

from sqlmodel import Session, select

from app.domain import audit
from app.models import Clinic, ClinicService, ClinicStaff, Service, Worker

DEMO_WORKER_PHONE = "+84900000001"
DEMO_CLINIC_PHONE = "+84900000002"

SERVICES = [
    # code, internal name (staff only), neutral display name (clients), expiry days, re-test days
    ("VCT", "Voluntary counselling and testing", "Tu van suc khoe", 30, 90),
    ("MMT", "Methadone maintenance treatment", "Cham soc dinh ky", 30, None),
    ("STI", "STI examination and treatment", "Kham suc khoe", 30, None),
    ("PREP", "Pre-exposure prophylaxis", "Cham soc du phong", 30, None),
]
# peer coupons (app.domain.coupons): service code -> (coupons per client, their services, deepest wave)
COUPONS = {"VCT": (3, ["VCT"], 3)}

CLINICS = [
    # internal name, display name (proper Vietnamese: folded where a text is
    # sent without diacritics), district, province, address, hours, services
    (
        "Dien Bien Phu city health centre, VCT and MMT",
        "Phòng khám Him Lam",
        "Dien Bien Phu",
        "Dien Bien",
        "12 Vo Nguyen Giap, Him Lam, Dien Bien Phu",
        "T2-T6 7:30-16:30",
        ["VCT", "MMT"],
    ),
    (
        "Dien Bien provincial hospital outpatient",
        "Phòng khám Mường Thanh",
        "Dien Bien Phu",
        "Dien Bien",
        "Duong 7/5, Muong Thanh, Dien Bien Phu",
        "T2-T7 7:00-17:00",
        ["VCT", "STI", "PREP"],
    ),
    (
        "Dong Da district health centre",
        "Phòng khám Đống Đa",
        "Dong Da",
        "Ha Noi",
        "108 Ton Duc Thang, Dong Da, Ha Noi",
        "T2-T6 8:00-17:00",
        ["VCT", "MMT", "PREP"],
    ),
    (
        "Long Bien district MMT and STI clinic",
        "Phòng khám Long Biên",
        "Long Bien",
        "Ha Noi",
        "25 Nguyen Van Cu, Long Bien, Ha Noi",
        "T2-T6 7:30-16:00, T7 7:30-11:30",
        ["MMT", "STI"],
    ),
]


def load_demo(session: Session) -> dict[str, int]:
    """Insert what is missing; returns how many rows of each kind were added."""
    added = {"services": 0, "clinics": 0, "workers": 0, "staff": 0}
    services: dict[str, Service] = {}
    for code, name, display, expiry, retest in SERVICES:
        row = session.exec(select(Service).where(Service.code == code)).first()
        if row is None:
            peer_coupons, coupon_services, max_waves = COUPONS.get(code, (0, [], 0))
            row = Service(
                code=code,
                name=name,
                display_name=display,
                expiry_days=expiry,
                retest_after_days=retest,
                peer_coupons=peer_coupons,
                coupon_services=coupon_services,
                max_waves=max_waves,
            )
            session.add(row)
            session.flush()
            added["services"] += 1
        services[code] = row

    first_clinic: Clinic | None = None
    for name, display, district, province, address, hours, codes in CLINICS:
        clinic = session.exec(select(Clinic).where(Clinic.name == name)).first()
        if clinic is None:
            clinic = Clinic(
                name=name,
                display_name=display,
                district=district,
                province=province,
                address=address,
                hours=hours,
            )
            session.add(clinic)
            session.flush()
            for code in codes:
                session.add(ClinicService(clinic_id=clinic.id, service_id=services[code].id))
            added["clinics"] += 1
        first_clinic = first_clinic or clinic

    if session.exec(select(Worker).where(Worker.phone == DEMO_WORKER_PHONE)).first() is None:
        session.add(Worker(name="Demo outreach worker", phone=DEMO_WORKER_PHONE, district="Dien Bien Phu"))
        added["workers"] += 1
    if session.exec(select(ClinicStaff).where(ClinicStaff.phone == DEMO_CLINIC_PHONE)).first() is None:
        assert first_clinic is not None
        session.add(ClinicStaff(clinic_id=first_clinic.id, phone=DEMO_CLINIC_PHONE, name="Demo clinic desk"))
        added["staff"] += 1
    if any(added.values()):
        audit.record(session, "cli", "demo.load", **added)
    return added
