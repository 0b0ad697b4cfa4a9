"""`hen dhis2 push --period YYYYMM [--dry-run]`, run in-process, against
DHIS2 answers recorded as its documentation shows them (2.38 and later wrap
the import summary in a web message; earlier versions answer it bare),
intercepted with `responses`: the set is checked (dryRun=true) before it is
imported, a check with conflicts imports nothing, and any failure is a
clear line and a non-zero exit with nothing half-sent."""

from __future__ import annotations

import base64
import json

import pytest
import requests
import responses
from responses import matchers
from typer.testing import CliRunner

from app import cli as hen
from app.config import get_settings
from app.domain import dhis2
from tests.dhis2_support import EXAMPLE_MAPPING, PERIOD, example_mapping, february, write_mapping

DHIS2 = "https://dhis2.example.org"
IMPORT = f"{DHIS2}/api/dataValueSets"


def _summary(
    status,
    imported=0,
    updated=0,
    ignored=0,
    conflicts=(),
    description="Import process completed successfully",
):
    return {
        "responseType": "ImportSummary",
        "status": status,
        "importOptions": {
            "idSchemes": {},
            "dryRun": False,
            "async": False,
            "importStrategy": "CREATE_AND_UPDATE",
        },
        "description": description,
        "importCount": {"imported": imported, "updated": updated, "ignored": ignored, "deleted": 0},
        "conflicts": list(conflicts),
        "dataSetComplete": "false",
    }


def _web_message(http_status, code, status, message, response=None):
    body = {"httpStatus": http_status, "httpStatusCode": code, "status": status, "message": message}
    if response is not None:
        body["response"] = response
    return body


SUCCESS = _web_message("OK", 200, "OK", "Import was successful.", _summary("SUCCESS", imported=30, updated=8))
SUCCESS_BEFORE_2_38 = _summary("SUCCESS", imported=38)
UNKNOWN_ORG_UNIT = {
    "object": "HenOuLBMmt1",
    "objects": {"organisationUnit": "HenOuLBMmt1"},
    "value": "Organisation unit not found or not accessible: `HenOuLBMmt1`",
    "errorCode": "E7612",
    "property": "orgUnit",
    "indexes": [30],
}
CONFLICTS = _web_message(
    "Conflict", 409, "WARNING", "One more conflicts encountered, please check import summary.",
    _summary("WARNING", imported=31, ignored=7, conflicts=[UNKNOWN_ORG_UNIT]),
)  # fmt: skip
DATA_SET_UNKNOWN = _web_message(
    "Conflict", 409, "ERROR", "An error occurred, please check import summary.",
    _summary("ERROR", description="Data set not found or not accessible: `HenMonthly1`"),
)  # fmt: skip
UNAUTHORIZED = _web_message("Unauthorized", 401, "ERROR", "Unauthorized")
SERVER_ERROR = _web_message("Internal Server Error", 500, "ERROR", "java.lang.NullPointerException")


def _query(dry_run: bool):
    return matchers.query_param_matcher(
        {"dryRun": str(dry_run).lower(), "importStrategy": "CREATE_AND_UPDATE"}
    )


@pytest.fixture
def push(demo, settings, frozen_clock, database_url, monkeypatch, tmp_path):
    """Run `hen dhis2 push ARGS` on the test database with February's
    activity; returns (exit code, stdout, stderr)."""
    february(demo, settings, frozen_clock)
    monkeypatch.chdir(tmp_path)  # no .env
    for name, value in {
        "DATABASE_URL": database_url,
        "SMS_GATEWAY": "memory",
        "DHIS2_MAPPING": str(EXAMPLE_MAPPING),
        "DHIS2_URL": DHIS2 + "/",
        "DHIS2_USERNAME": "hen-import",
        "DHIS2_PASSWORD": "district",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    def run(*args, **env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        result = CliRunner().invoke(hen.cli, ["dhis2", "push", *args])
        return result.exit_code, result.stdout, result.stderr

    yield run
    get_settings.cache_clear()


@pytest.fixture
def dhis2_server():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _expected_body(demo, settings) -> dict:
    return dhis2.data_value_set(
        demo, mapping=dhis2.load_mapping(EXAMPLE_MAPPING), period=PERIOD, tz=settings.tz
    )


def test_a_push_is_checked_then_imported_and_prints_the_summary(push, dhis2_server, demo, settings):
    dhis2_server.post(IMPORT, json=SUCCESS, match=[_query(dry_run=True)])
    dhis2_server.post(IMPORT, json=SUCCESS, match=[_query(dry_run=False)])
    code, out, err = push("--period", PERIOD)
    assert code == 0, err
    assert [c.request.params["dryRun"] for c in dhis2_server.calls] == ["true", "false"]
    for call in dhis2_server.calls:
        assert json.loads(call.request.body) == _expected_body(demo, settings)
        assert (
            call.request.headers["Authorization"]
            == "Basic " + base64.b64encode(b"hen-import:district").decode()
        )
        assert call.request.headers["Content-Type"] == "application/json"
    assert "DHIS2 import: status SUCCESS: imported 30, updated 8, ignored 0, deleted 0" in out
    assert "conflicts: 0" in out


def test_the_summary_of_a_dhis2_before_2_38_is_read_too(push, dhis2_server):
    dhis2_server.post(IMPORT, json=SUCCESS_BEFORE_2_38)
    code, out, err = push("--period", PERIOD)
    assert code == 0, err
    assert "status SUCCESS: imported 38, updated 0" in out


def test_a_dry_run_asks_dhis2_to_check_and_saves_nothing(push, dhis2_server):
    dhis2_server.post(IMPORT, json=SUCCESS, match=[_query(dry_run=True)])
    code, out, _ = push("--period", PERIOD, "--dry-run")
    assert code == 0
    assert len(dhis2_server.calls) == 1
    assert "dry run: DHIS2 checked the import and saved nothing" in out


def test_conflicts_in_the_check_import_nothing_and_exit_non_zero(push, dhis2_server):
    dhis2_server.post(IMPORT, json=CONFLICTS, status=409)
    code, out, err = push("--period", PERIOD)
    assert code == 1
    assert len(dhis2_server.calls) == 1  # the check only
    assert "status WARNING: imported 31, updated 0, ignored 7" in out
    assert "HenOuLBMmt1: Organisation unit not found or not accessible: `HenOuLBMmt1` [E7612]" in out
    assert err.strip() == "hen: DHIS2 reported conflicts in its check: nothing was imported"


def test_a_409_with_status_error_is_refused_with_its_description(push, dhis2_server):
    dhis2_server.post(IMPORT, json=DATA_SET_UNKNOWN, status=409)
    code, out, err = push("--period", PERIOD, "--dry-run")
    assert code == 1 and len(dhis2_server.calls) == 1
    assert "status ERROR" in out and "Data set not found or not accessible" in out
    assert "nothing was imported" in err


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"json": UNAUTHORIZED, "status": 401},
            "hen: DHIS2 refused DHIS2_USERNAME/DHIS2_PASSWORD (401); nothing was saved",
        ),
        (
            {"json": SERVER_ERROR, "status": 500},
            "hen: DHIS2 answered 500 (java.lang.NullPointerException); nothing was saved",
        ),
        (
            {"body": requests.ConnectionError("refused")},
            f"hen: DHIS2 unreachable at {DHIS2} (ConnectionError); nothing was sent",
        ),
        (
            {"body": requests.ReadTimeout("read timed out")},
            f"hen: DHIS2 at {DHIS2} did not answer within 60 s; nothing was saved",
        ),
        ({"status": 404, "body": "Not Found"}, f"hen: no DHIS2 Web API at {IMPORT} (404): check DHIS2_URL"),
        ({"status": 302, "headers": {"Location": f"{DHIS2}/dhis-web-login/"}}, "a redirect to"),
        ({"status": 200, "body": "<html>login</html>"}, "hen: DHIS2 answered 200 without an import summary"),
    ],
    ids=["401", "500", "down", "timeout", "404", "redirect", "not-a-summary"],
)
def test_dhis2_refusing_or_down_is_one_clear_line_and_a_non_zero_exit(push, dhis2_server, answer, expected):
    dhis2_server.post(IMPORT, **answer)
    code, out, err = push("--period", PERIOD)
    assert code == 1
    assert len(dhis2_server.calls) == 1  # the check failed: no import was tried
    assert expected in err and len(err.strip().splitlines()) == 1
    assert "DHIS2 import" not in out


def test_a_500_on_the_import_itself_says_it_may_be_partial(push, dhis2_server):
    dhis2_server.post(IMPORT, json=SUCCESS, match=[_query(dry_run=True)])
    dhis2_server.post(IMPORT, json=SERVER_ERROR, status=500, match=[_query(dry_run=False)])
    code, _, err = push("--period", PERIOD)
    assert code == 1
    assert "DHIS2 answered 500" in err and "push again" in err


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (("--period", "202613"), {}, "there is no month 13"),
        (("--period", "2026-02"), {}, "period must be a DHIS2 month, YYYYMM"),
        (("--period", "209901"), {}, "2099-01 has not begun yet"),
        (("--period", PERIOD), {"DHIS2_URL": ""}, "DHIS2_URL: required to push to DHIS2"),
        (("--period", PERIOD), {"DHIS2_MAPPING": ""}, "the DHIS2 export is off"),
        (
            ("--period", PERIOD),
            {"DHIS2_URL": "dhis2.example.org"},
            "DHIS2_URL: expected the DHIS2 server's base URL",
        ),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(push, dhis2_server, args, env, expected):
    code, _, err = push(*args, **env)
    assert code == 1
    assert expected in err and "Traceback" not in err
    assert len(dhis2_server.calls) == 0


def test_a_mapping_with_problems_is_refused_one_line_each_before_anything_is_sent(
    push, dhis2_server, tmp_path
):
    data = example_mapping()
    data["indicators"]["people_referd"] = data["indicators"].pop("people_referred")
    data["dataSet"] = "HenMonthly"
    code, _, err = push("--period", PERIOD, DHIS2_MAPPING=str(write_mapping(tmp_path, data)))
    assert code == 1 and len(dhis2_server.calls) == 0
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("hen: DHIS2_MAPPING ") for line in lines)
    assert "dataSet: 'HenMonthly' is not a DHIS2 UID" in err and "people_referd: unknown indicator" in err


def test_a_clinic_with_figures_but_no_org_unit_is_refused_before_anything_is_sent(
    push, dhis2_server, tmp_path
):
    data = example_mapping()
    del data["orgUnits"]["clinics"]["Dien Bien Phu city health centre, VCT and MMT"]
    del data["orgUnits"]["districts"]["Dien Bien Phu"]
    code, _, err = push("--period", PERIOD, DHIS2_MAPPING=str(write_mapping(tmp_path, data)))
    assert code == 1 and len(dhis2_server.calls) == 0
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("hen: ") for line in lines)
    assert "clinic 'Dien Bien Phu city health centre, VCT and MMT'" in err
    assert "district 'Dien Bien Phu' has figures" in err


def test_serve_refuses_a_malformed_mapping_one_line_per_problem_before_starting(monkeypatch, tmp_path):
    data = example_mapping()
    data["indicators"]["people_referd"] = data["indicators"].pop("people_referred")
    data["orgUnits"]["clinics"]["Dong Da district health centre"] = "HenOuHimLam"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DHIS2_MAPPING", str(write_mapping(tmp_path, data)))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(hen.cli, ["serve"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("hen: DHIS2_MAPPING ") for line in lines)
    assert "HenOuHimLam is given to both" in lines[1]
