"""CSV exports (`app.routes.export`): a header and every row, phones masked
for viewers, streamed."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from tests.factories import API, API_NOW, CLIENT, issue_by_api, service_with_code


def test_codes_csv_has_a_header_every_row_and_masks_for_viewers(client, keys):
    issued = [
        issue_by_api(client, keys, service=s, client_phone=CLIENT)["code"] for s in ("VCT", "MMT", "PREP")
    ]
    client.post(f"{API}/codes/{issued[0]}/redeem", headers=keys.clinic)
    r = client.get(f"{API}/export/codes.csv", headers=keys.viewer)
    assert r.status_code == 200
    assert (
        r.headers["content-type"].startswith("text/csv") and "codes.csv" in r.headers["content-disposition"]
    )
    lines = r.content.decode("utf-8").splitlines()
    assert lines[0].split(",")[:4] == ["code", "display", "state", "service"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["code"] for row in rows] == issued
    assert rows[0]["state"] == "redeemed" and rows[0]["redeemed_clinic_id"] == str(keys.clinic_id)
    assert {row["client_phone"] for row in rows} == {"+8491****678"}
    admin_rows = list(
        csv.DictReader(io.StringIO(client.get(f"{API}/export/codes.csv", headers=keys.admin).text))
    )
    assert {row["client_phone"] for row in admin_rows} == {CLIENT}
    only = client.get(f"{API}/export/codes.csv", headers=keys.admin, params={"state": "redeemed"}).text
    assert len(only.strip().splitlines()) == 2


def test_csv_export_streams_many_rows(client, keys, session, backend):
    from app.models import ReferralCode

    vct = service_with_code(session, "VCT")
    session.add_all(
        ReferralCode(
            code=f"{i:08d}", service_id=vct.id, issued_at=API_NOW, expires_at=API_NOW + timedelta(days=30)
        )
        for i in range(2500)
    )
    session.commit()
    with client.stream("GET", f"{API}/export/codes.csv", headers=keys.admin) as r:
        chunks = list(r.iter_bytes())
    text = b"".join(chunks).decode("utf-8")
    assert len(text.splitlines()) == 2501
    assert len(chunks) > 1
