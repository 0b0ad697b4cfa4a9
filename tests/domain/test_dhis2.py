"""The DHIS2 export's rules (`app.domain.dhis2`): the mapping file checked
with one line per problem, and a month's dataValueSet that carries the
monthly report's own figures, each to exactly one organisation unit."""

from __future__ import annotations

import copy

import pytest
from sqlmodel import select

from app.demo import CLINICS
from app.domain import dhis2, reports
from app.models import Clinic, Worker
from tests.dhis2_support import (
    EXAMPLE_MAPPING,
    PERIOD,
    example_mapping,
    february,
    values_by_unit,
    write_mapping,
)
from tests.factories import API_NOW


def _month_rows(session, settings, by):
    first, last = reports.month_period("2026-02")
    return {
        r.key: r.figures
        for r in reports.figures(session, date_from=first, date_to=last, tz=settings.tz, by=by)
    }


def _build(session, settings, data: dict) -> dict:
    mapping, problems = dhis2.parse_mapping(data)
    assert problems == []
    return dhis2.data_value_set(session, mapping=mapping, period=PERIOD, tz=settings.tz)


# ---------------------------------------------------------------- the mapping file


def test_the_example_mapping_is_valid_and_names_every_district_and_clinic_of_the_demo(demo):
    mapping = dhis2.load_mapping(EXAMPLE_MAPPING)
    assert set(mapping.clinics) == {c[0] for c in CLINICS}
    districts = {c.district for c in demo.exec(select(Clinic))} | {
        w.district for w in demo.exec(select(Worker))
    }
    assert districts <= set(mapping.districts)
    assert set(mapping.indicators) == set(dhis2.EXPORTABLE)


def _with(change):
    data = example_mapping()
    change(data)
    return data


def _set(path, value):
    def change(data):
        *parents, last = path
        node = data
        for part in parents:
            node = node[part]
        node[last] = value

    return change


def _drop(*path):
    def change(data):
        node = data
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return change


PEOPLE_REFERRED = example_mapping()["indicators"]["people_referred"]

BAD = [
    (
        _set(("indicators", "people_referd"), {"dataElement": "AbcdefGhij1"}),
        "indicators.people_referd: unknown indicator",
    ),
    (
        _set(("indicators", "opt_outs"), {"dataElement": "AbcdefGhij1"}),
        "indicators.opt_outs: a program total",
    ),
    (_drop("indicators", "redeemed", "dataElement"), "indicators.redeemed.dataElement: missing"),
    (
        _set(("indicators", "redeemed", "dataElement"), "abc"),
        "indicators.redeemed.dataElement: 'abc' is not a DHIS2 UID",
    ),
    (_set(("indicators", "redeemed", "dataElement"), "1bcdefghijk"), "is not a DHIS2 UID"),
    (_set(("indicators", "redeemed", "dataElement"), "Abcdefghij-"), "is not a DHIS2 UID"),
    (_set(("indicators", "redeemed", "categoryOptionCombo"), 7), "categoryOptionCombo: 7 is not a DHIS2 UID"),
    (
        _set(("indicators", "redeemed", "dataelement"), "AbcdefGhij1"),
        "indicators.redeemed.dataelement: unknown key",
    ),
    (
        _set(("indicators", "redeemed"), copy.deepcopy(PEOPLE_REFERRED)),
        "indicators.redeemed: same dataElement",
    ),
    (_set(("indicators",), {}), "indicators: none mapped"),
    (_set(("indicators",), ["people_referred"]), "indicators: expected an object"),
    (_drop("dataSet"), "dataSet: missing"),
    (_set(("dataSet",), "HenMonthly"), "dataSet: 'HenMonthly' is not a DHIS2 UID"),
    (_set(("orgunits",), {}), "orgunits: unknown key"),
    (_set(("orgUnits",), {}), "orgUnits: no districts or clinics"),
    (_set(("orgUnits", "districts", "Dong Da"), "HenOuHimLam"), "orgUnits: HenOuHimLam is given to both"),
    (_set(("orgUnits", "clinics", " "), "AbcdefGhij1"), "a clinic with an empty name"),
    (_set(("orgUnits", "districts", "Ba Dinh"), ""), "orgUnits.districts.'Ba Dinh': '' is not a DHIS2 UID"),
]


@pytest.mark.parametrize(("change", "expected"), BAD, ids=[e for _, e in BAD])
def test_a_malformed_mapping_is_refused_naming_the_problem(change, expected):
    mapping, problems = dhis2.parse_mapping(_with(change))
    assert mapping is None
    assert any(expected in p for p in problems), problems


def test_every_problem_is_one_line_naming_the_file(tmp_path):
    data = example_mapping()
    data["indicators"]["people_referd"] = {"dataElement": "AbcdefGhij1"}
    data["dataSet"] = "nope"
    path = write_mapping(tmp_path, data)
    with pytest.raises(dhis2.MappingInvalid) as caught:
        dhis2.load_mapping(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 == len(caught.value.problems)
    assert all(line.startswith(f"DHIS2_MAPPING {path}: ") for line in lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not JSON"),
        ('{"dataSet": "HenMonthly1", "dataSet": "HenMonthly2"}', "'dataSet' is given twice"),
        (None, "cannot be read"),
    ],
)
def test_an_unreadable_mapping_file_is_one_clear_line(tmp_path, text, expected):
    path = tmp_path / "mapping.json"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(dhis2.MappingInvalid) as caught:
        dhis2.load_mapping(path)
    assert expected in str(caught.value)
    assert str(caught.value).splitlines()[0].startswith(f"DHIS2_MAPPING {path}: ")


def test_comment_keys_are_ignored_and_the_combo_is_optional():
    data = example_mapping()
    data["indicators"]["redeemed"] = {"_note": "default combination", "dataElement": "HenRedeemed"}
    mapping, problems = dhis2.parse_mapping(data)
    assert problems == []
    assert mapping.indicators["redeemed"] == dhis2.Target("HenRedeemed", None)


# ---------------------------------------------------------------- the data value set


def test_each_clinic_and_district_gets_the_monthly_reports_figures(demo, settings, frozen_clock):
    february(demo, settings, frozen_clock)
    data = example_mapping()
    body = _build(demo, settings, data)
    assert body["dataSet"] == "HenMonthly1" and body["period"] == PERIOD
    assert all(isinstance(v["value"], str) for v in body["dataValues"])
    got = values_by_unit(body, data)
    rows = _month_rows(demo, settings, "site")
    clinic_id = {c.name: c.id for c in demo.exec(select(Clinic))}
    for name, uid in data["orgUnits"]["clinics"].items():
        figures = rows.get(f"c{clinic_id[name]}", dict.fromkeys(reports.INDICATORS, 0))
        expected = {k: v for k, v in figures.items() if k in dhis2.EXPORTABLE and k not in dhis2.OUTREACH}
        assert got[uid] == expected, name
    for name, uid in data["orgUnits"]["districts"].items():
        figures = rows.get(f"d{name}", dict.fromkeys(reports.INDICATORS, 0))
        assert got[uid] == {k: v for k, v in figures.items() if k in dhis2.EXPORTABLE}, name
    him_lam, dien_bien_phu = got["HenOuHimLam"], got["HenOuDBPhu1"]
    assert (him_lam["people_referred"], him_lam["codes_issued"], him_lam["went_to_vct"]) == (1, 2, 1)
    assert (dien_bien_phu["people_reached"], dien_bien_phu["condoms_distributed"]) == (30, 50)
    assert dien_bien_phu["people_referred"] == 1  # P3, referred with no clinic
    assert got["HenOuDongDa"] == dict.fromkeys(dhis2.EXPORTABLE, 0)  # zeros are sent too


def test_districts_only_get_each_districts_own_unique_counts(demo, settings, frozen_clock):
    february(demo, settings, frozen_clock)
    data = example_mapping()
    data["orgUnits"].pop("clinics")
    got = values_by_unit(_build(demo, settings, data), data)
    rows = _month_rows(demo, settings, "district")
    for name, uid in data["orgUnits"]["districts"].items():
        figures = rows.get(name, dict.fromkeys(reports.INDICATORS, 0))
        assert got[uid] == {k: v for k, v in figures.items() if k in dhis2.EXPORTABLE}
    # P1 twice at Him Lam and P3: two people in Dien Bien Phu, not three
    assert got["HenOuDBPhu1"]["people_referred"] == 2


def test_only_the_mapped_indicators_are_sent(demo, settings, frozen_clock):
    february(demo, settings, frozen_clock)
    data = example_mapping()
    data["indicators"] = {"people_referred": data["indicators"]["people_referred"]}
    body = _build(demo, settings, data)
    assert {v["dataElement"] for v in body["dataValues"]} == {"HenPplRefer"}
    assert len(body["dataValues"]) == 7  # 3 districts and 4 clinics


def test_a_clinic_or_district_with_figures_but_no_org_unit_is_listed(demo, settings, frozen_clock):
    february(demo, settings, frozen_clock)
    data = example_mapping()
    del data["orgUnits"]["clinics"]["Long Bien district MMT and STI clinic"]
    del data["orgUnits"]["districts"]["Dien Bien Phu"]
    del data["orgUnits"]["districts"]["Long Bien"]  # its clinic's row is the clinic's: no figures of its own
    with pytest.raises(dhis2.MappingIncomplete) as caught:
        _build(demo, settings, data)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert any(
        "clinic 'Long Bien district MMT and STI clinic'" in line and "orgUnits.clinics" in line
        for line in lines
    )
    assert any("district 'Dien Bien Phu' has figures" in line for line in lines)
    assert caught.value.status == 409


def test_a_mapped_clinic_the_database_does_not_have_is_refused(demo, settings, frozen_clock):
    frozen_clock(API_NOW)
    data = example_mapping()
    data["orgUnits"]["clinics"]["Closed clinic"] = "AbcdefGhij1"
    demo.add(Clinic(name="Dong Da district health centre", display_name="Phong kham B", district="Dong Da"))
    demo.commit()
    with pytest.raises(dhis2.MappingIncomplete) as caught:
        _build(demo, settings, data)
    text = str(caught.value)
    assert "'Closed clinic' in DHIS2_MAPPING is not a clinic" in text
    assert "'Dong Da district health centre' in DHIS2_MAPPING names 2 clinics" in text


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("202613", "there is no month 13"),
        ("202600", "there is no month 00"),
        ("2026-02", "period must be a DHIS2 month, YYYYMM"),
        ("2026W5", "period must be a DHIS2 month, YYYYMM"),
        ("202604", "has not begun yet"),
        ("299912", "has not begun yet"),
    ],
)
def test_a_bad_or_future_period_is_refused(demo, settings, frozen_clock, period, expected):
    february(demo, settings, frozen_clock)
    mapping = dhis2.parse_mapping(example_mapping())[0]
    with pytest.raises(reports.InvalidMonth, match=expected):
        dhis2.data_value_set(demo, mapping=mapping, period=period, tz=settings.tz)


def test_without_a_mapping_the_export_is_off(session, settings):
    with pytest.raises(dhis2.ExportOff, match="DHIS2_MAPPING"):
        dhis2.data_value_set(session, mapping=None, period=PERIOD, tz=settings.tz)


@pytest.mark.parametrize("period", ["٢٠٢٦١١", "２０２６１１", " 202611", "2026111"])
def test_a_period_is_six_ascii_digits(period):
    with pytest.raises(reports.InvalidMonth):
        dhis2.month_of_period(period)
    assert dhis2.month_of_period("202611") == "2026-11"


@pytest.mark.parametrize("month", ["٢٠٢٦-١١", "２０２６-１１", " 2026-1", "2026-1 "])
def test_a_report_month_is_ascii_yyyy_mm(month):
    with pytest.raises(reports.InvalidMonth):
        reports.month_period(month)
