"""`/console/redemptions`: who came where, newest first, with the code,
service, clinic, worker, local date and time, channel and the client's
phone (whole for admins only); `?clinic=ID` shows one clinic's, and a
clinic user sees its own clinic's only."""

from __future__ import annotations

import re
from datetime import timedelta

from app import clock
from app.demo import DEMO_WORKER_PHONE
from app.domain.code_text import format_code
from app.messages import render
from app.models import ReferralCode
from tests.factories import (
    CLIENT,
    CLIENT_LOCAL,
    NOW,
    clinic_named,
    last_code,
    redeem_at,
    session_of,
    sms,
)
from tests.routes.console.conftest import form_token

MASKED = "+8491****678"
OTHER_CLIENT = "0912345679"


def _issue(client, phone: str = CLIENT_LOCAL) -> ReferralCode:
    sms(client, DEMO_WORKER_PHONE, f"REF VCT {phone}")
    return last_code(client)


def _confirm(client, code: ReferralCode) -> None:
    token = form_token(client.get("/console/").text)
    r = client.post(f"/console/codes/{code.code}/redeem", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303, r.text


def _rows(page: str) -> list[list[str]]:
    """The cells of the table's rows, tags stripped."""
    body = page.split('<table id="redemptions">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr data-redemption=.*?</tr>", body, re.S)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in rows
    ]


def _redeem_by_sms(client, code: ReferralCode, clinic: str) -> None:
    """`code` confirmed by a desk phone of `clinic`, through the domain (channel sms)."""
    with session_of(client) as s:
        redeem_at(s, client.app.state.settings, code.code, clinic)
        s.commit()


def test_a_code_confirmed_on_the_console_is_listed_with_names_and_local_time(staff):
    desk = staff("clinic", clinic="Phong kham Him Lam")
    code = _issue(desk)
    clock.freeze(NOW + timedelta(hours=3, minutes=5))  # 17:05 in Hanoi
    _confirm(desk, code)
    r = desk.get("/console/redemptions")
    assert r.status_code == 200
    assert _rows(r.text) == [
        [
            "23/11/2026 17:05",
            format_code(code.code),
            "VCT",
            "Phòng khám Him Lam",
            "Demo outreach worker",
            "web",
            MASKED,
        ]
    ]
    assert render("console_codes.latest", "vi", shown=1, total=1) in r.text


def test_newest_first_with_every_channel_and_a_clinic_filter(staff):
    admin = staff("admin")
    first, second = _issue(admin), _issue(admin, OTHER_CLIENT)
    _redeem_by_sms(admin, first, "Phong kham Muong Thanh")
    clock.freeze(NOW + timedelta(minutes=30))
    desk = staff("clinic", clinic="Phong kham Him Lam")
    _confirm(desk, second)
    admin = staff("admin")
    rows = _rows(admin.get("/console/redemptions").text)
    assert [(r[1], r[3], r[5]) for r in rows] == [
        (format_code(second.code), "Phòng khám Him Lam", "web"),
        (format_code(first.code), "Phòng khám Mường Thanh", "sms"),
    ]
    assert [r[0] for r in rows] == ["23/11/2026 14:30", "23/11/2026 14:00"]
    assert rows[1][6] == CLIENT  # an admin sees the whole phone
    with session_of(admin) as s:
        muong_thanh = clinic_named(s, "Phong kham Muong Thanh").id
    page = admin.get("/console/redemptions", params={"clinic": muong_thanh}).text
    assert [r[1] for r in _rows(page)] == [format_code(first.code)]
    assert f'<option value="{muong_thanh}" selected>' in page and '<label for="clinic">' in page


def test_a_clinic_user_sees_only_its_own_clinic_and_another_clinic_is_403(staff):
    admin = staff("admin")
    first, second = _issue(admin), _issue(admin, OTHER_CLIENT)
    _redeem_by_sms(admin, first, "Phong kham Muong Thanh")
    desk = staff("clinic", clinic="Phong kham Him Lam")
    _confirm(desk, second)
    rows = _rows(desk.get("/console/redemptions").text)
    assert [r[1] for r in rows] == [format_code(second.code)]
    with session_of(desk) as s:
        own, other = clinic_named(s).id, clinic_named(s, "Phong kham Muong Thanh").id
    assert desk.get("/console/redemptions", params={"clinic": own}).status_code == 200
    r = desk.get("/console/redemptions", params={"clinic": other})
    assert r.status_code == 403 and render("console.not_yours", "vi") in r.text
    assert format_code(first.code) not in r.text


def test_a_viewer_sees_masked_phones(staff):
    desk = staff("clinic", clinic="Phong kham Him Lam")
    _confirm(desk, _issue(desk))
    viewer = staff("viewer")
    page = viewer.get("/console/redemptions").text
    assert _rows(page)[0][6] == MASKED and CLIENT not in page


def test_a_bad_or_unknown_clinic_gets_a_message(staff):
    admin = staff("admin")
    r = admin.get("/console/redemptions", params={"clinic": "abc"})
    assert r.status_code == 422 and render("console_codes.bad_clinic", "vi") in r.text
    r = admin.get("/console/redemptions", params={"clinic": "999999"})
    assert r.status_code == 404 and render("console_codes.no_clinic", "vi") in r.text


def test_no_visits_yet_and_signed_out(staff, client):
    page = staff("viewer").get("/console/redemptions").text
    assert render("console_codes.no_visits", "vi") in page
    client.cookies.clear()
    r = client.get("/console/redemptions", follow_redirects=False)
    assert r.headers["location"] == "/console/login"
