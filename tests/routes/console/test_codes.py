"""`/console/codes`: a worker issues a code by SMS, a clinic user finds it
as typed and confirms the client came (the same redemption as SMS, USSD
and the API, channel `web`): the worker is told by SMS, a second confirm
is refused. Admins and viewers cannot confirm; a form without its token is
403; wrong codes are refused on the page, audited with the user as actor
and throttled after the limit; phones are whole for admins only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app import clock
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import codes
from app.domain.code_text import format_code
from app.messages import render
from app.models import AuditLog, Clinic, CodeState, Redemption, ReferralCode
from tests.factories import (
    CLIENT,
    CLIENT_LOCAL,
    clinic_named,
    code_state,
    count_in,
    last_code,
    notifications_to,
    session_of,
    sms,
    unknown_code,
    with_check,
)
from tests.routes.console.conftest import form_token

HIM_LAM = "Phòng khám Him Lam"
MASKED = "+8491****678"


def _issue(client) -> ReferralCode:
    """The demo worker refers the client for VCT by SMS: the code issued."""
    sms(client, DEMO_WORKER_PHONE, f"REF VCT {CLIENT_LOCAL}")
    return last_code(client)


def _spaced(code: ReferralCode) -> str:
    """The code as a desk types it: `4821 5093`."""
    return f"{code.code[:4]} {code.code[4:]}"


def _confirm(client, code: ReferralCode, *, token: bool = True):
    page = client.get("/console/").text
    data = {"csrf": form_token(page)} if token else {}
    return client.post(f"/console/codes/{code.code}/redeem", data=data, follow_redirects=False)


def _attempts(client, email: str) -> list[tuple[str, str]]:
    """(action, outcome) of the user's code attempts, read from a new session: committed."""
    with session_of(client) as s:
        rows = s.exec(select(AuditLog).where(AuditLog.actor == f"user:{email}").order_by(AuditLog.id))
        return [(a.action, a.detail["outcome"]) for a in rows if a.action.startswith("code.")]


def test_a_clinic_user_finds_a_code_issued_by_sms_and_confirms_the_client_came(staff):
    desk = staff("clinic", clinic="Phong kham Him Lam", email="desk@example.org")
    code = _issue(desk)
    shown = format_code(code.code)
    assert notifications_to(desk, DEMO_WORKER_PHONE) == []

    found = desk.get("/console/codes", params={"code": _spaced(code)})
    assert found.status_code == 200, found.text
    page = found.text
    assert shown in page and render("console_codes.state_issued", "vi") in page
    assert "Demo outreach worker" in page and "VCT" in page
    assert "<td data-issued>23/11/2026 14:00</td>" in page  # 07:00 UTC, in Hanoi
    assert "<td data-valid-until>23/12/2026</td>" in page
    assert MASKED in page and CLIENT not in page
    assert (
        render("console_codes.confirm", "vi") in page
        and f'action="/console/codes/{code.code}/redeem"' in page
    )
    assert '<label for="code">' in page

    r = _confirm(desk, code)
    assert r.status_code == 303
    after = desk.get(r.headers["location"]).text
    assert render("console_codes.confirmed", "vi") in after
    assert render("console_codes.state_redeemed", "vi") in after
    assert f"<td data-where>{HIM_LAM}</td>" in after and "<td data-channel>web</td>" in after
    assert "<td data-when>23/11/2026 14:00</td>" in after

    assert code_state(desk, code) == CodeState.redeemed
    with session_of(desk) as s:
        redemption = s.exec(select(Redemption)).one()
        assert redemption.clinic_id == clinic_named(s).id
    assert redemption.channel == "web" and redemption.actor == "user:desk@example.org"
    [told] = notifications_to(desk, DEMO_WORKER_PHONE)
    assert (
        shown in told.text and "Phong kham Him Lam" in told.text and "912" not in told.text.replace(shown, "")
    )
    assert _attempts(desk, "desk@example.org") == [
        ("code.attempt", "looked_up"),
        ("code.redeem", "redeemed"),
        ("code.attempt", "looked_up"),
    ]


def test_a_second_confirm_is_already_used_and_nothing_is_redeemed_twice(staff):
    desk = staff("clinic", clinic="Phong kham Him Lam")
    code = _issue(desk)
    assert _confirm(desk, code).status_code == 303
    again = _confirm(desk, code)
    assert again.status_code == 409
    assert render("codes.already_redeemed", "vi", code=format_code(code.code)) in again.text
    assert count_in(desk, Redemption) == 1
    assert len(notifications_to(desk, DEMO_WORKER_PHONE)) == 1
    # once used, the page says so instead of offering the button
    page = desk.get("/console/codes", params={"code": code.code}).text
    assert render("console_codes.confirm", "vi") not in page


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_admins_and_viewers_see_a_code_but_cannot_confirm_it(staff, role):
    user = staff(role)
    code = _issue(user)
    page = user.get("/console/codes", params={"code": format_code(code.code)}).text
    assert render("console_codes.state_issued", "vi") in page
    assert render("console_codes.confirm", "vi") not in page
    r = _confirm(user, code)
    assert r.status_code == 403 and render("console_codes.clinic_only", "vi") in r.text
    assert count_in(user, Redemption) == 0 and code_state(user, code) == CodeState.issued


def test_a_forged_confirm_without_its_token_is_refused(staff):
    desk = staff("clinic", clinic="Phong kham Him Lam")
    code = _issue(desk)
    r = _confirm(desk, code, token=False)
    assert r.status_code == 403 and render("console.form_expired", "vi") in r.text
    assert count_in(desk, Redemption) == 0 and notifications_to(desk, DEMO_WORKER_PHONE) == []


def test_signed_out_look_ups_and_confirms_go_to_the_sign_in(client, demo):
    assert client.get("/console/codes", follow_redirects=False).headers["location"] == "/console/login"
    r = client.post(f"/console/codes/{with_check('1234567')}/redeem", follow_redirects=False)
    assert r.headers["location"] == "/console/login"


def test_an_admin_sees_the_whole_phone_a_viewer_a_masked_one(staff):
    admin = staff("admin")
    code = _issue(admin)
    page = admin.get("/console/codes", params={"code": code.code}).text
    assert f"<td data-phone>{CLIENT}</td>" in page
    viewer = staff("viewer")  # the same browser, signed in again as a viewer
    page = viewer.get("/console/codes", params={"code": code.code}).text
    assert f"<td data-phone>{MASKED}</td>" in page and CLIENT not in page


@pytest.mark.parametrize(
    ("typed", "key", "status"),
    [
        (unknown_code(), "codes.unknown", 404),
        ("4821-5094", "codes.mistyped", 422),  # a wrong check digit
        ("12", "codes.malformed", 422),
        ("ABCD-EFGH", "codes.malformed", 422),
    ],
)
def test_a_wrong_code_is_refused_on_the_page_and_audited(staff, typed, key, status):
    desk = staff("clinic", clinic="Phong kham Him Lam", email="desk@example.org")
    r = desk.get("/console/codes", params={"code": typed})
    assert r.status_code == status
    values = {"code": unknown_code()} if key == "codes.unknown" else {}
    assert render(key, "vi", **values) in r.text and 'role="alert"' in r.text
    assert f'value="{typed}"' in r.text  # the form keeps what was typed
    outcome = "unknown" if key == "codes.unknown" else "malformed"
    assert _attempts(desk, "desk@example.org") == [("code.attempt", outcome)]


def test_a_user_guessing_codes_is_throttled_even_for_a_real_code(staff):
    desk = staff("clinic", clinic="Phong kham Him Lam", email="desk@example.org")
    code = _issue(desk)
    limit = desk.app.state.settings.wrong_code_limit_per_hour
    for _ in range(limit):
        assert desk.get("/console/codes", params={"code": unknown_code()}).status_code == 404
    throttled = desk.get("/console/codes", params={"code": code.code})
    assert throttled.status_code == 429 and render("codes.throttled", "vi") in throttled.text
    confirm = _confirm(desk, code)
    assert confirm.status_code == 429 and render("codes.throttled", "vi") in confirm.text
    assert count_in(desk, Redemption) == 0 and code_state(desk, code) == CodeState.issued
    outcomes = [o for _, o in _attempts(desk, "desk@example.org")]
    assert outcomes.count("unknown") == limit and outcomes[-2:] == ["throttled", "throttled"]
    # another user is not throttled by this one's guesses
    other = staff("clinic", clinic="Phong kham Him Lam")
    assert other.get("/console/codes", params={"code": code.code}).status_code == 200


def test_a_code_the_clinic_does_not_offer_is_refused_and_nothing_changes(staff):
    desk = staff("clinic", clinic="Phong kham Long Bien")  # MMT and STI, no VCT
    code = _issue(desk)
    page = desk.get("/console/codes", params={"code": code.code}).text
    says = render("codes.not_offered", "vi", clinic="Phòng khám Long Biên", service="VCT")
    assert says in page and render("console_codes.confirm", "vi") not in page
    r = _confirm(desk, code)  # a confirm sent all the same
    assert r.status_code == 409 and says in r.text
    assert count_in(desk, Redemption) == 0 and code_state(desk, code) == CodeState.issued


def test_a_voided_code_is_refused(staff, demo):
    desk = staff("clinic", clinic="Phong kham Him Lam")
    code = _issue(desk)
    codes.void_code(demo, code.code, worker=None, actor="test")
    demo.commit()
    says = render("codes.voided", "vi", code=format_code(code.code))
    assert says in desk.get("/console/codes", params={"code": code.code}).text
    r = _confirm(desk, code)
    assert r.status_code == 409 and says in r.text and count_in(desk, Redemption) == 0


def test_an_expired_code_is_refused_even_before_it_is_marked(staff):
    code = _issue(staff("admin"))
    clock.freeze(code.expires_at + timedelta(seconds=1))
    desk = staff("clinic", clinic="Phong kham Him Lam")  # signed in after the expiry
    says = render("codes.expired", "vi", code=format_code(code.code))
    page = desk.get("/console/codes", params={"code": code.code}).text
    assert says in page and render("console_codes.state_expired", "vi") in page
    r = _confirm(desk, code)
    assert r.status_code == 409 and says in r.text and count_in(desk, Redemption) == 0


def test_a_clinic_user_of_an_inactive_clinic_cannot_confirm(staff, demo):
    desk = staff("clinic", clinic="Phong kham Him Lam")
    code = _issue(desk)
    clinic = demo.get(Clinic, clinic_named(demo).id)
    clinic.active = False
    demo.commit()
    r = _confirm(desk, code)
    assert r.status_code == 409 and render("codes.clinic_inactive", "vi", clinic=HIM_LAM) in r.text
    assert count_in(desk, Redemption) == 0


def test_another_clinic_sees_that_a_code_was_used_but_not_where_or_when(staff):
    desk = staff("clinic", clinic="Phong kham Him Lam")
    code = _issue(desk)
    assert _confirm(desk, code).status_code == 303
    other = staff("clinic", clinic="Phong kham Muong Thanh")
    page = other.get("/console/codes", params={"code": code.code}).text
    assert render("console_codes.state_redeemed", "vi") in page
    assert "data-where" not in page and "data-when" not in page
    assert render("codes.already_redeemed", "vi", code=format_code(code.code)) in page
    viewer = staff("viewer")
    assert f"<td data-where>{HIM_LAM}</td>" in viewer.get("/console/codes", params={"code": code.code}).text


def test_the_page_speaks_english_on_request(staff):
    desk = staff("clinic", clinic="Phong kham Him Lam")
    code = _issue(desk)
    page = desk.get("/console/codes", params={"code": code.code, "lang": "en"}).text
    assert (
        render("console_codes.confirm", "en") in page and render("console_codes.state_issued", "en") in page
    )
    wrong = desk.get("/console/codes", params={"code": "4821-5094", "lang": "en"}).text
    assert render("codes.mistyped", "en") in wrong
    visits = desk.get("/console/redemptions", params={"lang": "en"}).text
    assert render("console_codes.no_visits", "en") in visits


def test_a_peer_coupon_is_confirmed_with_the_phone_of_who_brought_it_who_then_gets_coupons(staff):
    client = staff("clinic", clinic=HIM_LAM)
    code = _issue(client)
    sms(client, DEMO_CLINIC_PHONE, f"XN {format_code(code.code)}")  # the client came: three coupons
    with session_of(client) as s:
        coupon = s.exec(select(ReferralCode).where(ReferralCode.parent_code_id == code.id)).first()
    page = client.get("/console/codes", params={"code": coupon.code}).text
    assert 'data-wave="1"' in page and '<label for="client_phone">' in page
    token = form_token(page)
    bad = client.post(
        f"/console/codes/{coupon.code}/redeem", data={"csrf": token, "client_phone": "024 3823 4567"}
    )
    assert (
        bad.status_code == 422 and code_state(client, coupon) == CodeState.issued
    )  # a landline: not redeemed
    done = client.post(
        f"/console/codes/{coupon.code}/redeem",
        data={"csrf": token, "client_phone": "0912 000 111"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and code_state(client, coupon) == CodeState.redeemed
    with session_of(client) as s:
        assert s.get(ReferralCode, coupon.id).client_phone == "+84912000111"
        theirs = s.exec(select(ReferralCode).where(ReferralCode.parent_code_id == coupon.id)).all()
    assert len(theirs) == 3 and {c.wave for c in theirs} == {2}
    assert len(notifications_to(client, "+84912000111")) == 3


def test_after_confirming_the_desk_reads_only_that_it_worked(staff):
    client = staff("clinic", clinic=HIM_LAM)
    code = _issue(client)
    done = client.get(_confirm(client, code).headers["location"])
    assert render("console_codes.confirmed", "vi") in done.text
    assert 'id="why-not"' not in done.text  # no "already used" beside the success
