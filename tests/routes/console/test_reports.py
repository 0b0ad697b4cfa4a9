"""`/console/reports`: the month's report as tables, with the figures of a
code issued and used that month through the SMS webhook; the downloads are
the API's own bytes (monthly CSV, codes and redemptions CSV, DHIS2 payload),
served with the session cookie; a malformed month is a message on the page
(422); signed out, a download leads to the sign-in; the roles are the API's."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from sqlmodel import select

from app.demo import DEMO_CLINIC_PHONE
from app.domain import dhis2
from app.domain.code_text import format_code
from app.messages import render
from app.models import Clinic, ClinicStaff
from tests.dhis2_support import EXAMPLE_MAPPING
from tests.factories import (
    API,
    CLIENT_LOCAL,
    clinic_named,
    issue_by_sms,
    make_keys,
    session_of,
    sms,
    without_coupons,
)

MONTH = "2026-11"  # the month of the frozen clock (23/11/2026)
DOWNLOADS = (
    f"/console/reports/monthly.csv?month={MONTH}",
    f"/console/reports/codes.csv?month={MONTH}",
    f"/console/reports/redemptions.csv?month={MONTH}",
    "/console/reports/dhis2.json?period=202611",
)


def _figures(page: str, row: str) -> dict[str, str]:
    """The cells of the report row `data-row="<row>"` (the first one), by indicator."""
    html = re.search(rf'<tr data-row="{row}">.*?</tr>', page, re.S).group(0)
    return dict(re.findall(r'data-indicator="(\w+)">([^<]*)<', html))


def _issued_and_used(client):
    """A code issued by the demo worker and used at the demo desk's clinic, by
    SMS (the demo's peer coupons off: one code, one person)."""
    with session_of(client) as session:
        without_coupons(session)
    code = issue_by_sms(client, f"GT VCT {CLIENT_LOCAL}")
    sms(client, DEMO_CLINIC_PHONE, f"XN {format_code(code.code)}")
    return code


def _desk_clinic(session) -> Clinic:
    staff = session.exec(select(ClinicStaff).where(ClinicStaff.phone == DEMO_CLINIC_PHONE)).one()
    return session.get(Clinic, staff.clinic_id)


def test_the_months_report_shows_a_code_issued_and_used_that_month(staff, demo):
    client = staff("viewer")
    _issued_and_used(client)
    page = client.get(f"/console/reports?month={MONTH}")
    assert page.status_code == 200
    total = _figures(page.text, "total")
    for name in ("people_referred", "codes_issued", "referred_to_vct", "went_to_vct", "redeemed"):
        assert total[name] == "1", name
    assert total["people_reached"] == total["referred_to_mmt"] == "0"
    assert total["redemption_rate"] == "100,0 %" and total["median_days_to_redeem"] == "0"
    site = _figures(page.text, "site")
    assert site["codes_issued"] == site["redeemed"] == "1"
    clinic = _desk_clinic(demo)
    assert f"{clinic.district} · {clinic.name}</th>" in page.text
    assert '<label for="month">' in page.text and 'value="2026-11"' in page.text
    assert (
        render("console_logs.report_for", "vi", month="11/2026", date_from="01/11/2026", date_to="30/11/2026")
        in page.text
    )
    for url in DOWNLOADS[:3]:
        assert f'href="{url}"' in page.text.replace("&amp;", "&")


def test_by_default_the_last_full_month_with_a_link_to_this_one(staff):
    client = staff("admin")
    _issued_and_used(client)
    page = client.get("/console/reports").text
    assert 'value="2026-10"' in page and _figures(page, "total")["codes_issued"] == "0"
    assert 'href="/console/reports?month=2026-11"' in page
    assert 'href="/console/reports?month=2026-09"' in page  # the month before


def test_the_csv_downloads_are_the_apis_bytes(staff, demo):
    keys = make_keys(demo)
    client = staff("viewer")
    _issued_and_used(client)
    pairs = [
        (f"/console/reports/monthly.csv?month={MONTH}", f"{API}/reports/monthly.csv?month={MONTH}"),
        (
            f"/console/reports/codes.csv?month={MONTH}",
            f"{API}/export/codes.csv?issued_from=2026-11-01&issued_to=2026-11-30",
        ),
        (
            f"/console/reports/redemptions.csv?month={MONTH}",
            f"{API}/export/redemptions.csv?from=2026-11-01&to=2026-11-30",
        ),
    ]
    for console_url, api_url in pairs:
        mine, theirs = client.get(console_url), client.get(api_url, headers=keys.viewer)
        assert mine.status_code == theirs.status_code == 200, (console_url, mine.text)
        assert mine.headers["content-type"].startswith("text/csv")
        assert mine.content == theirs.content, console_url
        assert len(mine.content.decode("utf-8-sig").splitlines()) >= 2  # header and rows
    assert "+8491****678" in client.get(pairs[1][0]).text  # a viewer's phones masked, as the API's


def test_a_clinic_user_is_refused_the_report_but_gets_its_own_clinics_visits(staff, demo):
    keys = make_keys(demo)
    client = staff("clinic", clinic=clinic_named(demo).display_name)
    assert clinic_named(demo).id == keys.clinic_id
    _issued_and_used(client)
    for url in ("/console/reports", *DOWNLOADS[:2], DOWNLOADS[3]):
        r = client.get(url)
        assert r.status_code == 403, url
        assert str(escape(render("console.not_yours", "vi"))) in r.text
    mine = client.get(DOWNLOADS[2])
    theirs = client.get(f"{API}/export/redemptions.csv?from=2026-11-01&to=2026-11-30", headers=keys.clinic)
    assert mine.status_code == 200 and mine.content == theirs.content
    assert len(mine.content.decode("utf-8-sig").splitlines()) == 2


def test_dhis2_answers_like_the_api_when_off_and_when_on(staff, demo):
    keys = make_keys(demo)
    client = staff("admin")
    _issued_and_used(client)
    api = f"{API}/export/dhis2?period=202611"
    off, api_off = client.get(DOWNLOADS[3]), client.get(api, headers=keys.admin)
    assert off.status_code == api_off.status_code == 404 and off.json() == api_off.json()
    page = client.get(f"/console/reports?month={MONTH}").text
    assert str(escape(render("console_logs.dhis2_off", "vi"))) in page and "dhis2.json" not in page

    client.app.state.dhis2_mapping = dhis2.load_mapping(EXAMPLE_MAPPING)
    on, api_on = client.get(DOWNLOADS[3]), client.get(api, headers=keys.admin)
    assert on.status_code == api_on.status_code == 200
    assert on.content == api_on.content and on.json()["period"] == "202611"
    assert "attachment" in on.headers["content-disposition"]
    assert (
        'href="/console/reports/dhis2.json?period=202611"'
        in client.get(f"/console/reports?month={MONTH}").text
    )
    bad, api_bad = (
        client.get("/console/reports/dhis2.json?period=202613"),
        client.get(f"{API}/export/dhis2?period=202613", headers=keys.admin),
    )
    assert bad.status_code == api_bad.status_code == 422 and bad.json() == api_bad.json()


@pytest.mark.parametrize("month", ["2026-13", "abc", "2027-01", "2026-1"])
@pytest.mark.parametrize(
    "path", ["/console/reports", "/console/reports/monthly.csv", "/console/reports/codes.csv"]
)
def test_a_bad_month_is_a_message_on_the_page(staff, month, path):
    client = staff("viewer")
    r = client.get(path, params={"month": month})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")
    assert str(escape(render("console_logs.bad_month", "vi", month=month))) in r.text
    assert 'role="alert"' in r.text and "<nav" in r.text


def test_signed_out_a_download_leads_to_the_sign_in(client):
    for url in ("/console/reports", *DOWNLOADS):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login", url


def test_the_coupons_download_is_the_apis_and_counts_the_coupons_given(staff, demo):
    keys = make_keys(demo)
    client = staff("viewer")
    code = issue_by_sms(client, f"GT VCT {CLIENT_LOCAL}")
    sms(client, DEMO_CLINIC_PHONE, f"XN {format_code(code.code)}")  # the demo's VCT: three coupons
    page = client.get(f"/console/reports?month={MONTH}").text
    assert f'href="/console/reports/coupons.csv?month={MONTH}"' in page
    mine = client.get(f"/console/reports/coupons.csv?month={MONTH}")
    theirs = client.get(f"{API}/export/coupons.csv?from=2026-11-01&to=2026-11-30", headers=keys.viewer)
    assert mine.status_code == 200 and mine.content == theirs.content
    [header, row] = mine.content.decode("utf-8-sig").splitlines()
    assert "coupons_given" in header and "+8491****678" in row and ",3,0" in row
