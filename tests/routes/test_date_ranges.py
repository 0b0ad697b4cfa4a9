"""Dates of every endpoint taking a period (`from`/`to`, `issued_from`/
`issued_to`): a date outside the years 2000..2100 is a clear 422 for every
role that may call it, never a server error; the whole range is answered."""

from __future__ import annotations

import pytest

from tests.factories import API, issue_by_api

# path, first-day parameter, last-day parameter, roles that may call it
ENDPOINTS = [
    ("/indicators", "from", "to", ("viewer", "admin")),
    ("/stats/redemptions", "from", "to", ("viewer",)),
    ("/codes", "issued_from", "issued_to", ("viewer",)),
    ("/redemptions", "from", "to", ("viewer", "clinic")),
    ("/export/codes.csv", "issued_from", "issued_to", ("viewer",)),
    ("/export/redemptions.csv", "from", "to", ("viewer", "clinic")),
]
CASES = [(path, first, last, role) for path, first, last, roles in ENDPOINTS for role in roles]


@pytest.mark.parametrize("path, first, last, role", CASES)
@pytest.mark.parametrize(
    "dates",
    [
        {"last": "9999-12-31"},
        {"first": "0001-01-01"},
        {"first": "1999-12-31", "last": "2026-03-02"},
        {"first": "2026-03-01", "last": "2101-01-01"},
    ],
)
def test_a_date_outside_the_years_2000_to_2100_is_a_clear_422(client, keys, path, first, last, role, dates):
    params = {first: "2026-03-01", last: "2026-03-02"}
    params.update({first if k == "first" else last: v for k, v in dates.items()})
    r = client.get(f"{API}{path}", params=params, headers=keys.of(role))
    assert r.status_code == 422, r.text
    bad = next(v for v in dates.values() if not v.startswith("2026"))
    assert bad in r.json()["detail"] and "2000-01-01" in r.json()["detail"]


@pytest.mark.parametrize("path, first, last, role", CASES)
def test_the_whole_range_is_answered(client, keys, path, first, last, role):
    issue_by_api(client, keys)
    params = {first: "2000-01-01", last: "2100-12-31"}
    r = client.get(f"{API}{path}", params=params, headers=keys.of(role))
    assert r.status_code == 200, r.text


def test_monthly_statistics_over_the_whole_range(client, keys):
    issue_by_api(client, keys)
    params = {"group_by": "month", "from": "2000-01-01", "to": "2100-12-31"}
    r = client.get(f"{API}/stats/redemptions", params=params, headers=keys.viewer)
    assert r.status_code == 200, r.text
    assert [row["key"] for row in r.json()["items"]] == ["2026-03"]
