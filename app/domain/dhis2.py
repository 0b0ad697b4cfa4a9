"""The DHIS2 export: the mapping file (`DHIS2_MAPPING`), read and checked
once, and a month's `dataValueSet` built from `reports.figures`, so DHIS2
receives the figures the monthly report shows. No HTTP here: the push is
`app.dhis2_client`.

The mapping (JSON) names DHIS2's identifiers (UIDs: 11 letters or digits,
a letter first):

    {"dataSet": "<uid>",
     "indicators": {"people_referred": {"dataElement": "<uid>",
                                        "categoryOptionCombo": "<uid>"}, ...},
     "orgUnits": {"districts": {"Dong Da": "<uid>", ...},
                  "clinics": {"<clinic internal name>": "<uid>", ...}}}

Each figure goes to exactly one organisation unit, so DHIS2's own sums up
its hierarchy never count a figure twice:
- with `clinics` mapped, each row of the monthly report (`by="site"`) is
  sent: a clinic's row to the clinic, the district's own row (outreach,
  codes without a clinic) to the district;
- with `districts` only, each district's row (`by="district"`: unique
  counts over the district) to the district.
Every mapped organisation unit is sent every mapped indicator, zeros
included, so a push after a correction overwrites the earlier value.
`opt_outs` is a program total (a phone belongs to no site): not mappable.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from app import clock
from app.config import ConfigError
from app.domain import reports
from app.domain.errors import DomainError
from app.models import Clinic

UID = re.compile(r"[A-Za-z][A-Za-z0-9]{10}")
TOTAL_ONLY = ("opt_outs",)
EXPORTABLE = tuple(name for name in reports.INDICATORS if name not in TOTAL_ONLY)
# counted from the workers' REACH and MEET reports: a district's, never a clinic's
OUTREACH = ("people_reached", "condoms_distributed", "group_meetings", "group_meeting_participants")


class MappingInvalid(ConfigError):
    """The mapping file is unreadable or malformed: one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class ExportOff(DomainError):
    key = "error.not_found"
    status = 404


class MappingIncomplete(DomainError):
    """The database has figures the mapping gives no organisation unit
    (or the mapping names a clinic the database does not have)."""

    key = "error.invalid"
    status = 409


@dataclass(frozen=True)
class Target:
    data_element: str
    category_option_combo: str | None


@dataclass(frozen=True)
class Mapping:
    data_set: str
    indicators: dict[str, Target]  # in INDICATORS order
    districts: dict[str, str]  # district name -> org unit UID
    clinics: dict[str, str]  # clinic internal name -> org unit UID

    @property
    def by_site(self) -> bool:
        return bool(self.clinics)


# ---------------------------------------------------------------- the mapping file


def load_mapping(path: str | Path) -> Mapping:
    """The mapping in the JSON file at `path`. Raises MappingInvalid, each
    line starting `DHIS2_MAPPING <path>:`."""
    where = f"DHIS2_MAPPING {path}"
    repeated: list[str] = []

    def no_repeats(pairs):
        seen: dict = {}
        for key, value in pairs:
            if key in seen:
                repeated.append(key)
            seen[key] = value
        return seen

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingInvalid(
            [f"{where}: cannot be read ({exc.__class__.__name__}: {exc.strerror or exc})"]
        ) from None
    try:
        data = json.loads(text, object_pairs_hook=no_repeats)
    except json.JSONDecodeError as exc:
        raise MappingInvalid(
            [f"{where}: not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]
        ) from None
    mapping, problems = parse_mapping(data)
    problems = [f"{name!r} is given twice in one object" for name in repeated] + problems
    if problems:
        raise MappingInvalid([f"{where}: {p}" for p in problems])
    assert mapping is not None
    return mapping


def _fields(obj: dict) -> dict:
    """An object's entries, without `_comment`-style keys."""
    return {k: v for k, v in obj.items() if not str(k).startswith("_")}


def _uid(value, at: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not UID.fullmatch(value):
        problems.append(f"{at}: {value!r} is not a DHIS2 UID (11 letters or digits, a letter first)")
        return ""
    return value


def _object(value, at: str, problems: list[str]) -> dict:
    if not isinstance(value, dict):
        problems.append(f"{at}: expected an object {{...}}, not {type(value).__name__}")
        return {}
    return _fields(value)


def _unknown(obj: dict, known: tuple[str, ...], at: str, problems: list[str]) -> None:
    for key in obj:
        if key not in known:
            problems.append(f"{at}{key}: unknown key (expected {', '.join(known)})")


def parse_mapping(data) -> tuple[Mapping | None, list[str]]:
    """(the mapping, []) or (None, one line per problem) for a decoded JSON
    document. Pure: checks the shape, not the database."""
    problems: list[str] = []
    top = _object(data, "the file", problems)
    _unknown(top, ("dataSet", "indicators", "orgUnits"), "", problems)
    if "dataSet" not in top:
        problems.append("dataSet: missing (the UID of the DHIS2 data set)")
    data_set = _uid(top.get("dataSet"), "dataSet", problems) if "dataSet" in top else ""

    indicators: dict[str, Target] = {}
    given = _object(top.get("indicators", {}), "indicators", problems)
    if not given:
        problems.append('indicators: none mapped (e.g. "people_referred": {"dataElement": "<uid>"})')
    cells: dict[tuple[str, str | None], str] = {}
    for name, entry in given.items():
        at = f"indicators.{name}"
        if name in TOTAL_ONLY:
            problems.append(
                f"{at}: a program total (a phone belongs to no site), it has no organisation unit"
            )
            continue
        if name not in EXPORTABLE:
            problems.append(f"{at}: unknown indicator (known: {', '.join(EXPORTABLE)})")
            continue
        entry = _object(entry, at, problems)
        _unknown(entry, ("dataElement", "categoryOptionCombo"), f"{at}.", problems)
        if "dataElement" not in entry:
            problems.append(f"{at}.dataElement: missing")
            continue
        element = _uid(entry["dataElement"], f"{at}.dataElement", problems)
        combo = entry.get("categoryOptionCombo")
        combo = _uid(combo, f"{at}.categoryOptionCombo", problems) if combo is not None else None
        if (element, combo) in cells:
            problems.append(
                f"{at}: same dataElement and categoryOptionCombo as indicators.{cells[element, combo]}"
            )
        cells[element, combo] = name
        indicators[name] = Target(element, combo)

    units = _object(top.get("orgUnits", {}), "orgUnits", problems)
    _unknown(units, ("districts", "clinics"), "orgUnits.", problems)
    districts = _org_units(units, "districts", problems)
    clinics = _org_units(units, "clinics", problems)
    if not districts and not clinics:
        problems.append("orgUnits: no districts or clinics mapped to an organisation unit")
    owners: dict[str, str] = {}
    for kind, table in (("district", districts), ("clinic", clinics)):
        for name, uid in table.items():
            if uid in owners:
                problems.append(f"orgUnits: {uid} is given to both {owners[uid]} and {kind} {name!r}")
            owners.setdefault(uid, f"{kind} {name!r}")
    if problems:
        return None, problems
    ordered = {name: indicators[name] for name in EXPORTABLE if name in indicators}
    return Mapping(data_set, ordered, districts, clinics), []


def _org_units(units: dict, kind: str, problems: list[str]) -> dict[str, str]:
    table = _object(units.get(kind, {}), f"orgUnits.{kind}", problems)
    found = {}
    for name, uid in table.items():
        if kind == "clinics" and not name.strip():
            problems.append("orgUnits.clinics: a clinic with an empty name")
            continue
        if _uid(uid, f"orgUnits.{kind}.{name!r}", problems):
            found[name] = uid
    return found


# ---------------------------------------------------------------- the data value set


def month_of_period(period: str) -> str:
    """DHIS2's monthly period `YYYYMM` as the report's month `YYYY-MM`.
    Raises reports.InvalidMonth (the month itself is checked by
    `reports.month_period`)."""
    if not re.fullmatch(r"[0-9]{6}", period or ""):
        raise reports.InvalidMonth(f"period must be a DHIS2 month, YYYYMM, e.g. 202611, not {period[:20]!r}")
    if not 1 <= int(period[4:]) <= 12:
        raise reports.InvalidMonth(
            f"period {period}: there is no month {period[4:]} (YYYYMM, months 01 to 12)"
        )
    return f"{period[:4]}-{period[4:]}"


def data_value_set(session: Session, *, mapping: Mapping | None, period: str, tz: ZoneInfo) -> dict:
    """The month `period` (YYYYMM, begun by today in `tz`) as a DHIS2
    dataValueSet: values as strings, each with its organisation unit.
    Raises ExportOff (no mapping), reports.InvalidMonth, MappingIncomplete
    (every problem, one line each)."""
    if mapping is None:
        raise ExportOff("the DHIS2 export is off: set DHIS2_MAPPING to a mapping file")
    first, last = reports.month_period(month_of_period(period), clock.now().astimezone(tz).date())
    by = "site" if mapping.by_site else "district"
    rows = {row.key: row for row in reports.figures(session, date_from=first, date_to=last, tz=tz, by=by)}
    units, problems = _units(session, mapping, rows)
    if problems:
        raise MappingIncomplete("\n".join(problems))
    values = []
    for key, org_unit, clinic in units:
        row = rows.get(key) or reports.Row(key)
        for name, target in mapping.indicators.items():
            if clinic and name in OUTREACH:
                continue
            value = {"dataElement": target.data_element, "orgUnit": org_unit, "value": str(row.figures[name])}
            if target.category_option_combo:
                value["categoryOptionCombo"] = target.category_option_combo
            values.append(value)
    return {"dataSet": mapping.data_set, "period": period, "dataValues": values}


def _units(
    session: Session, mapping: Mapping, rows: dict[str | None, reports.Row]
) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """([(row key, org unit, is a clinic)], problems): every mapped unit,
    and a line for each row with figures but no unit."""
    prefix = "d" if mapping.by_site else ""
    units = [(prefix + name, uid, False) for name, uid in mapping.districts.items()]
    problems: list[str] = []
    clinics: dict[int, tuple[str, str]] = {}
    if mapping.by_site:
        named: dict[str, list[int]] = {}
        for cid, name, district in session.execute(sa.select(Clinic.id, Clinic.name, Clinic.district)):
            clinics[cid] = (name, district)
            named.setdefault(name, []).append(cid)
        for name, uid in mapping.clinics.items():
            ids = named.get(name, [])
            if len(ids) == 1:
                units.append((f"c{ids[0]}", uid, True))
            elif ids:
                ids_text = ", ".join(map(str, ids))
                problems.append(
                    f"clinic {name!r} in DHIS2_MAPPING names {len(ids)} clinics (ids {ids_text}): rename one"
                )
            else:
                problems.append(
                    f"clinic {name!r} in DHIS2_MAPPING is not a clinic's internal name in the database"
                )
    mapped = {key for key, _, _ in units}
    for key, row in rows.items():
        if key in mapped or not any(row.figures[name] for name in mapping.indicators):
            continue
        problems.append(_unmapped(key or "", prefix, clinics))
    return units, problems


def _unmapped(key: str, prefix: str, clinics: dict[int, tuple[str, str]]) -> str:
    if key.startswith("c"):
        name, district = clinics.get(int(key[1:]), ("?", "?"))
        return (
            f"clinic {name!r} (id {key[1:]}, {district}) has figures but no organisation unit: "
            "add it under orgUnits.clinics"
        )
    district = key[len(prefix) :]
    if not district:
        return (
            "figures with no district (codes without a clinic from a worker without a district): "
            'give the worker a district, or map "" under orgUnits.districts'
        )
    return f"district {district!r} has figures but no organisation unit: add it under orgUnits.districts"
