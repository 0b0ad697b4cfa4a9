"""The monthly report and `/indicators` against a hand-built month with
exact expected figures, on both databases: people not codes, unique counts
over the whole month (never the sum of the rows), voided codes nowhere, and
the month's edges in Asia/Ho_Chi_Minh (UTC+7)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from app.models import (
    Clinic,
    CodeState,
    GroupMeeting,
    OutreachReport,
    Person,
    ReferralCode,
    Service,
    Worker,
)
from tests.factories import API, demo_worker, make_keys

P1, P2, P3, P4 = "+84912000001", "+84912000002", "+84912000003", "+84912000004"
REPORT_DAY = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def month(demo, frozen_clock):
    """November 2026, by hand (times UTC; local = UTC+7)."""
    keys = make_keys(demo)
    frozen_clock(REPORT_DAY)
    s = demo
    svc = {row.code: row.id for row in s.exec(select(Service))}
    clinic = {row.display_name: row for row in s.exec(select(Clinic))}
    him_lam = next(c for name, c in clinic.items() if "Him Lam" in name)
    dong_da = next(c for name, c in clinic.items() if "Đống Đa" in name or "Dong Da" in name)
    w1 = demo_worker(s)
    w2 = Worker(name="Second worker", phone="+84900000031", district="Dong Da")
    s.add(w2)
    s.flush()

    def code(n, service, phone, worker, clinic_id, issued, redeemed=None, at=None, state=None, group=None):
        s.add(
            ReferralCode(
                code=f"{n:08d}",
                service_id=svc[service],
                worker_id=worker.id,
                clinic_id=clinic_id,
                client_phone=phone,
                state=state or (CodeState.redeemed if redeemed else CodeState.issued),
                issued_at=_at(issued),
                expires_at=_at(issued) + timedelta(days=60),
                redeemed_at=_at(redeemed) if redeemed else None,
                redeemed_clinic_id=at.id if at else None,
                population_group=group,
            )
        )

    code(1, "VCT", P1, w1, him_lam.id, "2026-11-03T03:00", "2026-11-05T03:00", him_lam, group="BT")
    code(2, "VCT", P1, w1, him_lam.id, "2026-11-10T03:00", state=CodeState.voided)  # a mistake
    code(3, "MMT", P1, w1, him_lam.id, "2026-11-12T03:00", "2026-11-16T03:00", him_lam)
    code(4, "VCT", P2, w1, None, "2026-11-20T03:00")  # no clinic: the worker's district
    code(5, "VCT", None, w2, dong_da.id, "2026-11-30T17:30")  # 1 December, 00:30 local
    code(6, "VCT", P3, w2, dong_da.id, "2026-10-31T17:30", "2026-11-02T05:30", dong_da)  # 1 Nov, 00:30 local
    code(7, "VCT", None, w2, dong_da.id, "2026-11-15T03:00", group="DC")
    code(
        8, "VCT", P1, w1, him_lam.id, "2026-10-20T03:00", "2026-11-01T03:00", him_lam
    )  # October's, came in November
    code(9, "VCT", P1, w2, dong_da.id, "2026-11-18T03:00")  # P1 again, at another site
    s.add(OutreachReport(worker_id=w1.id, report_date=date(2026, 11, 10), people_reached=30, condoms=50))
    s.add(OutreachReport(worker_id=w2.id, report_date=date(2026, 11, 30), people_reached=10, condoms=0))
    s.add(OutreachReport(worker_id=w2.id, report_date=date(2026, 12, 1), people_reached=99, condoms=99))
    s.add(GroupMeeting(worker_id=w1.id, meeting_date=date(2026, 11, 11), participants=12))
    s.add(GroupMeeting(worker_id=w1.id, meeting_date=date(2026, 11, 25), participants=8))
    s.add(GroupMeeting(worker_id=w2.id, meeting_date=date(2026, 10, 31), participants=5))
    s.add(Person(phone=P2, opted_out=True, opted_out_at=_at("2026-11-30T16:59")))  # 23:59 local, 30 Nov
    s.add(Person(phone=P4, opted_out=True, opted_out_at=_at("2026-11-30T17:00")))  # 00:00 local, 1 Dec
    s.commit()
    return keys, him_lam, dong_da


def _figures(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("district", "site", "clinic_id", "population_group")}


TOTAL = {
    "people_reached": 40,
    "condoms_distributed": 50,
    "group_meetings": 2,
    "group_meeting_participants": 20,
    "people_referred": 4,  # P1, P2, P3 and one code without a phone
    "codes_issued": 6,
    "referred_to_vct": 4,
    "went_to_vct": 2,  # P1 (twice) and P3
    "referred_to_mmt": 1,
    "went_to_mmt": 1,
    "redeemed": 4,
    "opt_outs": 1,
    "reached_through_peers": 0,
    "redemption_rate": 0.5,
    "median_days_to_redeem": 2.0,
}


def test_the_monthly_report_counts_people_per_site_and_in_total(client, month):
    keys, him_lam, dong_da = month
    r = client.get(f"{API}/reports/monthly", params={"month": "2026-11"}, headers=keys.viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["month"], body["from"], body["to"]) == ("2026-11", "2026-11-01", "2026-11-30")
    assert _figures(body["total"]) == TOTAL
    rows = {(row["district"], row["site"]): row for row in body["rows"]}
    assert list(rows) == [
        ("Dien Bien Phu", ""),
        ("Dien Bien Phu", him_lam.name),
        ("Dong Da", ""),
        ("Dong Da", dong_da.name),
    ]
    zero = dict.fromkeys(TOTAL, 0) | {"redemption_rate": None, "median_days_to_redeem": None}
    assert _figures(rows[("Dien Bien Phu", "")]) == zero | {
        "people_reached": 30, "condoms_distributed": 50, "group_meetings": 2, "group_meeting_participants": 20,
        "people_referred": 1, "codes_issued": 1, "referred_to_vct": 1, "redemption_rate": 0.0,
    }  # fmt: skip
    assert _figures(rows[("Dien Bien Phu", him_lam.name)]) == zero | {
        "people_referred": 1, "codes_issued": 2, "referred_to_vct": 1, "referred_to_mmt": 1,
        "redeemed": 3, "went_to_vct": 1, "went_to_mmt": 1, "redemption_rate": 1.0, "median_days_to_redeem": 3.0,
    }  # fmt: skip
    assert _figures(rows[("Dong Da", "")]) == zero | {"people_reached": 10}
    assert _figures(rows[("Dong Da", dong_da.name)]) == zero | {
        "people_referred": 3, "codes_issued": 3, "referred_to_vct": 3, "redeemed": 1, "went_to_vct": 1,
        "redemption_rate": 0.3333, "median_days_to_redeem": 1.5,
    }  # fmt: skip
    # P1 came to both sites: the rows add up to more people than the month has
    assert sum(row["people_referred"] for row in body["rows"]) == 5
    assert [(g["population_group"], g["site"]) for g in body["groups"]] == [
        ("BT", "Partner"),
        ("DC", "Migrant"),
    ]
    groups = {row["population_group"]: _figures(row) for row in body["groups"]}
    assert groups == {
        "BT": zero | {"people_referred": 1, "codes_issued": 1, "referred_to_vct": 1, "redeemed": 1,
                      "went_to_vct": 1, "redemption_rate": 1.0, "median_days_to_redeem": 2.0},
        "DC": zero | {"people_referred": 1, "codes_issued": 1, "referred_to_vct": 1, "redemption_rate": 0.0},
    }  # fmt: skip


def test_indicators_give_the_monthly_reports_total(client, month):
    keys, _, _ = month
    r = client.get(
        f"{API}/indicators", params={"from": "2026-11-01", "to": "2026-11-30"}, headers=keys.viewer
    )
    body = r.json()
    assert {k: body[k] for k in TOTAL if k in body} == {
        k: v for k, v in TOTAL.items() if k not in ("redemption_rate", "median_days_to_redeem")
    }


def test_a_unique_count_over_two_months_is_not_the_sum_of_the_months(client, month):
    keys, _, _ = month
    two = client.get(
        f"{API}/indicators", params={"from": "2026-10-01", "to": "2026-11-30"}, headers=keys.viewer
    )
    # October adds code 8 (P1, counted already) and nothing else of November's
    assert two.json()["people_referred"] == 4 and two.json()["codes_issued"] == 7


def test_december_starts_at_local_midnight(client, month):
    keys, _, _ = month
    r = client.get(f"{API}/reports/monthly", params={"month": "2026-12"}, headers=keys.viewer)
    total = r.json()["total"]
    assert (total["codes_issued"], total["people_referred"], total["people_reached"], total["opt_outs"]) == (
        1, 1, 99, 1,
    )  # fmt: skip


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "26-11-1", "2026/11", "2027-01", "2101-01"])
def test_a_bad_or_future_month_is_a_clear_422(client, month, bad):
    keys, _, _ = month
    r = client.get(f"{API}/reports/monthly", params={"month": bad}, headers=keys.viewer)
    assert r.status_code == 422 and isinstance(r.json()["detail"], (str, list))


def test_the_monthly_csv_opens_in_a_spreadsheet_with_the_same_figures(client, month):
    import csv
    import io

    keys, him_lam, _ = month
    r = client.get(f"{API}/reports/monthly.csv", params={"month": "2026-11"}, headers=keys.viewer)
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    assert "hen-monthly-2026-11.csv" in r.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [line["row"] for line in lines] == ["site"] * 4 + ["total", "group", "group"]
    total = next(line for line in lines if line["row"] == "total")
    assert {k: total[k] for k in ("people_referred", "codes_issued", "went_to_vct", "opt_outs")} == {
        "people_referred": "4", "codes_issued": "6", "went_to_vct": "2", "opt_outs": "1",
    }  # fmt: skip
    assert any(line["site"] == him_lam.name for line in lines)
