"""The program's indicators, for a period, in total or per row of a report
(site, district, population group): one computation behind `/indicators`,
the monthly report and the DHIS2 export, so each gives the same figure.

The rules (the README states them too):
- people, not codes: a client phone is one person, a code without a phone
  is one person; every unique count is computed over the period and the
  rows asked, never summed from shorter periods or smaller rows;
- `people_referred`, `codes_issued`, `referred_to_vct`, `referred_to_mmt`:
  the codes issued in the period (voided ones excepted: they were mistakes);
- `went_to_vct`, `went_to_mmt`: people whose code for that service was
  redeemed in the period; `redeemed`: codes redeemed in the period;
- `people_reached`, `condoms_distributed`: the workers' REACH reports;
  `group_meetings`, `group_meeting_participants`: their MEET reports;
- `opt_outs`: phones that opted out in the period (a total only: a phone
  belongs to no site);
- `reached_through_peers`: people who came with a peer coupon (a code of
  wave 1 or more, `app.domain.coupons`) redeemed in the period; coupons
  count in every other figure like any code;
- where a figure belongs: a code to the clinic that redeemed it, else the
  clinic it was referred to (its site and district), else its worker's
  district; an outreach report to its worker's district;
- `redemption_rate` and `median_days_to_redeem`: over the codes issued in
  the period (a cohort), as `/stats/redemptions`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from app import clock
from app.domain import stats
from app.domain.stats import CODE_CLINIC, clinic_t, code_t, period_bounds, worker_t
from app.models import CodeState, GroupMeeting, OutreachReport, Person, Service

INDICATORS: tuple[str, ...] = (
    "people_reached",
    "condoms_distributed",
    "group_meetings",
    "group_meeting_participants",
    "people_referred",
    "codes_issued",
    "referred_to_vct",
    "went_to_vct",
    "referred_to_mmt",
    "went_to_mmt",
    "redeemed",
    "opt_outs",
    "reached_through_peers",
)
By = Literal["total", "site", "district", "population_group"]
VCT, MMT = "VCT", "MMT"

meeting_t = GroupMeeting.__table__  # type: ignore[attr-defined]
outreach_t = OutreachReport.__table__  # type: ignore[attr-defined]
person_t = Person.__table__  # type: ignore[attr-defined]


@dataclass
class Row:
    """The figures of one row: `key` is None for the total; a site row's key
    is `c<clinic id>` (a clinic) or `d<district>` (outreach, or codes with
    no clinic)."""

    key: str | None
    figures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INDICATORS, 0))
    redemption_rate: float | None = None
    median_days_to_redeem: float | None = None


def _people_counts(key, joins: bool, where, vct, mmt):
    """(key, codes, people, people for VCT, people for MMT) per key, over the
    codes matching `where`. Two hash aggregations, no DISTINCT sort: per key
    and phone first (a phone is one person; each code without a phone one
    person), then per key."""
    phone = code_t.c.client_phone

    def flag(condition):
        return sa.func.max(sa.case((condition, 1), else_=0))

    def codes_of(condition):
        return sa.func.sum(sa.case((condition, 1), else_=0))

    per_phone = (
        _with_people(
            sa.select(
                key.label("key"),
                phone.label("phone"),
                sa.func.count().label("codes"),
                flag(vct).label("vct"),
                codes_of(vct).label("vct_codes"),
                flag(mmt).label("mmt"),
                codes_of(mmt).label("mmt_codes"),
            ),
            joins,
        )
        .where(*where)
        .group_by(key, phone)
        .subquery("per_phone")
    )
    c = per_phone.c
    without_phone = c.phone.is_(None)

    def people(one, codes):
        return sa.func.sum(sa.case((without_phone, codes), else_=one))

    return sa.select(
        c.key,
        sa.func.sum(c.codes),
        people(1, c.codes),
        people(c.vct, c.vct_codes),
        people(c.mmt, c.mmt_codes),
    ).group_by(c.key)


def people_counts(session: Session, key, where) -> dict:
    """{key: (codes, people)} over the codes matching `where` (a phone is
    one person, a code without a phone one person), per `key` (an
    expression of the code table alone)."""
    none = sa.false()
    return {
        k: (int(codes), int(people))
        for k, codes, people, _, _ in session.execute(_people_counts(key, False, where, none, none))
    }


def _code_key(by: By):
    """(key expression, needs the clinic and worker joins) for code rows."""
    if by == "total":
        return sa.literal(None, sa.String), False
    if by == "population_group":
        return code_t.c.population_group, False
    district = sa.func.coalesce(clinic_t.c.district, worker_t.c.district, "")
    if by == "district":
        return district, True
    clinic_id = sa.cast(CODE_CLINIC, sa.String)
    return sa.case((CODE_CLINIC.is_not(None), "c" + clinic_id), else_="d" + district), True


def _outreach_key(by: By):
    """Key expression for a worker's report rows (joined with its worker)."""
    if by == "total":
        return sa.literal(None, sa.String)
    district = sa.func.coalesce(worker_t.c.district, "")
    return district if by == "district" else "d" + district


def _with_people(stmt, joins: bool):
    if not joins:
        return stmt
    return stmt.select_from(
        code_t.outerjoin(clinic_t, clinic_t.c.id == CODE_CLINIC).outerjoin(
            worker_t, worker_t.c.id == code_t.c.worker_id
        )
    )


def figures(session: Session, *, date_from: date, date_to: date, tz: ZoneInfo, by: By = "total") -> list[Row]:
    """Every indicator for the local dates `date_from`..`date_to` (both
    included), per row of `by` (`total`: one row, key None); rows ordered
    by key. Raises stats.InvalidPeriod."""
    start, end = period_bounds(date_from, date_to, tz)
    rows: dict[str | None, Row] = defaultdict(lambda: Row(None))
    services = dict(session.execute(sa.select(Service.code, Service.id)).all())
    vct, mmt = code_t.c.service_id == services.get(VCT, -1), code_t.c.service_id == services.get(MMT, -1)
    key, joins = _code_key(by)

    issued_in = (
        code_t.c.issued_at >= start,
        code_t.c.issued_at < end,
        code_t.c.state != CodeState.voided.value,
    )
    for k, count, people, to_vct, to_mmt in session.execute(_people_counts(key, joins, issued_in, vct, mmt)):
        rows[k].figures.update(
            codes_issued=int(count),
            people_referred=int(people),
            referred_to_vct=int(to_vct),
            referred_to_mmt=int(to_mmt),
        )
    redeemed_in = (code_t.c.redeemed_at >= start, code_t.c.redeemed_at < end)
    for k, count, _, to_vct, to_mmt in session.execute(_people_counts(key, joins, redeemed_in, vct, mmt)):
        rows[k].figures.update(redeemed=int(count), went_to_vct=int(to_vct), went_to_mmt=int(to_mmt))
    peers_in = (*redeemed_in, code_t.c.wave > 0)
    for k, _, people, _, _ in session.execute(_people_counts(key, joins, peers_in, vct, mmt)):
        rows[k].figures["reached_through_peers"] = int(people)

    if by != "population_group":
        _outreach(session, rows, by, date_from, date_to)
    if by == "total":
        rows[None].figures["opt_outs"] = session.execute(
            sa.select(sa.func.count()).where(
                person_t.c.opted_out == sa.true(),
                person_t.c.opted_out_at >= start,
                person_t.c.opted_out_at < end,
            )
        ).scalar_one()
    _cohort_figures(session, rows, key, joins, start, end)
    for k, row in rows.items():
        row.key = k
    return [rows[k] for k in sorted(rows, key=lambda k: (k is None, k or ""))]


def _outreach(session: Session, rows: dict, by: By, date_from: date, date_to: date) -> None:
    """REACH and MEET figures, by the reporting worker's district."""
    for table, day, columns, names in (
        (
            outreach_t,
            outreach_t.c.report_date,
            (sa.func.sum(outreach_t.c.people_reached), sa.func.sum(outreach_t.c.condoms)),
            ("people_reached", "condoms_distributed"),
        ),
        (
            meeting_t,
            meeting_t.c.meeting_date,
            (sa.func.count(), sa.func.sum(meeting_t.c.participants)),
            ("group_meetings", "group_meeting_participants"),
        ),
    ):
        key = _outreach_key(by)
        stmt = (
            sa.select(key, *columns)
            .select_from(table.join(worker_t, worker_t.c.id == table.c.worker_id))
            .where(day >= date_from, day <= date_to)
            .group_by(key)
        )
        for k, *values in session.execute(stmt):
            rows[k].figures.update({name: int(v or 0) for name, v in zip(names, values, strict=True)})


def _cohort_figures(session: Session, rows: dict, key, joins: bool, start, end) -> None:
    """Redemption rate and median days to redeem of the codes issued in the
    period, per row (`stats`' own statements)."""
    found = stats.cohort_figures(session, key, joins, start, end)
    for k, (issued, redeemed, median) in found.items():
        if k in rows and issued:
            rows[k].redemption_rate = round(redeemed / issued, 4)
            rows[k].median_days_to_redeem = None if median is None else round(median, 2)


# ---------------------------------------------------------------- the monthly report


class InvalidMonth(stats.InvalidPeriod):
    pass


@dataclass(frozen=True)
class ReportLine:
    district: str
    site: str  # the clinic's name; "" for outreach and codes without a clinic
    clinic_id: int | None
    population_group: str | None
    row: Row


@dataclass(frozen=True)
class MonthlyReport:
    month: str  # YYYY-MM
    date_from: date
    date_to: date
    lines: list[ReportLine]  # per district and site, by district then site
    total: Row
    groups: list[ReportLine]  # per population group (codes only), when any is tagged


def month_period(month: str, today: date | None = None) -> tuple[date, date]:
    """The first and last day of `YYYY-MM`, a month begun by `today`.
    Raises InvalidMonth."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", month or ""):  # ASCII digits only, no spaces
        raise InvalidMonth(f"month must be YYYY-MM, e.g. 2026-11, not {(month or '')[:20]!r}")
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except (ValueError, TypeError):
        raise InvalidMonth(f"month must be YYYY-MM, e.g. 2026-11, not {month[:20]!r}") from None
    if len(month) != 7:
        raise InvalidMonth(f"month must be YYYY-MM, e.g. 2026-11, not {month[:20]!r}")
    if today is not None and first > today:
        raise InvalidMonth(f"{month} has not begun yet: a report covers a month begun by today")
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def monthly_report(
    session: Session, *, month: str, tz: ZoneInfo, group_labels: dict[str, str] | None = None
) -> MonthlyReport:
    """The month's indicators per district and site, the total (computed
    over the whole month, not summed from the rows) and, when referrals
    carry one, per population group (its label from `group_labels` as the
    row's site). Raises InvalidMonth, InvalidPeriod."""
    date_from, date_to = month_period(month, clock.now().astimezone(tz).date())
    period = dict(date_from=date_from, date_to=date_to, tz=tz)
    [total] = figures(session, by="total", **period)
    sites = figures(session, by="site", **period)
    clinic_ids = [int(r.key[1:]) for r in sites if r.key and r.key.startswith("c")]
    named = {
        cid: (name, district)
        for cid, name, district in session.execute(
            sa.select(clinic_t.c.id, clinic_t.c.name, clinic_t.c.district).where(
                clinic_t.c.id.in_(clinic_ids)
            )
        )
    }
    lines = []
    for r in sites:
        if r.key and r.key.startswith("c"):
            name, district = named.get(int(r.key[1:]), ("", ""))
            lines.append(ReportLine(district, name, int(r.key[1:]), None, r))
        else:
            lines.append(ReportLine((r.key or "d")[1:], "", None, None, r))
    lines.sort(key=lambda line: (line.district, line.site))
    groups = [
        ReportLine("", (group_labels or {}).get(r.key, ""), None, r.key, r)
        for r in figures(session, by="population_group", **period)
        if r.key is not None
    ]
    return MonthlyReport(month, date_from, date_to, lines, total, groups)
