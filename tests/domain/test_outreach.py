"""Outreach figures (`app.domain.outreach`): REACH reports (the day's
reports add up) and a worker's month."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app import clock
from app.domain import outreach
from app.models import CodeState, OutreachReport
from tests.factories import audits, count_rows, demo_worker, issue_code, redeem_at


def test_reach_twice_a_day_adds_up_and_stats_count_this_month(demo, settings, now):
    w = demo_worker(demo)
    outreach.record_outreach(demo, w, 10, 20, date(2026, 11, 23))
    day = outreach.record_outreach(demo, w, 12, 30, date(2026, 11, 23))
    assert (day.people_reached, day.condoms) == (22, 50)
    outreach.record_outreach(demo, w, 5, 0, date(2026, 11, 2))
    outreach.record_outreach(demo, w, 99, 99, date(2026, 10, 31))
    assert count_rows(demo, OutreachReport) == 3
    [first, second] = audits(demo, "outreach.report")[:2]
    assert (second.detail["people"], second.detail["total_people"]) == (12, 22)
    a, b = issue_code(demo, settings), issue_code(demo, settings, "MMT")
    redeem_at(demo, settings, a.code)
    clock.freeze(datetime(2026, 10, 31, 16, 0, tzinfo=UTC))  # 31/10 23:00 local: last month
    issue_code(demo, settings, "PREP")
    stats = outreach.worker_month_stats(demo, w, date(2026, 11, 23), tz=settings.tz)
    assert (stats.month, stats.issued, stats.redeemed, stats.people_reached, stats.condoms) == (
        "11/2026",
        2,
        1,
        27,
        50,
    )
    assert b.state == CodeState.issued


@pytest.mark.parametrize(
    "people, condoms",
    [
        (-1, 0),
        (0, -1),
        (outreach.MAX_REACH_PEOPLE + 1, 0),
        (0, outreach.MAX_REACH_CONDOMS + 1),
        (True, 0),
        (1.5, 0),
        (10**5000, 0),
    ],
    ids=["negative people", "negative condoms", "people", "condoms", "bool", "float", "5000 digits"],
)
def test_counts_out_of_range_are_refused_and_record_nothing(demo, now, people, condoms):
    with pytest.raises(outreach.InvalidCount) as refused:
        outreach.record_outreach(demo, demo_worker(demo), people, condoms, date(2026, 11, 23))
    assert refused.value.values == {
        "people": outreach.MAX_REACH_PEOPLE,
        "condoms": outreach.MAX_REACH_CONDOMS,
    }
    assert count_rows(demo, OutreachReport) == 0


def test_the_maxima_are_accepted(demo, now):
    w = demo_worker(demo)
    report = outreach.record_outreach(
        demo, w, outreach.MAX_REACH_PEOPLE, outreach.MAX_REACH_CONDOMS, date(2026, 11, 23)
    )
    assert (report.people_reached, report.condoms) == (outreach.MAX_REACH_PEOPLE, outreach.MAX_REACH_CONDOMS)
