"""Redemptions through the API (`app.routes.redemptions`): a clinic key
sees its own clinic's only."""

from __future__ import annotations

import csv
import io

from tests.factories import API, issue_by_api


def test_a_clinic_key_sees_its_own_redemptions_only(client, keys):
    mine = issue_by_api(client, keys)["code"]
    theirs = issue_by_api(client, keys)["code"]
    client.post(f"{API}/codes/{mine}/redeem", headers=keys.clinic)
    client.post(f"{API}/codes/{theirs}/redeem", headers=keys.admin, json={"clinic_id": keys.other_clinic_id})

    seen = client.get(
        f"{API}/redemptions", headers=keys.clinic, params={"clinic_id": keys.other_clinic_id}
    ).json()
    assert seen["total"] == 1 and [r["code"] for r in seen["items"]] == [mine]
    everything = client.get(f"{API}/redemptions", headers=keys.viewer).json()
    assert everything["total"] == 2
    csv_rows = list(
        csv.DictReader(io.StringIO(client.get(f"{API}/export/redemptions.csv", headers=keys.clinic).text))
    )
    assert [r["code"] for r in csv_rows] == [mine]
