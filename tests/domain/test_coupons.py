"""Peer coupons in the domain (`app.domain.coupons`, `app.domain.chains`):
how many, for which services, with which expiry, issued once per parent;
and the chain figures the reports and STATS read."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import select

from app.domain import chains, codes, coupons, outreach, reports
from app.models import Channel, CodeState, ReferralCode, Service
from tests.factories import CLIENT, demo_worker, issue_code, redeem_at, service_with_code

PEER = "+84912000001"


def children(session, row: ReferralCode) -> list[ReferralCode]:
    return list(
        session.exec(
            select(ReferralCode).where(ReferralCode.parent_code_id == row.id).order_by(ReferralCode.id)
        )
    )


def redeemed_with_coupons(session, settings, client: str | None = CLIENT) -> tuple[ReferralCode, list]:
    row = issue_code(session, settings, client=client)
    redeem_at(session, settings, row.code)
    session.refresh(row)
    return row, children(session, row)


def configure(session, code: str = "VCT", **values) -> Service:
    svc = service_with_code(session, code)
    for name, value in values.items():
        setattr(svc, name, value)
    session.add(svc)
    session.flush()
    return svc


def test_demo_vct_gives_three_coupons_for_vct_up_to_wave_three(demo):
    svc = service_with_code(demo, "VCT")
    assert (svc.peer_coupons, svc.coupon_services, svc.max_waves) == (3, ["VCT"], 3)
    assert service_with_code(demo, "MMT").peer_coupons == 0


def test_coupons_of_several_services_are_dealt_in_turn(demo, settings, now):
    configure(demo, coupon_services=["VCT", "PREP"])
    _, issued = redeemed_with_coupons(demo, settings)
    services = {s.id: s.code for s in demo.exec(select(Service))}
    assert [services[c.service_id] for c in issued] == ["VCT", "PREP", "VCT"]


def test_a_coupon_expires_like_any_code_of_its_service(demo, settings, now):
    configure(demo, coupon_services=["PREP"])
    configure(demo, "PREP", expiry_days=10)
    parent, [coupon, *_] = redeemed_with_coupons(demo, settings)
    fresh = codes.issue_code(
        demo,
        settings,
        service="PREP",
        worker=None,
        client_phone=None,
        clinic_id=None,
        channel=Channel.api,
        actor="t",
    )
    assert coupon.expires_at == fresh.expires_at != parent.expires_at


def test_an_inactive_coupon_service_is_skipped_and_none_left_means_no_coupons(demo, settings, now):
    configure(demo, coupon_services=["PREP", "VCT"])
    configure(demo, "PREP", active=False)
    _, issued = redeemed_with_coupons(demo, settings)
    assert {c.service_id for c in issued} == {service_with_code(demo, "VCT").id}
    configure(demo, coupon_services=["PREP"])
    _, none = redeemed_with_coupons(demo, settings, client=PEER)
    assert none == []


def test_coupons_are_issued_once_per_parent_whatever_calls_again(demo, settings, now):
    parent, issued = redeemed_with_coupons(demo, settings)
    assert len(issued) == 3 and parent.coupons_issued_at == now
    assert coupons.issue_coupons(demo, settings, parent) == []
    set_committed_value(parent, "coupons_issued_at", None)  # a stale copy elsewhere: the UPDATE decides
    assert coupons.issue_coupons(demo, settings, parent) == []
    assert len(children(demo, parent)) == 3


def test_a_coupon_is_a_code_of_the_chains_worker_with_its_parent_and_wave(demo, settings, now):
    parent, issued = redeemed_with_coupons(demo, settings)
    worker = demo_worker(demo)
    for coupon in issued:
        assert (coupon.worker_id, coupon.parent_code_id, coupon.wave) == (worker.id, parent.id, 1)
        assert (coupon.state, coupon.channel, coupon.client_phone) == (CodeState.issued, "coupon", None)


@pytest.mark.parametrize(
    ("wave", "max_waves", "due"), [(0, 0, 0), (0, 1, 3), (1, 1, 0), (2, 3, 3), (3, 3, 0)]
)
def test_coupons_are_due_while_the_chain_may_grow(demo, wave, max_waves, due):
    svc = configure(demo, max_waves=max_waves)
    assert coupons.coupons_due(svc, ReferralCode(wave=wave)) == due


def test_a_known_phone_is_never_overwritten(demo, settings, now):
    row = issue_code(demo, settings)
    assert not coupons.record_client_phone(demo, row, PEER, actor="t")
    assert row.client_phone == CLIENT


# ---------------------------------------------------------------- figures


def _chain(demo, settings):
    """CLIENT's code redeemed (3 coupons); one coupon texted by PEER and
    redeemed (3 more); one redeemed without a phone."""
    parent, wave_1 = redeemed_with_coupons(demo, settings)
    codes.code_status(demo, wave_1[0].code, settings=settings, holder=PEER)
    redeem_at(demo, settings, wave_1[0].code)
    redeem_at(demo, settings, wave_1[1].code)
    demo.commit()
    return parent, wave_1


def test_indicators_count_coupons_like_codes_and_who_came_with_one(demo, settings, now):
    _chain(demo, settings)
    day = now.astimezone(settings.tz).date()
    [total] = reports.figures(demo, date_from=day, date_to=day, tz=settings.tz)
    f = total.figures
    # the code, 6 coupons; people: CLIENT, PEER, and each coupon without a phone
    assert (f["codes_issued"], f["people_referred"]) == (7, 1 + 1 + 5)
    assert (f["redeemed"], f["went_to_vct"], f["reached_through_peers"]) == (3, 3, 2)


def test_chain_stats_per_starting_worker_and_overall(demo, settings, now):
    _chain(demo, settings)
    day = now.astimezone(settings.tz).date()
    [row], total = chains.chain_stats(demo, date_from=day, date_to=day, tz=settings.tz)
    assert row.worker_id == demo_worker(demo).id and row.worker_name == demo_worker(demo).name
    figures = (
        row.coupons_given,
        row.coupons_returned,
        row.return_rate,
        row.waves_reached,
        row.people_reached,
    )
    assert figures == (6, 2, round(2 / 6, 4), 1, 2)
    assert total.coupons_given == 6 and total.worker_id is None
    rows, total = chains.chain_stats(demo, date_from=date(2026, 12, 1), date_to=None, tz=settings.tz)
    assert rows == [] and (total.coupons_given, total.return_rate, total.people_reached) == (0, None, 0)


def test_the_workers_stats_keep_their_own_codes_apart_from_the_chains(demo, settings, now):
    _chain(demo, settings)
    month = outreach.worker_month_stats(
        demo, demo_worker(demo), now.astimezone(settings.tz).date(), tz=settings.tz
    )
    assert (month.issued, month.redeemed) == (1, 1)
    assert (month.coupons_given, month.coupons_returned, month.peers_reached) == (6, 2, 2)


def test_recruiters_are_the_phones_that_passed_coupons_on(demo, settings, now):
    _chain(demo, settings)
    day = now.astimezone(settings.tz).date()
    found = chains.recruiter_figures(demo, date_from=day, date_to=day, tz=settings.tz)
    assert [(r.phone, r.coupons_given, r.coupons_returned) for r in found] == [
        (PEER, 3, 0),
        (CLIENT, 3, 2),
    ]  # by phone


def test_a_chain_tree_lists_every_wave_in_order(demo, settings, now):
    parent, wave_1 = _chain(demo, settings)
    tree = chains.chain_below(demo, parent)
    assert tree.size == 7 and not tree.truncated
    assert [n.code.id for n in tree.root.children] == [c.id for c in wave_1]
    assert len(tree.root.children[0].children) == 3 and tree.root.children[1].children == []
    cut = chains.chain_below(demo, parent, max_nodes=5)
    assert (cut.size, cut.truncated) == (5, True)
