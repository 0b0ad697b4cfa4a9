"""CSV exports (`app.routes.export`): a byte-order mark, a header and every
row, ids with names and UTC instants with local times, phones masked for
viewers, streamed in batches without a look-up per row."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from app.models import Clinic, ClinicService, ReferralCode, Worker
from tests.factories import (
    API,
    API_NOW,
    CLIENT,
    demo_worker,
    issue_by_api,
    service_with_code,
    without_coupons,
)

BOM = b"\xef\xbb\xbf"


@pytest.fixture(autouse=True)
def _no_peer_coupons(demo):
    """Codes one by one: the demo's peer coupons (their export: test_chains.py) are off."""
    without_coupons(demo)


EXPORTS = ("/export/codes.csv", "/export/redemptions.csv")
THANH_MINH = "Trạm Y tế xã Thanh Minh, tư vấn và xét nghiệm"  # an internal name with diacritics


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def add_clinic(session, name: str = THANH_MINH, district: str = "Điện Biên Phủ", services=("VCT",)) -> Clinic:
    clinic = Clinic(name=name, display_name="Phòng khám Thanh Minh", district=district)
    session.add(clinic)
    session.flush()
    for code in services:
        session.add(ClinicService(clinic_id=clinic.id, service_id=service_with_code(session, code).id))
    session.commit()
    return clinic


def add_worker(session, name: str, phone: str, district: str = "") -> Worker:
    worker = Worker(name=name, phone=phone, district=district)
    session.add(worker)
    session.commit()
    return worker


def tag_population_group(session, code: str, group: str) -> None:
    session.exec(select(ReferralCode).where(ReferralCode.code == code)).one().population_group = group
    session.commit()


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
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:4] == ["code", "display", "state", "service"]
    rows = csv_rows(r)
    assert [row["code"] for row in rows] == issued
    assert rows[0]["state"] == "redeemed" and rows[0]["redeemed_clinic_id"] == str(keys.clinic_id)
    assert {row["client_phone"] for row in rows} == {"+8491****678"}
    admin_rows = csv_rows(client.get(f"{API}/export/codes.csv", headers=keys.admin))
    assert {row["client_phone"] for row in admin_rows} == {CLIENT}
    only = client.get(f"{API}/export/codes.csv", headers=keys.admin, params={"state": "redeemed"})
    assert len(only.content.decode("utf-8-sig").strip().splitlines()) == 2


@pytest.mark.parametrize("path", EXPORTS)
def test_csv_exports_start_with_a_byte_order_mark_and_end_lines_with_crlf(client, keys, path):
    code = issue_by_api(client, keys, client_phone=CLIENT)["code"]
    client.post(f"{API}/codes/{code}/redeem", headers=keys.clinic)
    body = client.get(f"{API}{path}", headers=keys.admin).content
    assert body[:3] == BOM and body[3:4] != BOM[:1]
    assert body.count(b"\r\n") == 2 and body.count(b"\n") == 2


@pytest.mark.parametrize("path", EXPORTS)
def test_an_empty_export_is_a_byte_order_mark_and_a_header(client, keys, path):
    body = client.get(f"{API}{path}", headers=keys.viewer).content
    assert body.startswith(BOM) and body.endswith(b"\r\n") and body.count(b"\r\n") == 1


def test_codes_csv_names_the_service_clinics_worker_and_district(client, keys, session):
    thanh_minh = add_clinic(session, district="Điện Biên Đông")
    hoa = add_worker(session, "Lò Thị Hoa", "+84987000111", district="Mường Nhé")
    redeemed = issue_by_api(client, keys, client_phone=CLIENT, worker_id=hoa.id, clinic_id=thanh_minh.id)
    client.post(f"{API}/codes/{redeemed['code']}/redeem", headers=keys.clinic)
    referred = issue_by_api(
        client, keys, client_phone="+84912000222", worker_id=hoa.id, clinic_id=thanh_minh.id
    )
    by_worker = issue_by_api(client, keys, service="MMT", worker_id=hoa.id)
    by_key = issue_by_api(client, keys, service="MMT")
    tag_population_group(session, referred["code"], "BT")
    home = session.get(Clinic, keys.clinic_id)

    rows = {row["code"]: row for row in csv_rows(client.get(f"{API}/export/codes.csv", headers=keys.viewer))}

    first = rows[redeemed["code"]]
    assert first["service"] == "VCT" and first["service_name"] == "Voluntary counselling and testing"
    assert (first["worker_id"], first["worker_name"]) == (str(hoa.id), "Lò Thị Hoa")
    assert (first["clinic_id"], first["clinic_name"]) == (str(thanh_minh.id), THANH_MINH)
    assert (first["redeemed_clinic_id"], first["redeemed_clinic_name"]) == (str(home.id), home.name)
    assert first["district"] == home.district  # the redeeming clinic's
    assert first["population_group"] == ""
    second = rows[referred["code"]]
    assert second["district"] == "Điện Biên Đông" and second["redeemed_clinic_name"] == ""
    assert second["population_group"] == "BT"
    assert rows[by_worker["code"]]["district"] == "Mường Nhé"  # no clinic: the worker's
    assert rows[by_worker["code"]]["service_name"] == "Methadone maintenance treatment"
    last = rows[by_key["code"]]
    assert (last["worker_name"], last["clinic_name"], last["district"]) == ("", "", "")


def test_redemptions_csv_names_the_redeeming_and_referred_clinics(client, keys, session):
    thanh_minh = add_clinic(session, services=("VCT", "MMT"))
    worker = demo_worker(session)
    issued = issue_by_api(client, keys, client_phone=CLIENT, worker_id=worker.id, clinic_id=thanh_minh.id)
    code = issued["code"]
    tag_population_group(session, code, "NCH")
    client.post(f"{API}/codes/{code}/redeem", headers=keys.clinic)
    home = session.get(Clinic, keys.clinic_id)

    for key in (keys.admin, keys.viewer, keys.clinic):
        r = client.get(f"{API}/export/redemptions.csv", headers=key)
        assert r.content.startswith(BOM)
        [row] = csv_rows(r)
        assert row["code"] == code and row["service_name"] == "Voluntary counselling and testing"
        assert (row["clinic_id"], row["clinic_name"]) == (str(home.id), home.name)
        assert (row["referred_clinic_id"], row["referred_clinic_name"]) == (str(thanh_minh.id), THANH_MINH)
        assert (row["worker_id"], row["worker_name"]) == (str(worker.id), worker.name)
        assert row["district"] == home.district and row["population_group"] == "NCH"


def test_vietnamese_names_round_trip_through_utf8_sig(client, keys, session):
    clinic = add_clinic(session, name="Phòng khám Đống Đa – cơ sở Ô Chợ Dừa", district="Đống Đa")
    code = issue_by_api(client, keys, clinic_id=clinic.id)["code"]
    r = client.get(f"{API}/export/codes.csv", headers=keys.admin)
    text = r.content.decode("utf-8-sig")
    assert not text.startswith("\ufeff")
    [row] = [row for row in csv_rows(r) if row["code"] == code]
    assert row["clinic_name"] == "Phòng khám Đống Đa – cơ sở Ô Chợ Dừa" and row["district"] == "Đống Đa"


def test_local_times_are_in_the_program_time_zone_across_a_day_boundary(client, keys, frozen_clock):
    frozen_clock(datetime(2026, 11, 30, 18, 30, tzinfo=UTC))  # 1 December, 01:30 in Hanoi
    code = issue_by_api(client, keys, client_phone=CLIENT)["code"]
    frozen_clock(datetime(2026, 12, 2, 17, 5, tzinfo=UTC))  # 3 December, 00:05 in Hanoi
    client.post(f"{API}/codes/{code}/redeem", headers=keys.clinic)

    [row] = csv_rows(client.get(f"{API}/export/codes.csv", headers=keys.viewer))
    assert row["issued_at"].startswith("2026-11-30T18:30") and row["issued_local"] == "2026-12-01 01:30"
    assert row["redeemed_at"].startswith("2026-12-02T17:05") and row["redeemed_local"] == "2026-12-03 00:05"
    expires = datetime.fromisoformat(row["expires_at"]).astimezone(UTC)
    assert row["expires_local"] == (expires + timedelta(hours=7)).strftime("%Y-%m-%d %H:%M")
    assert row["voided_local"] == "" and row["voided_at"] == ""
    [redemption] = csv_rows(client.get(f"{API}/export/redemptions.csv", headers=keys.viewer))
    assert redemption["issued_local"] == "2026-12-01 01:30"
    assert redemption["redeemed_local"] == "2026-12-03 00:05"


def test_export_columns_keep_the_ids_and_utc_instants(client, keys):
    codes = csv_rows(client.get(f"{API}/export/codes.csv", headers=keys.admin))
    assert codes == []
    header = client.get(f"{API}/export/codes.csv", headers=keys.admin).content.decode("utf-8-sig")
    columns = header.strip().split(",")
    for kept in ("worker_id", "clinic_id", "redeemed_clinic_id", "issued_at", "expires_at", "redeemed_at"):
        assert kept in columns
    assert columns.index("issued_local") == columns.index("issued_at") + 1
    header = client.get(f"{API}/export/redemptions.csv", headers=keys.admin).content.decode("utf-8-sig")
    columns = header.strip().split(",")
    for kept in ("id", "clinic_id", "worker_id", "issued_at", "redeemed_at", "actor"):
        assert kept in columns
    assert columns.index("redeemed_local") == columns.index("redeemed_at") + 1


def test_csv_export_streams_many_rows(client, keys, session, backend):
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
    text = b"".join(chunks).decode("utf-8-sig")
    assert len(text.splitlines()) == 2501
    assert len(chunks) > 1


@pytest.mark.parametrize("path", EXPORTS)
def test_names_are_joined_in_the_query_not_looked_up_per_row(client, keys, session, db, path):
    def statements_for_export() -> tuple[int, int]:
        seen: list[str] = []

        def count(conn, cursor, statement, *args):
            seen.append(statement)

        event.listen(db, "before_cursor_execute", count)
        try:
            rows = csv_rows(client.get(f"{API}{path}", headers=keys.admin))
        finally:
            event.remove(db, "before_cursor_execute", count)
        return len(rows), len(seen)

    def issue_and_redeem(n: int) -> None:
        for i in range(n):
            clinic = add_clinic(session, name=f"Trạm y tế số {n}-{i}")
            worker = add_worker(session, f"Người {n}-{i}", f"+8498700{n:02d}{i:03d}")
            phone = f"+849120{n:02d}{i:03d}"
            code = issue_by_api(client, keys, client_phone=phone, worker_id=worker.id, clinic_id=clinic.id)
            client.post(f"{API}/codes/{code['code']}/redeem", headers=keys.clinic)

    issue_and_redeem(2)
    few = statements_for_export()
    issue_and_redeem(8)
    many = statements_for_export()
    assert (few[0], many[0]) == (2, 10)
    assert many[1] == few[1]
