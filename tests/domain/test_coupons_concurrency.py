"""Peer coupons under concurrency, on PostgreSQL (each thread its own
session and connection, started together): a coupon brought to several
clinics at the same moment is redeemed once, its own coupons issued once
and the one who passed it on told once; a parent's coupons are issued once
whoever asks at the same moment; one phone wins a code without one."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from app.db import make_engine, session_factory
from app.domain import clinics, codes, coupons, errors
from app.messages import render
from app.models import Channel, Clinic, Message, Redemption, ReferralCode, Service
from tests.factories import CLIENT, issue_code, redeem_at

PEER = "+84912000001"
ATTEMPTS = 10


def run_together(database_url, n: int, work) -> list:
    """`work(i, session)` in `n` threads at the same moment; their results."""
    engine = make_engine(database_url, pool_size=n, max_overflow=0)
    factory = session_factory(engine)
    start = threading.Barrier(n)

    def attempt(i: int):
        with factory() as session:
            session.connection()  # hold a connection before the start line
            start.wait(timeout=60)
            return work(i, session)

    try:
        with ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(attempt, range(n)))
    finally:
        engine.dispose()


def children(session: Session, parent_id: int) -> int:
    return session.exec(
        select(func.count()).select_from(ReferralCode).where(ReferralCode.parent_code_id == parent_id)
    ).one()


@pytest.mark.postgres_only
def test_clinics_redeeming_one_coupon_at_the_same_moment_make_one_redemption(demo, settings, database_url):
    parent = issue_code(demo, settings)
    redeem_at(demo, settings, parent.code)
    coupon = demo.exec(select(ReferralCode).where(ReferralCode.parent_code_id == parent.id)).first()
    coupons.record_client_phone(demo, coupon, PEER, actor="test")
    demo.commit()
    vct_clinics = [
        c.id
        for c in demo.exec(select(Clinic).order_by(Clinic.id))
        if clinics.offers(demo, c.id, coupon.service_id)
    ]
    assert len(vct_clinics) >= 2

    def redeem(i: int, session: Session) -> str:
        clinic = session.get(Clinic, vct_clinics[i % len(vct_clinics)])
        try:
            codes.redeem_code(
                session, settings, coupon.code, clinic=clinic, channel=Channel.api, actor=f"desk-{i}"
            )
        except errors.AlreadyRedeemed:
            session.commit()
            return "already"
        session.commit()
        return "redeemed"

    outcomes = run_together(database_url, ATTEMPTS, redeem)
    assert outcomes.count("redeemed") == 1 and outcomes.count("already") == ATTEMPTS - 1
    with Session(demo.get_bind()) as s:
        assert (
            s.exec(select(func.count()).select_from(Redemption).where(Redemption.code_id == coupon.id)).one()
            == 1
        )
        assert children(s, coupon.id) == 3  # the peer's own coupons, once
        to_peer = s.exec(select(Message).where(Message.phone == PEER)).all()
        assert len(to_peer) == 3
        notice = render("coupons.friend_came", "vi-ascii", used=1, given=3)
        notices = [m for m in s.exec(select(Message).where(Message.phone == CLIENT)) if m.text == notice]
        assert len(notices) == 1  # the one who passed it on, told once


@pytest.mark.postgres_only
def test_a_parents_coupons_are_issued_once_whoever_asks_at_the_same_moment(demo, settings, database_url):
    vct = demo.exec(select(Service).where(Service.code == "VCT")).one()
    vct.peer_coupons = 0
    demo.add(vct)
    parent = issue_code(demo, settings)
    redeem_at(demo, settings, parent.code)  # no coupons then
    vct.peer_coupons = 3
    demo.add(vct)
    demo.commit()

    def ask(i: int, session: Session) -> int:
        issued = coupons.issue_coupons(session, settings, session.get(ReferralCode, parent.id))
        session.commit()
        return len(issued)

    assert sorted(run_together(database_url, ATTEMPTS, ask)) == [0] * (ATTEMPTS - 1) + [3]
    with Session(demo.get_bind()) as s:
        assert children(s, parent.id) == 3
        assert (
            len(s.exec(select(Message).where(Message.phone == CLIENT, Message.kind == "notification")).all())
            == 1 + 3
        )


@pytest.mark.postgres_only
def test_phones_texting_one_code_at_the_same_moment_one_becomes_its_client(demo, settings, database_url):
    parent = issue_code(demo, settings, client=None)
    redeem_at(demo, settings, parent.code)
    demo.commit()
    phones = [f"+8491200{i:04d}" for i in range(ATTEMPTS)]

    def text(i: int, session: Session) -> str:
        try:
            codes.code_status(
                session, parent.code, actor=f"phone:{phones[i]}", settings=settings, holder=phones[i]
            )
        except errors.AlreadyRedeemed:
            session.commit()
            return "already"
        session.commit()
        return "coupons"

    outcomes = run_together(database_url, ATTEMPTS, text)
    assert outcomes.count("coupons") == 1
    with Session(demo.get_bind()) as s:
        row = s.get(ReferralCode, parent.id)
        assert row.client_phone == phones[outcomes.index("coupons")]
        assert children(s, parent.id) == 3
        assert len(s.exec(select(Message).where(Message.phone == row.client_phone)).all()) == 3
