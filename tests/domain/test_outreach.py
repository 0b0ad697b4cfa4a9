"""Outreach figures (`app.domain.outreach`): REACH reports and a worker's
month."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app import clock
from app.domain import outreach
from app.models import CodeState, OutreachReport
from tests.factories import count_rows, demo_worker, issue_code, redeem_at


def test_reach_twice_a_day_replaces_and_stats_count_this_month(demo, settings, now):
    w = demo_worker(demo)
    outreach.record_outreach(demo, w, 10, 20, date(2026, 11, 23))
    outreach.record_outreach(demo, w, 12, 30, date(2026, 11, 23))
    outreach.record_outreach(demo, w, 5, 0, date(2026, 11, 2))
    outreach.record_outreach(demo, w, 99, 99, date(2026, 10, 31))
    assert count_rows(demo, OutreachReport) == 3
    with pytest.raises(outreach.InvalidCount):
        outreach.record_outreach(demo, w, -1, 0, date(2026, 11, 23))
    a, b = issue_code(demo, settings), issue_code(demo, settings)
    redeem_at(demo, settings, a.code)
    clock.freeze(datetime(2026, 10, 31, 16, 0, tzinfo=UTC))  # 31/10 23:00 local: last month
    issue_code(demo, settings)
    stats = outreach.worker_month_stats(demo, w, date(2026, 11, 23), tz=settings.tz)
    assert (stats.month, stats.issued, stats.redeemed, stats.people_reached, stats.condoms) == (
        "11/2026",
        2,
        1,
        17,
        30,
    )
    assert b.state == CodeState.issued
