"""Peer coupons through the SMS webhook, on both databases (demo VCT: three
coupons for VCT, chains up to wave 3): a redeemed client gets coupons to
forward, a peer who brings one becomes a client with coupons of their own,
the one who passed it on is told without the peer's number, and every
refusal is the reply any code gets, with nothing issued twice."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import select

from app import clock
from app.channels.sms.clinic import split_code_and_phone
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import code_text
from app.domain.phones import normalize_phone
from app.models import AuditLog, Channel, ClinicStaff, CodeState, Redemption, ReferralCode, Service
from tests.discretion import assert_discreet
from tests.factories import (
    CLIENT,
    CLIENT_LOCAL,
    clinic_named,
    count_in,
    issue_by_sms,
    last_code,
    notifications_to,
    reply,
    send,
    session_of,
    sms,
    sms_text,
    snapshot,
    with_check,
)

PEER = "+84912000001"
PEER_2 = "+84912000002"
PEER_3 = "+84912000003"
FAR_DESK = "+84900000009"  # a desk at the Long Bien clinic (MMT and STI, no VCT)


def shown(row: ReferralCode) -> str:
    return code_text.format_code(row.code)


def coupons_of(client, row: ReferralCode) -> list[ReferralCode]:
    with session_of(client) as s:
        return list(
            s.exec(
                select(ReferralCode).where(ReferralCode.parent_code_id == row.id).order_by(ReferralCode.id)
            )
        )


def fresh(client, row: ReferralCode) -> ReferralCode:
    with session_of(client) as s:
        return s.get(ReferralCode, row.id)


def coupon_texts(client, phone: str, coupons: list[ReferralCode]) -> list[str]:
    """The notifications to `phone` that carry one of `coupons`."""
    codes = {shown(c) for c in coupons}
    return [m.text for m in notifications_to(client, phone) if any(code in m.text for code in codes)]


def forwarded(coupon: ReferralCode, settings) -> str:
    return sms_text(
        "coupons.sms",
        code=shown(coupon),
        service="Tu van suc khoe",
        until=code_text.valid_until_text(coupon, settings.tz),
    )


def set_service(client, code: str = "VCT", **values) -> None:
    with session_of(client) as s:
        svc = s.exec(select(Service).where(Service.code == code)).one()
        for name, value in values.items():
            setattr(svc, name, value)
        s.add(svc)
        s.commit()


def redeem(client, row: ReferralCode, extra: str = "", desk: str = DEMO_CLINIC_PHONE) -> str:
    return reply(client, desk, f"XN {shown(row)} {extra}".strip())


def client_with_coupons(client) -> tuple[ReferralCode, list[ReferralCode]]:
    """The worker refers CLIENT, the desk confirms the code: the code and its coupons."""
    code = issue_by_sms(client)
    assert redeem(client, code) == sms_text(
        "coupons.redeemed_with_coupons", code=shown(code), service="VCT", count=3
    )
    return code, coupons_of(client, code)


# ---------------------------------------------------------------- a chain of three waves


def test_a_chain_grows_wave_by_wave_up_to_max_waves_and_no_further(world):
    settings = world.app.state.settings
    code, wave_1 = client_with_coupons(world)
    assert [c.wave for c in wave_1] == [1, 1, 1]
    worker_id = code.worker_id
    for coupon in wave_1:
        assert (coupon.worker_id, coupon.channel, coupon.client_phone) == (worker_id, Channel.coupon, None)
        assert coupon.expires_at == code.expires_at  # the service's expiry, issued the same day
        assert coupon.state == CodeState.issued and coupon.clinic_id is None
    # each coupon is its own SMS to the client, discreet, written to be forwarded as it is
    texts = coupon_texts(world, CLIENT, wave_1)
    assert texts == [forwarded(c, settings) for c in wave_1]
    for text in texts:
        assert_discreet(text)

    # a peer texts the coupon they were given: their phone becomes its client phone
    until = code_text.valid_until_text(wave_1[0], settings.tz)
    assert reply(world, PEER, shown(wave_1[0])) == sms_text(
        "codes.status_valid_any", code=shown(wave_1[0]), until=until, service="Tu van suc khoe"
    )
    assert fresh(world, wave_1[0]).client_phone == PEER
    redeem(world, wave_1[0])
    wave_2 = coupons_of(world, wave_1[0])
    assert [c.wave for c in wave_2] == [2, 2, 2] and {c.worker_id for c in wave_2} == {worker_id}
    assert coupon_texts(world, PEER, wave_2) == [forwarded(c, settings) for c in wave_2]

    # wave 3: the peer's peer, by a bare code, then MA
    sms(world, PEER_2, f"MA {shown(wave_2[1])}")
    redeem(world, wave_2[1])
    wave_3 = coupons_of(world, wave_2[1])
    assert [c.wave for c in wave_3] == [3, 3, 3]
    assert len(coupon_texts(world, PEER_2, wave_3)) == 3

    # a wave-3 coupon redeemed: max_waves 3, so no wave 4
    sms(world, PEER_3, shown(wave_3[2]))
    assert redeem(world, wave_3[2]) == sms_text("codes.redeemed", code=shown(wave_3[2]), service="VCT")
    assert coupons_of(world, wave_3[2]) == []
    assert count_in(world, ReferralCode) == 1 + 3 + 3 + 3
    assert count_in(world, Redemption) == 4


def test_the_worker_is_told_of_their_own_code_not_of_each_coupon(world):
    _, wave_1 = client_with_coupons(world)
    sms(world, PEER, shown(wave_1[0]))
    redeem(world, wave_1[0])
    assert len(notifications_to(world, DEMO_WORKER_PHONE)) == 1


def test_the_wave_limit_stops_the_chain(world):
    set_service(world, max_waves=1)
    _, wave_1 = client_with_coupons(world)
    sms(world, PEER, shown(wave_1[0]))
    assert redeem(world, wave_1[0]) == sms_text("codes.redeemed", code=shown(wave_1[0]), service="VCT")
    assert coupons_of(world, wave_1[0]) == []
    assert coupon_texts(world, PEER, coupons_of(world, wave_1[0])) == []


def test_a_service_without_peer_coupons_gives_none(world):
    set_service(world, peer_coupons=0)
    code = issue_by_sms(world)
    assert redeem(world, code) == sms_text("codes.redeemed", code=shown(code), service="VCT")
    assert coupons_of(world, code) == []


def test_a_code_without_coupons_to_give_keeps_no_phone_of_who_checks_it(world):
    set_service(world, peer_coupons=0)
    code = issue_by_sms(world, "REF VCT")  # no client phone
    redeem(world, code)
    assert reply(world, PEER, shown(code)) == sms_text("codes.already_redeemed", code=shown(code))
    assert fresh(world, code).client_phone is None  # told it is used, and not made its client
    with session_of(world) as s:
        assert s.exec(select(AuditLog).where(AuditLog.action == "code.client_phone")).all() == []


# ---------------------------------------------------------------- the referrer's notice


def test_the_referrer_is_told_a_friend_came_without_the_peers_number_or_code(world):
    _, wave_1 = client_with_coupons(world)
    before = len(notifications_to(world, CLIENT))
    sms(world, PEER, f"MA {shown(wave_1[1])}")
    redeem(world, wave_1[1])
    [notice] = notifications_to(world, CLIENT)[before:]
    assert notice.text == sms_text("coupons.friend_came", used=1, given=3)
    assert "912000001" not in notice.text and PEER not in notice.text
    assert shown(wave_1[1]) not in notice.text and wave_1[1].code not in notice.text
    assert_discreet(notice.text)


def test_an_opted_out_referrer_is_not_told(world):
    _, wave_1 = client_with_coupons(world)
    sms(world, CLIENT, "STOP")
    before = len(notifications_to(world, CLIENT))
    redeem(world, wave_1[0])
    [notice] = notifications_to(world, CLIENT)[before:]
    assert notice.status == "skipped" and notice.error == "opted_out"


# ---------------------------------------------------------------- opted out, unknown phones


def test_an_opted_out_client_gets_no_coupons_then_or_later(world):
    sms(world, CLIENT, "STOP")
    code = issue_by_sms(world)
    assert redeem(world, code) == sms_text("codes.redeemed", code=shown(code), service="VCT")
    assert coupons_of(world, code) == []
    sms(world, CLIENT, "START")
    sms(world, CLIENT, f"MA {shown(code)}")
    redeem(world, code)  # already used
    assert coupons_of(world, code) == [] and count_in(world, ReferralCode) == 1


def test_a_phone_known_after_the_redemption_gets_the_coupons_once(world):
    code = issue_by_sms(world, "REF VCT")  # no client phone
    assert redeem(world, code) == sms_text("codes.redeemed", code=shown(code), service="VCT")
    assert coupons_of(world, code) == []
    assert reply(world, CLIENT, f"MA {shown(code)}") == sms_text("coupons.thanks_sent", code=shown(code))
    coupons = coupons_of(world, code)
    assert len(coupons) == 3 and len(coupon_texts(world, CLIENT, coupons)) == 3
    assert fresh(world, code).client_phone == CLIENT
    # again, or from another phone: the code is used, nothing more is issued, the phone stays
    assert reply(world, CLIENT, shown(code)) == sms_text("codes.already_redeemed", code=shown(code))
    assert reply(world, PEER, shown(code)) == sms_text("codes.already_redeemed", code=shown(code))
    assert count_in(world, ReferralCode) == 4 and fresh(world, code).client_phone == CLIENT
    with session_of(world) as s:
        recorded = s.exec(select(AuditLog).where(AuditLog.action == "code.client_phone")).all()
    assert [a.detail["phone"] for a in recorded] == ["+8491****678"]


def test_a_redelivered_sms_issues_nothing_twice(world):
    code = issue_by_sms(world, "REF VCT")
    redeem(world, code)
    send(world, f"MA {shown(code)}", id="ATXid_coupon_1")
    send(world, f"MA {shown(code)}", id="ATXid_coupon_1")
    assert len(coupons_of(world, code)) == 3


def test_the_recruiter_checking_a_coupon_does_not_become_its_client(world):
    _, wave_1 = client_with_coupons(world)
    sms(world, CLIENT, f"MA {shown(wave_1[0])}")
    assert fresh(world, wave_1[0]).client_phone is None


def test_staff_checking_a_code_never_become_its_client(world):
    code = issue_by_sms(world, "REF VCT")
    sms(world, DEMO_WORKER_PHONE, f"MA {shown(code)}")
    sms(world, DEMO_CLINIC_PHONE, f"MA {shown(code)}")
    assert fresh(world, code).client_phone is None


# ---------------------------------------------------------------- RED with a phone


def test_red_with_a_phone_records_it_and_sends_the_coupons(world):
    code = issue_by_sms(world, "REF VCT")
    answer = redeem(world, code, "0912 345 678")
    assert answer == sms_text("coupons.redeemed_with_coupons", code=shown(code), service="VCT", count=3)
    assert fresh(world, code).client_phone == CLIENT
    assert len(coupon_texts(world, CLIENT, coupons_of(world, code))) == 3


def test_red_with_a_phone_never_overwrites_the_known_one(world):
    code = issue_by_sms(world)  # for CLIENT
    redeem(world, code, PEER)
    assert fresh(world, code).client_phone == CLIENT
    assert coupon_texts(world, PEER, coupons_of(world, code)) == []
    assert len(coupon_texts(world, CLIENT, coupons_of(world, code))) == 3


def test_red_with_a_malformed_phone_confirms_nothing(world):
    code = issue_by_sms(world, "REF VCT")
    before = snapshot(world)
    for typed in ("12345", "0912 345", "hello", "0243 123 4567"):  # the last: a landline
        assert redeem(world, code, typed) == sms_text("coupons.red_bad_phone"), typed
    assert snapshot(world) == before and fresh(world, code).client_phone is None


_CODES = st.text("0123456789", min_size=7, max_size=7).map(with_check)
_PHONES = st.sampled_from(["0912345678", "+84912345678", "84912345678", "0912 345 678", "+84 91 234 5678"])


def _typed_code(draw, digits: str) -> str:
    cut = draw(st.integers(0, 8))
    separator = draw(st.sampled_from(["", " ", "-", ".", " - "]))
    prefix = draw(st.sampled_from(["", "MA ", "ma ", "CODE ", "Mã "]))
    return prefix + digits[:cut] + separator + digits[cut:]


@hypothesis_settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), _CODES, _PHONES, st.sampled_from([" ", "  ", ", ", " ; "]))
def test_red_arguments_split_into_the_code_and_the_phone(data, digits, phone, gap):
    typed = _typed_code(data.draw, digits)
    code_part, phone_part = split_code_and_phone(typed + gap + phone)
    assert code_text.parse_code(code_part) == digits
    assert normalize_phone(phone_part) == CLIENT


@hypothesis_settings(max_examples=200)
@given(st.data(), _CODES)
def test_red_arguments_without_a_phone_are_the_code_alone(data, digits):
    typed = _typed_code(data.draw, digits)
    code_part, phone_part = split_code_and_phone(typed)
    assert phone_part is None and code_text.parse_code(code_part) == digits


@hypothesis_settings(max_examples=300)
@given(st.text(max_size=60))
def test_splitting_red_arguments_loses_no_word(text):
    code_part, phone_part = split_code_and_phone(text)
    words = [w for w in text.replace(",", " ").replace(";", " ").split() if w]
    assert (code_part + " " + (phone_part or "")).split() == words


# ---------------------------------------------------------------- bad input: the replies of any code


def test_a_coupon_at_a_clinic_without_its_service_gets_the_not_offered_reply(world):
    with session_of(world) as s:
        s.add(ClinicStaff(clinic_id=clinic_named(s, "Phong kham Long Bien").id, phone=FAR_DESK))
        s.commit()
    _, wave_1 = client_with_coupons(world)
    before = snapshot(world)
    expected = sms_text(
        "codes.not_offered", clinic="Phong kham Long Bien", service="VCT", code=shown(wave_1[0])
    )
    assert redeem(world, wave_1[0], desk=FAR_DESK) == expected
    assert snapshot(world) == before


def test_a_voided_coupon_and_a_voided_parent_get_the_voided_reply(world):
    # a code voided before it was redeemed never gives coupons
    parent = issue_by_sms(world)
    reply(world, DEMO_WORKER_PHONE, f"VOID {shown(parent)}")
    assert redeem(world, parent) == sms_text("codes.voided", code=shown(parent))
    assert coupons_of(world, parent) == []
    # a coupon gone astray is voided by the chain's worker (or staff): the voided reply everywhere
    _, wave_1 = client_with_coupons(world)
    assert reply(world, DEMO_WORKER_PHONE, f"VOID {shown(wave_1[0])}") == sms_text(
        "codes.voided_done", code=shown(wave_1[0])
    )
    before = snapshot(world)
    assert redeem(world, wave_1[0]) == sms_text("codes.voided", code=shown(wave_1[0]))
    assert reply(world, PEER, shown(wave_1[0])) == sms_text("codes.voided", code=shown(wave_1[0]))
    assert snapshot(world) == before and fresh(world, wave_1[0]).client_phone is None


def test_a_coupon_with_one_wrong_digit_gets_the_mistyped_reply(world):
    _, wave_1 = client_with_coupons(world)
    digits = wave_1[0].code
    wrong = digits[:3] + str((int(digits[3]) + 1) % 10) + digits[4:]
    before = snapshot(world)
    assert reply(world, DEMO_CLINIC_PHONE, f"XN {wrong}") == sms_text("codes.mistyped")
    assert reply(world, PEER, code_text.format_code(wrong)) == sms_text("codes.mistyped")
    assert reply(world, DEMO_CLINIC_PHONE, f"XN {code_text.format_code(wrong)} {CLIENT_LOCAL}") == sms_text(
        "codes.mistyped"
    )
    assert snapshot(world) == before


def test_an_expired_coupon_is_refused_and_gives_nothing(world):
    _, wave_1 = client_with_coupons(world)
    sms(world, PEER, shown(wave_1[0]))
    clock.freeze(wave_1[0].expires_at + timedelta(seconds=1))
    before = snapshot(world)
    assert redeem(world, wave_1[0]) == sms_text("codes.expired", code=shown(wave_1[0]))
    assert reply(world, PEER_2, shown(wave_1[1])) == sms_text("codes.expired", code=shown(wave_1[1]))
    assert snapshot(world) == before
    assert fresh(world, wave_1[1]).client_phone is None


def test_a_second_red_of_a_coupon_is_already_used_and_issues_nothing(world):
    _, wave_1 = client_with_coupons(world)
    sms(world, PEER, shown(wave_1[0]))
    redeem(world, wave_1[0])
    assert redeem(world, wave_1[0]) == sms_text("codes.already_redeemed", code=shown(wave_1[0]))
    assert len(coupons_of(world, wave_1[0])) == 3 and count_in(world, Redemption) == 2


# ---------------------------------------------------------------- STATS


def test_stats_show_the_workers_chains_in_one_segment(world):
    from app.messages import count_segments

    code, wave_1 = client_with_coupons(world)
    sms(world, PEER, shown(wave_1[0]))
    redeem(world, wave_1[0])
    answer = reply(world, DEMO_WORKER_PHONE, "TK")
    month = clock.now().astimezone(world.app.state.settings.tz).strftime("%m/%Y")
    assert answer == sms_text(
        "coupons.stats", month=month, issued=1, redeemed=1, people=0, condoms=0, given=6, returned=1, peers=1
    )
    assert count_segments(answer).segments == 1
    assert last_code(world).wave == 2
