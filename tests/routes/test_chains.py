"""Peer coupons in the admin API: the services' coupon settings, a
redemption that records the client's phone, the chain below a code, the
chain statistics, the indicator and the incentive export
(`/export/coupons.csv`), with the API's roles, masks and errors."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import select

from app.models import AuditLog, CodeState, ReferralCode
from tests.factories import (
    API,
    CLIENT,
    demo_worker,
    issue_by_api,
    notifications_to,
    unknown_code,
)

PEER = "+84912000001"


def coupons_of(session, code: str) -> list[ReferralCode]:
    session.expire_all()
    parent = session.exec(select(ReferralCode).where(ReferralCode.code == code)).one()
    return list(
        session.exec(
            select(ReferralCode).where(ReferralCode.parent_code_id == parent.id).order_by(ReferralCode.id)
        )
    )


def redeem(client, keys, code: str, **body):
    return client.post(f"{API}/codes/{code}/redeem", json=body or None, headers=keys.clinic)


@pytest.fixture
def chain(client, keys, session):
    """The demo worker's code for CLIENT, redeemed (3 coupons); PEER brings
    the first coupon and gives their phone at the desk (3 more)."""
    code = issue_by_api(client, keys, client_phone=CLIENT, worker_id=demo_worker(session).id)["code"]
    assert redeem(client, keys, code).status_code == 200
    wave_1 = coupons_of(session, code)
    assert redeem(client, keys, wave_1[0].code, client_phone="0912 000 001").status_code == 200
    return code, wave_1


# ---------------------------------------------------------------- services


def test_services_show_and_take_their_coupon_settings(client, keys):
    r = client.get(f"{API}/services/{_vct(client, keys)}", headers=keys.viewer)
    assert {k: r.json()[k] for k in ("peer_coupons", "coupon_services", "max_waves")} == {
        "peer_coupons": 3,
        "coupon_services": ["VCT"],
        "max_waves": 3,
    }
    mmt = next(
        s for s in client.get(f"{API}/services", headers=keys.admin).json()["items"] if s["code"] == "MMT"
    )
    body = {"peer_coupons": 2, "coupon_services": ["vct", "MMT"], "max_waves": 1}
    r = client.patch(f"{API}/services/{mmt['id']}", json=body, headers=keys.admin)
    assert r.status_code == 200, r.text
    assert (r.json()["peer_coupons"], r.json()["coupon_services"], r.json()["max_waves"]) == (
        2,
        ["VCT", "MMT"],
        1,
    )


def _vct(client, keys) -> int:
    return next(
        s["id"]
        for s in client.get(f"{API}/services", headers=keys.admin).json()["items"]
        if s["code"] == "VCT"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"coupon_services": ["VCT", "NOPE"]},
        {"peer_coupons": 11},
        {"max_waves": -1},
        {"coupon_services": "VCT"},
    ],
)
def test_bad_coupon_settings_are_422_and_change_nothing(client, keys, body):
    vct = _vct(client, keys)
    r = client.patch(f"{API}/services/{vct}", json=body, headers=keys.admin)
    assert r.status_code == 422, r.text
    shown = client.get(f"{API}/services/{vct}", headers=keys.admin).json()
    assert (shown["peer_coupons"], shown["coupon_services"], shown["max_waves"]) == (3, ["VCT"], 3)


def test_a_new_service_may_give_coupons_for_itself(client, keys):
    body = {"code": "SRH", "name": "Reproductive health", "display_name": "Suc khoe gia dinh"}
    r = client.post(
        f"{API}/services",
        json=body | {"peer_coupons": 2, "coupon_services": ["SRH", "VCT"]},
        headers=keys.admin,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["coupon_services"], r.json()["max_waves"]) == (["SRH", "VCT"], 0)
    r = client.post(
        f"{API}/services", json=body | {"code": "X2", "coupon_services": ["SRH2"]}, headers=keys.admin
    )
    assert r.status_code == 422 and "SRH2" in r.json()["detail"]


# ---------------------------------------------------------------- redeem with the client's phone


def test_a_redemption_may_record_the_clients_phone_and_send_the_coupons(client, keys, session):
    code = issue_by_api(client, keys)["code"]  # no client phone
    r = redeem(client, keys, code, client_phone="0912 345 678")
    assert r.status_code == 200, r.text
    assert client.get(f"{API}/codes/{code}", headers=keys.admin).json()["client_phone"] == CLIENT
    coupons = coupons_of(session, code)
    assert len(coupons) == 3
    texts = [m.text for m in notifications_to(client, CLIENT)]
    assert all(any(c.code[:4] in t for t in texts) for c in coupons)


@pytest.mark.parametrize("phone", ["12345", "0243 123 4567", "not a phone"])
def test_an_invalid_phone_at_redemption_is_422_and_nothing_is_redeemed(client, keys, session, phone):
    code = issue_by_api(client, keys)["code"]
    r = redeem(client, keys, code, client_phone=phone)
    assert r.status_code == 422
    shown = client.get(f"{API}/codes/{code}", headers=keys.admin).json()
    assert shown["state"] == CodeState.issued and shown["client_phone"] is None
    assert coupons_of(session, code) == []


# ---------------------------------------------------------------- the chain below a code


def test_the_chain_shows_every_wave_with_phones_masked_unless_admin(client, keys, chain):
    code, wave_1 = chain
    r = client.get(f"{API}/codes/{code}/chain", headers=keys.admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["size"], body["truncated"], body["parent_code"]) == (7, False, None)
    root = body["root"]
    assert (root["code"], root["wave"], root["state"], root["service"], root["client_phone"]) == (
        code, 0, "redeemed", "VCT", CLIENT,
    )  # fmt: skip
    assert root["clinic_id"] == keys.clinic_id and root["redeemed_at"]
    first, second, third = root["children"]
    assert [c["code"] for c in root["children"]] == [c.code for c in wave_1]
    assert (first["wave"], first["state"], first["client_phone"], len(first["children"])) == (
        1,
        "redeemed",
        PEER,
        3,
    )
    assert (second["state"], second["client_phone"], second["children"], second["redeemed_at"]) == (
        "issued", None, [], None,
    )  # fmt: skip
    assert {c["wave"] for c in first["children"]} == {2}

    viewed = client.get(f"{API}/codes/{wave_1[0].code}/chain", headers=keys.viewer).json()
    assert viewed["parent_code"] == code and viewed["size"] == 4
    assert viewed["root"]["client_phone"] == "+8491****001"
    assert client.get(f"{API}/codes/{code}/chain", headers=keys.clinic).status_code == 403


def test_a_wrong_code_for_the_chain_is_audited_and_throttled(client, keys, session, chain):
    code, _ = chain
    assert client.get(f"{API}/codes/{unknown_code()}/chain", headers=keys.viewer).status_code == 404
    digits = code[:3] + str((int(code[3]) + 1) % 10) + code[4:]
    assert client.get(f"{API}/codes/{digits}/chain", headers=keys.viewer).status_code == 422
    for _ in range(8):
        client.get(f"{API}/codes/{unknown_code()}/chain", headers=keys.viewer)
    throttled = client.get(f"{API}/codes/{code}/chain", headers=keys.viewer)
    assert throttled.status_code == 429
    session.expire_all()
    outcomes = [
        a.detail["outcome"] for a in session.exec(select(AuditLog).where(AuditLog.actor == "key:test viewer"))
    ]
    assert outcomes.count("unknown") == 9 and "throttled" in outcomes


# ---------------------------------------------------------------- statistics and the indicator


def test_chain_stats_per_starting_worker_and_overall(client, keys, session, chain):
    r = client.get(
        f"{API}/stats/chains", params={"from": "2026-03-01", "to": "2026-03-31"}, headers=keys.viewer
    )
    assert r.status_code == 200, r.text
    body = r.json()
    worker = demo_worker(session)
    assert (body["from"], body["to"]) == ("2026-03-01", "2026-03-31")
    assert body["items"] == [
        {
            "worker_id": worker.id,
            "worker_name": worker.name,
            "coupons_given": 6,
            "coupons_returned": 1,
            "return_rate": round(1 / 6, 4),
            "waves_reached": 1,
            "people_reached": 1,
        }
    ]
    assert body["total"] | {"worker_name": worker.name, "worker_id": worker.id} == body["items"][0]
    later = client.get(f"{API}/stats/chains", params={"from": "2026-04-01"}, headers=keys.viewer).json()
    assert later["items"] == [] and later["total"]["coupons_given"] == 0


@pytest.mark.parametrize(
    "params", [{"from": "2026-03-31", "to": "2026-03-01"}, {"from": "03/2026"}, {"month": "x"}]
)
def test_bad_chain_stats_requests_are_422(client, keys, params):
    assert client.get(f"{API}/stats/chains", params=params, headers=keys.viewer).status_code == 422


def test_the_indicators_count_who_came_with_a_coupon(client, keys, chain):
    r = client.get(
        f"{API}/indicators", params={"from": "2026-03-01", "to": "2026-03-31"}, headers=keys.viewer
    )
    body = r.json()
    assert body["reached_through_peers"] == 1
    assert (body["codes_issued"], body["redeemed"]) == (7, 2)  # coupons count like any code


# ---------------------------------------------------------------- the incentive export


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_coupons_csv_is_per_recruiter_with_phones_masked_unless_admin(client, keys, session, chain):
    r = client.get(
        f"{API}/export/coupons.csv", params={"from": "2026-03-01", "to": "2026-03-31"}, headers=keys.viewer
    )
    assert r.status_code == 200 and "coupons.csv" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    worker = demo_worker(session)
    assert csv_rows(r) == [
        {"recruiter_phone": "+8491****001", "worker_id": str(worker.id), "worker_name": worker.name,
         "coupons_given": "3", "coupons_returned": "0"},
        {"recruiter_phone": "+8491****678", "worker_id": str(worker.id), "worker_name": worker.name,
         "coupons_given": "3", "coupons_returned": "1"},
    ]  # fmt: skip
    admin = csv_rows(client.get(f"{API}/export/coupons.csv", headers=keys.admin))
    assert [row["recruiter_phone"] for row in admin] == [PEER, CLIENT]
    later = client.get(f"{API}/export/coupons.csv", params={"from": "2026-04-01"}, headers=keys.admin)
    assert later.content.decode("utf-8-sig").splitlines() == [
        "recruiter_phone,worker_id,worker_name,coupons_given,coupons_returned"
    ]
    assert client.get(f"{API}/export/coupons.csv", headers=keys.clinic).status_code == 403
    bad = client.get(
        f"{API}/export/coupons.csv", params={"from": "2026-03-31", "to": "2026-03-01"}, headers=keys.admin
    )
    assert bad.status_code == 422
