"""Two clinic desks confirm the same peer coupon by SMS at the same moment,
through the SMS webhook of the application under a real uvicorn (each
request on its own connection, on PostgreSQL): exactly one redemption, one
desk told it is confirmed and the other that the code was already used,
the coupon's holder's coupons issued once, and the one who passed the
coupon on told once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import Session, func, select

from app.demo import DEMO_CLINIC_PHONE
from app.domain.code_text import format_code
from app.models import ClinicStaff, Message, Redemption, ReferralCode
from tests.factories import CLIENT, CLIENT_LOCAL, NOW, clinic_named, issue_by_sms, send, sms, sms_text
from tests.live_server import served

OTHER_DESK = "+84900000009"  # Muong Thanh's desk: it offers VCT too
PEER_LOCAL = "0912000222"


@pytest.mark.postgres_only
def test_two_desks_confirming_one_coupon_at_once_redeem_it_once(client, app, demo, frozen_clock):
    frozen_clock(NOW)
    demo.add(ClinicStaff(clinic_id=clinic_named(demo, "Phong kham Muong Thanh").id, phone=OTHER_DESK))
    demo.commit()
    code = issue_by_sms(client, f"GT VCT {CLIENT_LOCAL}")
    sms(client, DEMO_CLINIC_PHONE, f"XN {format_code(code.code)}")  # the client came: three coupons
    with Session(app.state.engine) as s:
        coupon = s.exec(select(ReferralCode).where(ReferralCode.parent_code_id == code.id)).first()
    typed = f"XN {format_code(coupon.code)} {PEER_LOCAL}"
    start = threading.Barrier(2)

    with served(app) as base_url:

        def confirm(desk: str) -> int:
            with httpx.Client(base_url=base_url, timeout=20) as http:
                http.get("/healthz")  # the connection is open before the start line
                start.wait(timeout=30)
                return send(http, typed, phone=desk).json()["message_id"]

        with ThreadPoolExecutor(max_workers=2) as pool:
            inbound = list(pool.map(confirm, (DEMO_CLINIC_PHONE, OTHER_DESK)))
        app.state.dispatcher.wait_idle()

    with Session(app.state.engine) as s:
        assert (
            s.exec(select(func.count()).select_from(Redemption).where(Redemption.code_id == coupon.id)).one()
            == 1
        )
        replies = [s.exec(select(Message.text).where(Message.in_reply_to == i)).all() for i in inbound]
        shown = format_code(coupon.code)
        used = sms_text("codes.already_redeemed", code=shown)
        assert sorted(used in texts for texts in replies) == [False, True], replies
        peer = s.get(ReferralCode, coupon.id).client_phone
        assert (
            s.exec(
                select(func.count()).select_from(ReferralCode).where(ReferralCode.parent_code_id == coupon.id)
            ).one()
            == 3
        )
        friend_came = sms_text("coupons.friend_came", used=1, given=3)
        told = s.exec(select(Message).where(Message.phone == CLIENT, Message.text == friend_came)).all()
        assert len(told) == 1 and PEER_LOCAL not in told[0].text and peer not in told[0].text
