"""What the DHIS2 export tests share: the example mapping, a month of
activity in the demo data (February 2026, exported on 2 March), and the
set's values read back per organisation unit."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from app.models import OutreachReport
from tests.factories import API_NOW, clinic_named, demo_worker, issue_code, redeem_at, without_coupons

EXAMPLE_MAPPING = Path(__file__).resolve().parents[1] / "deploy" / "dhis2" / "mapping.example.json"
PERIOD = "202602"
P1, P2, P3 = "+84912000001", "+84912000002", "+84912000003"


def example_mapping() -> dict:
    return json.loads(EXAMPLE_MAPPING.read_text(encoding="utf-8"))


def write_mapping(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def february(session, settings, frozen_clock) -> None:
    """In the demo data, February 2026: P1 referred twice at Him Lam (VCT,
    redeemed, and MMT), P2 to Long Bien (MMT), P3 by the Dien Bien Phu
    worker with no clinic named, and one REACH report (30 people, 50
    condoms). Leaves the clock at 2 March 2026. No peer coupons."""
    without_coupons(session)
    him_lam = clinic_named(session, "Phong kham Him Lam")
    long_bien = clinic_named(session, "Phong kham Long Bien")
    frozen_clock(datetime(2026, 2, 10, 3, 0, tzinfo=UTC))
    vct = issue_code(session, settings, "VCT", P1, clinic_id=him_lam.id)
    issue_code(session, settings, "MMT", P1, clinic_id=him_lam.id)
    issue_code(session, settings, "MMT", P2, clinic_id=long_bien.id)
    issue_code(session, settings, "VCT", P3)
    frozen_clock(datetime(2026, 2, 12, 3, 0, tzinfo=UTC))
    redeem_at(session, settings, vct.code, "Phong kham Him Lam")
    worker = demo_worker(session)
    session.add(
        OutreachReport(worker_id=worker.id, report_date=date(2026, 2, 10), people_reached=30, condoms=50)
    )
    session.commit()
    frozen_clock(API_NOW)


def values_by_unit(data_value_set: dict, mapping: dict) -> dict[str, dict[str, int]]:
    """{org unit UID: {indicator: value}} of a dataValueSet, by the mapping's data elements."""
    indicator_of = {
        (t["dataElement"], t.get("categoryOptionCombo")): n for n, t in mapping["indicators"].items()
    }
    found: dict[str, dict[str, int]] = {}
    for v in data_value_set["dataValues"]:
        name = indicator_of[v["dataElement"], v.get("categoryOptionCombo")]
        unit = found.setdefault(v["orgUnit"], {})
        assert name not in unit, ("one value per org unit and indicator", v)
        unit[name] = int(v["value"])
    return found
