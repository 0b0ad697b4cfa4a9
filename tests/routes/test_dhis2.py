"""`GET /api/v1/export/dhis2?period=YYYYMM` through the API: the figures of
the monthly report, as DHIS2 takes them; off (404) without a mapping; a
bad period 422; a clinic with figures but no organisation unit 409; and a
malformed mapping stops the application at start, one line per problem."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.config import ConfigError
from app.domain import dhis2
from app.main import create_app
from tests.conftest import make_settings
from tests.dhis2_support import (
    EXAMPLE_MAPPING,
    PERIOD,
    example_mapping,
    february,
    values_by_unit,
    write_mapping,
)
from tests.factories import API, API_NOW, make_keys

URL = f"{API}/export/dhis2"


@pytest.fixture
def dhis2_client(db, database_url, gateway):
    app = create_app(
        make_settings(database_url, DHIS2_MAPPING=str(EXAMPLE_MAPPING)), gateway=gateway, engine=db
    )
    with TestClient(app) as c:
        yield c


def test_the_export_has_the_monthly_reports_figures_for_every_clinic_and_district(
    dhis2_client, demo, settings, frozen_clock
):
    keys = make_keys(demo)
    february(demo, settings, frozen_clock)
    r = dhis2_client.get(URL, params={"period": PERIOD}, headers=keys.viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["dataSet"], body["period"]) == ("HenMonthly1", PERIOD)
    mapping = example_mapping()
    got = values_by_unit(body, mapping)
    report = dhis2_client.get(
        f"{API}/reports/monthly", params={"month": "2026-02"}, headers=keys.viewer
    ).json()
    units = mapping["orgUnits"]
    for row in report["rows"]:
        if row["clinic_id"] is not None:
            uid = units["clinics"][row["site"]]
            names = [n for n in dhis2.EXPORTABLE if n not in dhis2.OUTREACH]
        else:
            uid, names = units["districts"][row["district"]], dhis2.EXPORTABLE
        assert got.pop(uid) == {n: row[n] for n in names}, row
    assert all(set(values.values()) == {0} for values in got.values())  # the units with no row: zeros
    assert sum(row["people_referred"] for row in report["rows"]) == 3


def test_without_a_mapping_the_export_is_off(client, keys):
    r = client.get(URL, params={"period": PERIOD}, headers=keys.admin)
    assert r.status_code == 404
    assert "DHIS2_MAPPING" in r.json()["detail"]


@pytest.mark.parametrize(
    ("period", "expected"),
    [("202613", "no month 13"), ("2026-1", "period"), ("209901", "has not begun"), ("20261", "period")],
)
def test_a_bad_or_future_period_is_a_422(dhis2_client, demo, frozen_clock, period, expected):
    keys = make_keys(demo)
    frozen_clock(API_NOW)
    r = dhis2_client.get(URL, params={"period": period}, headers=keys.admin)
    assert r.status_code == 422
    assert expected in r.json()["detail"]


def test_a_clinic_with_figures_but_no_org_unit_is_a_409_naming_it(
    db, database_url, gateway, demo, settings, frozen_clock, tmp_path
):
    keys = make_keys(demo)
    february(demo, settings, frozen_clock)
    data = example_mapping()
    del data["orgUnits"]["clinics"]["Long Bien district MMT and STI clinic"]
    path = write_mapping(tmp_path, data)
    app = create_app(make_settings(database_url, DHIS2_MAPPING=str(path)), gateway=gateway, engine=db)
    with TestClient(app) as c:
        r = c.get(URL, params={"period": PERIOD}, headers=keys.admin)
    assert r.status_code == 409
    assert "'Long Bien district MMT and STI clinic'" in r.json()["detail"]


def test_a_malformed_mapping_stops_start_up_with_one_line_per_problem(db, database_url, tmp_path):
    data = example_mapping()
    data["indicators"]["people_referd"] = data["indicators"].pop("people_referred")
    data["orgUnits"]["districts"]["Dong Da"] = "not-a-uid"
    path = write_mapping(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        create_app(make_settings(database_url, DHIS2_MAPPING=str(path)), engine=db)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert "indicators.people_referd: unknown indicator" in lines[0]
    assert "orgUnits.districts.'Dong Da': 'not-a-uid' is not a DHIS2 UID" in lines[1]
