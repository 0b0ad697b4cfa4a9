"""Redemption statistics and indicators against a hand-built fixture whose
figures are worked out by hand below (program time zone Asia/Ho_Chi_Minh,
UTC+7)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.main import create_app
from app.models import (
    Clinic,
    CodeState,
    OutreachReport,
    Person,
    Redemption,
    ReferralCode,
    Service,
    Worker,
)
from tests.conftest import make_settings
from tests.factories import API, make_keys, service_id


def at(day: str, hour: int = 3) -> datetime:
    """A UTC moment; 03:00 UTC is 10:00 in Hanoi."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


# name, worker, service, issued (UTC), suggested clinic, redeemed at clinic, days to redeem, voided
CODES = [
    ("c1", "W1", "VCT", at("2026-01-05"), None, "A", 2, False),
    ("c2", "W1", "VCT", at("2026-01-06"), None, "A", 4, False),
    ("c3", "W1", "VCT", at("2026-01-10"), None, "B", 6, False),
    ("c4", "W1", "VCT", at("2026-01-20"), "A", None, None, False),
    ("c5", "W2", "MMT", at("2026-01-15"), None, "C", 1, False),
    ("c6", "W2", "VCT", at("2026-02-02"), None, "C", 10, False),
    ("c7", "W2", "VCT", at("2026-02-03"), None, None, None, True),  # voided: counts nowhere
    ("c8", "W3", "STI", at("2026-02-10"), None, None, None, False),
    ("c9", "W3", "VCT", at("2026-02-11"), None, None, None, False),
    ("c10", None, "PREP", at("2026-02-20"), None, "B", 3, False),
    ("c11", "W3", "VCT", at("2026-01-31", 20), None, None, None, False),  # 1 Feb 03:00 in Hanoi
]


@pytest.fixture
def fixture(demo, frozen_clock):
    """3 workers (W1 Dien Bien Phu, W2 Dong Da, W3 Long Bien), clinics A and
    B (Dien Bien Phu) and C (Dong Da), the codes above, REACH reports and
    opt-outs."""
    session = demo
    frozen_clock(at("2026-04-01"))
    keys = make_keys(session)
    services = {s.code: s for s in session.exec(select(Service))}
    clinics = {c.display_name: c for c in session.exec(select(Clinic))}
    clinic = {
        "A": clinics["Phòng khám Him Lam"],
        "B": clinics["Phòng khám Mường Thanh"],
        "C": clinics["Phòng khám Đống Đa"],
    }
    workers = {
        "W1": Worker(name="Worker one", phone="+84912000001", district="Dien Bien Phu"),
        "W2": Worker(name="Worker two", phone="+84912000002", district="Dong Da"),
        "W3": Worker(name="Worker three", phone="+84912000003", district="Long Bien"),
    }
    session.add_all(workers.values())
    session.flush()
    for i, (_name, w, svc, issued, suggested, redeemed_at, days, voided) in enumerate(CODES):
        code = ReferralCode(
            code=f"{i:08d}",
            service_id=services[svc].id,
            worker_id=workers[w].id if w else None,
            clinic_id=clinic[suggested].id if suggested else None,
            state=CodeState.voided if voided else CodeState.redeemed if redeemed_at else CodeState.issued,
            issued_at=issued,
            expires_at=issued + timedelta(days=30),
            voided_at=issued + timedelta(hours=1) if voided else None,
            # as codes.redeem_code writes them
            redeemed_at=issued + timedelta(days=days) if redeemed_at else None,
            redeemed_clinic_id=clinic[redeemed_at].id if redeemed_at else None,
        )
        session.add(code)
        session.flush()
        if redeemed_at:
            session.add(
                Redemption(
                    code_id=code.id,
                    clinic_id=clinic[redeemed_at].id,
                    redeemed_at=issued + timedelta(days=days),
                    channel="sms",
                )
            )
    session.add_all(
        [
            OutreachReport(
                worker_id=workers["W1"].id, report_date=date(2026, 2, 3), people_reached=10, condoms=50
            ),
            OutreachReport(
                worker_id=workers["W2"].id, report_date=date(2026, 2, 28), people_reached=5, condoms=20
            ),
            OutreachReport(
                worker_id=workers["W1"].id, report_date=date(2026, 1, 31), people_reached=7, condoms=30
            ),
            OutreachReport(
                worker_id=workers["W3"].id, report_date=date(2026, 3, 1), people_reached=9, condoms=9
            ),
            Person(phone="+84913000001", opted_out=True, opted_out_at=at("2026-02-10")),
            Person(phone="+84913000002", opted_out=True, opted_out_at=at("2026-01-31", 18)),  # 1 Feb local
            Person(phone="+84913000003", opted_out=False, opted_out_at=None),  # opted back in
            Person(phone="+84913000004", opted_out=True, opted_out_at=at("2026-03-01", 0)),  # 1 Mar local
        ]
    )
    session.commit()
    return keys, {k: v.id for k, v in workers.items()}, {k: v.id for k, v in clinic.items()}


def stats(client, keys, **params):
    r = client.get(f"{API}/stats/redemptions", params=params, headers=keys.viewer)
    assert r.status_code == 200, r.text
    return r.json()


def table(body) -> dict:
    return {
        row["key"]: (row["issued"], row["redeemed"], row["redemption_rate"], row["median_days_to_redeem"])
        for row in body["items"]
    }


def test_by_worker(client, fixture):
    keys, w, _ = fixture
    body = stats(client, keys, group_by="worker")
    assert table(body) == {
        str(w["W1"]): (4, 3, 0.75, 4.0),
        str(w["W2"]): (2, 2, 1.0, 5.5),
        str(w["W3"]): (3, 0, 0.0, None),
        None: (1, 1, 1.0, 3.0),
    }
    assert body["total"] == 4 and body["group_by"] == "worker"
    assert [row["label"] for row in body["items"][:3]] == ["Worker one", "Worker two", "Worker three"]


def test_by_service(client, fixture):
    keys, _, _ = fixture
    assert table(stats(client, keys, group_by="service")) == {
        "VCT": (7, 4, 0.5714, 5.0),
        "MMT": (1, 1, 1.0, 1.0),
        "STI": (1, 0, 0.0, None),
        "PREP": (1, 1, 1.0, 3.0),
    }


def test_by_clinic_where_redeemed_else_where_referred(client, fixture):
    keys, _, c = fixture
    assert table(stats(client, keys, group_by="clinic")) == {
        str(c["A"]): (3, 2, 0.6667, 3.0),
        str(c["B"]): (2, 2, 1.0, 4.5),
        str(c["C"]): (2, 2, 1.0, 5.5),
        None: (3, 0, 0.0, None),
    }


def test_by_district_of_the_clinic_else_of_the_worker(client, fixture):
    keys, _, _ = fixture
    assert table(stats(client, keys, group_by="district")) == {
        "Dien Bien Phu": (5, 4, 0.8, 3.5),
        "Dong Da": (2, 2, 1.0, 5.5),
        "Long Bien": (3, 0, 0.0, None),
    }


def test_by_local_month_of_issue(client, fixture):
    keys, _, _ = fixture
    body = stats(client, keys, group_by="month")
    assert table(body) == {"2026-01": (5, 4, 0.8, 3.0), "2026-02": (5, 2, 0.4, 6.5)}
    assert [row["key"] for row in body["items"]] == ["2026-01", "2026-02"]


@pytest.fixture
def london(demo, db, database_url, gateway, frozen_clock):
    """An app whose program time zone has summer time (Europe/London: UTC+0
    in winter, UTC+1 from 29 March to 25 October 2026), and codes issued
    just after local midnight on the first of a month."""
    frozen_clock(at("2026-12-01"))
    keys = make_keys(demo)
    vct = service_id(demo, "VCT")
    issued = [
        at("2026-01-15", 10),  # January
        at("2026-03-31", 23) + timedelta(minutes=30),  # 1 April 00:30 BST
        at("2026-06-30", 23) + timedelta(minutes=30),  # 1 July 00:30 BST
        at("2026-10-31", 23) + timedelta(minutes=30),  # 31 October 23:30 GMT
    ]
    for i, when in enumerate(issued):
        demo.add(
            ReferralCode(
                code=f"9{i:07d}",
                service_id=vct,
                state=CodeState.issued,
                issued_at=when,
                expires_at=when + timedelta(days=30),
            )
        )
    demo.commit()
    app = create_app(make_settings(database_url, TIMEZONE="Europe/London"), gateway=gateway, engine=db)
    with TestClient(app) as client:
        yield client, keys


@pytest.mark.parametrize("period", [{"from": "2026-01-01", "to": "2026-12-31"}, {}, {"to": "2026-12-31"}])
def test_months_follow_the_offset_of_each_month(london, period):
    client, keys = london
    body = stats(client, keys, group_by="month", **period)
    assert [(row["key"], row["issued"]) for row in body["items"]] == [
        ("2026-01", 1),
        ("2026-04", 1),
        ("2026-07", 1),
        ("2026-10", 1),
    ]


def test_a_one_month_period_is_one_group(london):
    client, keys = london
    body = stats(client, keys, group_by="month", **{"from": "2026-04-01", "to": "2026-04-30"})
    assert table(body) == {"2026-04": (1, 0, 0.0, None)}
    assert stats(client, keys, group_by="month", **{"from": "2026-05-01", "to": "2026-05-31"})["items"] == []
    assert stats(client, keys, group_by="month", **{"from": "2027-01-01"})["items"] == []


def test_a_period_selects_the_codes_issued_in_it(client, fixture):
    keys, w, _ = fixture
    feb = stats(client, keys, group_by="worker", **{"from": "2026-02-01", "to": "2026-02-28"})
    assert table(feb) == {
        str(w["W2"]): (1, 1, 1.0, 10.0),
        str(w["W3"]): (3, 0, 0.0, None),
        None: (1, 1, 1.0, 3.0),
    }
    assert feb["from"] == "2026-02-01" and feb["to"] == "2026-02-28"
    jan = stats(client, keys, group_by="worker", **{"from": "2026-01-01", "to": "2026-01-31"})
    assert table(jan) == {str(w["W1"]): (4, 3, 0.75, 4.0), str(w["W2"]): (1, 1, 1.0, 1.0)}
    assert stats(client, keys, group_by="worker", **{"from": "2027-01-01"})["items"] == []


def test_stats_are_paged(client, fixture):
    keys, w, _ = fixture
    page = stats(client, keys, group_by="worker", limit=2, offset=1)
    assert page["total"] == 4 and [row["key"] for row in page["items"]] == [str(w["W2"]), str(w["W3"])]


@pytest.mark.parametrize(
    "params",
    [
        {"group_by": "planet"},
        {"from": "2026-02-30"},
        {"from": "2026-03-01", "to": "2026-02-01"},
        {"limit": 10**9},
    ],
)
def test_bad_stats_requests_are_422(client, fixture, params):
    keys, _, _ = fixture
    r = client.get(f"{API}/stats/redemptions", params=params, headers=keys.admin)
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)


def test_indicators_for_february(client, fixture):
    keys, _, _ = fixture
    r = client.get(
        f"{API}/indicators", params={"from": "2026-02-01", "to": "2026-02-28"}, headers=keys.viewer
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "from": "2026-02-01",
        "to": "2026-02-28",
        "people_reached": 15,
        "condoms_distributed": 70,
        "group_meetings": 0,
        "group_meeting_participants": 0,
        "people_referred": 5,
        "codes_issued": 5,
        "referred_to_vct": 3,
        "went_to_vct": 1,
        "referred_to_mmt": 0,
        "went_to_mmt": 0,
        "redeemed": 2,
        "opt_outs": 2,
        "reached_through_peers": 0,
    }


def test_indicators_for_january(client, fixture):
    keys, _, _ = fixture
    r = client.get(f"{API}/indicators", params={"from": "2026-01-01", "to": "2026-01-31"}, headers=keys.admin)
    body = r.json()
    assert (body["people_reached"], body["condoms_distributed"]) == (7, 30)
    assert (body["people_referred"], body["referred_to_vct"], body["went_to_vct"], body["redeemed"]) == (
        5,
        4,
        3,
        4,
    )
    assert body["opt_outs"] == 0


def test_indicators_need_a_valid_period(client, fixture):
    keys, _, _ = fixture
    assert client.get(f"{API}/indicators", headers=keys.admin).status_code == 422
    r = client.get(f"{API}/indicators", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=keys.admin)
    assert r.status_code == 422 and "after" in r.json()["detail"]
