"""Redemption statistics and the program's indicators, computed in SQL so
they stay fast on a million codes.

Conventions (one place for each):
- a period is a pair of calendar dates in the program's time zone, both
  included; `None` leaves that side open;
- a code counts in the period it was *issued* in (a cohort): `issued` is the
  codes issued then, `redeemed` those of them redeemed (whenever);
- voided codes were mistakes: they count nowhere;
- a code belongs to the clinic where it was redeemed, else to the clinic it
  was referred to; its district is that clinic's, else its worker's;
- median days to redeem is over the redeemed codes of the group
  (PostgreSQL: percentile_cont; SQLite: window functions);
- a month is a local month: codes are bucketed by the UTC instants the
  months of the period start at, each with its own offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, select

from app.domain.errors import DomainError
from app.models import Clinic, CodeState, ReferralCode, Service, UTCDateTime, Worker

GroupBy = Literal["worker", "clinic", "service", "district", "month"]
GROUPS: tuple[str, ...] = ("worker", "clinic", "service", "district", "month")
VCT = "VCT"

code_t = ReferralCode.__table__  # type: ignore[attr-defined]
clinic_t = Clinic.__table__  # type: ignore[attr-defined]
worker_t = Worker.__table__  # type: ignore[attr-defined]
service_t = Service.__table__  # type: ignore[attr-defined]


PERIOD_YEARS = (2000, 2100)  # the years a report date may fall in, both included


class InvalidPeriod(DomainError):
    key = "error.invalid"
    status = 422


@dataclass(frozen=True)
class GroupStats:
    key: str | None
    label: str | None
    issued: int
    redeemed: int
    redemption_rate: float | None
    median_days_to_redeem: float | None


def period_bounds(
    date_from: date | None, date_to: date | None, tz: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """UTC [start, end) of the local dates `date_from`..`date_to` (both
    included). Raises InvalidPeriod when from is after to, or a date is
    outside the years PERIOD_YEARS (no program data is older or newer, and
    year 1 or 9999 would not convert to UTC)."""
    for day in (date_from, date_to):
        if day is not None and not PERIOD_YEARS[0] <= day.year <= PERIOD_YEARS[1]:
            raise InvalidPeriod(
                f"date {day.isoformat()} is out of range: dates are from "
                f"{PERIOD_YEARS[0]}-01-01 to {PERIOD_YEARS[1]}-12-31"
            )
    if date_from and date_to and date_from > date_to:
        raise InvalidPeriod(f"from ({date_from}) is after to ({date_to})")
    start = datetime.combine(date_from, time(0), tz).astimezone(UTC) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time(0), tz).astimezone(UTC) if date_to else None
    return start, end


def _month_starts(session: Session, tz: ZoneInfo, start, end) -> list[tuple[str, datetime]]:
    """("YYYY-MM", UTC start) of each local month from the one the period (or,
    where it is open, the first or last code issued) starts in to the one it
    ends in. Each month's own offset counts, so a zone with summer time puts
    the codes of its first night in the right month."""
    if start is None or end is None:
        stmt = sa.select(sa.func.min(code_t.c.issued_at), sa.func.max(code_t.c.issued_at))
        if start is not None:
            stmt = stmt.where(code_t.c.issued_at >= start)
        if end is not None:
            stmt = stmt.where(code_t.c.issued_at < end)
        first, last = session.execute(stmt).one()
        if first is None:
            return []
        start = start or first
        end = end or last + timedelta(microseconds=1)
    local, stop = start.astimezone(tz), (end - timedelta(microseconds=1)).astimezone(tz)
    year, month, months = local.year, local.month, []
    while (year, month) <= (stop.year, stop.month):
        months.append((f"{year:04d}-{month:02d}", datetime(year, month, 1, tzinfo=tz).astimezone(UTC)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _month_expr(dialect: str, starts: list[datetime]):
    """The 1-based index, in `starts`, of the month a code was issued in: a
    comparison with the months' UTC starts, no time zone arithmetic per row."""
    if dialect == "postgresql":
        bounds = sa.bindparam("month_starts", starts, type_=postgresql.ARRAY(UTCDateTime()))
        bounds = sa.cast(bounds, postgresql.ARRAY(sa.DateTime()))  # also when rendered as literals
        return sa.func.width_bucket(code_t.c.issued_at, bounds, type_=sa.Integer)
    if len(starts) < 2:
        return sa.literal(1)
    return sa.case(
        *((code_t.c.issued_at < bound, i) for i, bound in enumerate(starts[1:], 1)), else_=len(starts)
    )


# where a code belongs: the clinic that redeemed it, else the one it was referred to
CODE_CLINIC = sa.func.coalesce(code_t.c.redeemed_clinic_id, code_t.c.clinic_id)


def _group_key(group_by: str, dialect: str, months: list[datetime]):
    """(key expression, needs the clinic and worker joins)."""
    if group_by == "worker":
        return code_t.c.worker_id, False
    if group_by == "service":
        return code_t.c.service_id, False
    if group_by == "clinic":
        return CODE_CLINIC, False
    if group_by == "district":
        return sa.func.coalesce(clinic_t.c.district, worker_t.c.district), True
    if group_by == "month":
        return _month_expr(dialect, months), False
    raise InvalidPeriod(f"group_by must be one of {', '.join(GROUPS)}")


def grouping(session: Session, group_by: str, tz: ZoneInfo, start, end):
    """(key expression, needs the clinic and worker joins, the "YYYY-MM" of
    month index 1, 2... when grouping by month)."""
    months = _month_starts(session, tz, start, end) if group_by == "month" else []
    key, joins = _group_key(group_by, session.get_bind().dialect.name, [bound for _, bound in months])
    return key, joins, [label for label, _ in months]


def _cohort(columns, *, joins_people: bool, start, end):
    """SELECT columns over the codes issued in [start, end), voided ones
    excepted. One table: the redemption's time and clinic are copied onto
    the code (`redeemed_at`, `redeemed_clinic_id`, see migration 0002), so
    a million codes need no join with their redemptions."""
    source = code_t
    if joins_people:  # small tables: hash joins
        source = source.outerjoin(clinic_t, clinic_t.c.id == CODE_CLINIC).outerjoin(
            worker_t, worker_t.c.id == code_t.c.worker_id
        )
    stmt = sa.select(*columns).select_from(source).where(code_t.c.state != CodeState.voided.value)
    if start is not None:
        stmt = stmt.where(code_t.c.issued_at >= start)
    if end is not None:
        stmt = stmt.where(code_t.c.issued_at < end)
    return stmt


def _as_days(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds() / 86400
    return float(value)


def cohort_figures(session: Session, key, joins: bool, start, end, months: int = 0) -> dict:
    """{key: (issued, redeemed, median days to redeem)} of the codes issued
    in [start, end), per `key` (PostgreSQL: `pg_statement`; SQLite: counts
    and `_sqlite_medians`)."""
    if session.get_bind().dialect.name == "postgresql":
        for setting in PG_SETTINGS:
            session.execute(sa.text(f"SET LOCAL {setting}"))
        stmt = pg_statement(key, joins, start, end, months)
        return {k: (issued, redeemed or 0, _as_days(m)) for k, issued, redeemed, m in session.execute(stmt)}
    counts = [key.label("key"), sa.func.count(), sa.func.count(code_t.c.redeemed_at)]
    stmt = _cohort(counts, joins_people=joins, start=start, end=end).group_by(key)
    medians = _sqlite_medians(session, key, joins, start, end)
    return {k: (issued, redeemed, medians.get(k)) for k, issued, redeemed in session.execute(stmt)}


def redemption_stats(
    session: Session,
    *,
    group_by: str,
    date_from: date | None,
    date_to: date | None,
    tz: ZoneInfo,
    limit: int,
    offset: int,
) -> tuple[list[GroupStats], int]:
    """Issued, redeemed, rate and median days to redeem, per group, for the
    codes issued in the period; groups ordered by key (none last). Raises
    InvalidPeriod."""
    start, end = period_bounds(date_from, date_to, tz)
    key, joins, months = grouping(session, group_by, tz, start, end)
    rows = cohort_figures(session, key, joins, start, end, len(months))
    if months:  # month index -> "YYYY-MM"
        rows = {months[k - 1]: figures for k, figures in rows.items()}

    ordered = sorted(rows, key=lambda k: (k is None, str(k) if group_by in ("district", "month") else k or 0))
    labels = _labels(session, group_by, [k for k in ordered[offset : offset + limit] if k is not None])
    page = []
    for k in ordered[offset : offset + limit]:
        issued, redeemed, median = rows[k]
        name = None if k is None else str(k)
        shown, label = labels.get(k, (name, name))
        page.append(
            GroupStats(
                key=shown,
                label=label,
                issued=int(issued),
                redeemed=int(redeemed),
                redemption_rate=round(redeemed / issued, 4) if issued else None,
                median_days_to_redeem=None if median is None else round(median, 2),
            )
        )
    return page, len(ordered)


# PostgreSQL: JIT compiling costs more than it saves here; the groups'
# arrays of waits stay in memory (work_mem, per process); a sequential scan
# beats an index scan in group order (random heap reads) once most of the
# table is read, and a period's range scan still uses the issued_at index.
PG_SETTINGS = ("work_mem = '256MB'", "jit = off", "enable_indexscan = off")


def pg_statement(key, joins: bool, start, end, months: int = 0):
    """(key, issued, redeemed, median wait) per group, PostgreSQL.

    One scan, hash-aggregated on the key by parallel workers: per group the
    count and the array of its redeemed codes' waits (intervals), whose
    median is then taken group by group, so only each group's own waits
    are sorted. (An ordered-set aggregate in the grouping itself sorts every
    code of the period on the key first, then each group again, in one
    process.) Same figures as percentile_cont over the codes.

    `months`: the key is a month index 1..months. The planner estimates any
    expression of issued_at at as many groups as codes and would not
    aggregate in parallel; joined to generate_series(1, months), it counts
    the months instead."""
    wait = code_t.c.redeemed_at - code_t.c.issued_at  # an interval: percentile_cont takes it as is
    # array_accum: array_agg with a combine function (migration 0003), so
    # the scan and the grouping run in parallel workers
    waits = sa.func.array_accum(wait, type_=postgresql.ARRAY(sa.Interval()))
    waits = waits.filter(code_t.c.redeemed_at.is_not(None)).label("waits")
    index = None
    if months:
        count = sa.literal_column(str(int(months)), sa.Integer)
        index = sa.func.generate_series(1, count).table_valued("i").render_derived(name="month")
        key, month_key = index.c.i, key
    columns = [key.label("key"), sa.func.count().label("issued"), waits]
    g = _cohort(columns, joins_people=joins, start=start, end=end)
    if index is not None:
        g = g.join(index, index.c.i == month_key)
    g = g.group_by(key).subquery("g")
    each = sa.select(sa.func.unnest(g.c.waits).label("wait")).correlate(g).subquery("each_wait")
    median = sa.select(sa.func.percentile_cont(0.5).within_group(each.c.wait)).scalar_subquery()
    return sa.select(g.c.key, g.c.issued, sa.func.cardinality(g.c.waits), median)


def _sqlite_medians(session: Session, key, joins: bool, start, end) -> dict:
    """Median days to redeem per key, with window functions: the middle row
    (or the mean of the two middle rows) of each group's redeemed codes."""
    days = sa.func.julianday(code_t.c.redeemed_at) - sa.func.julianday(code_t.c.issued_at)
    ranked = (
        _cohort(
            [
                key.label("key"),
                days.label("days"),
                sa.func.row_number().over(partition_by=key, order_by=days).label("rn"),
                sa.func.count().over(partition_by=key).label("n"),
            ],
            joins_people=joins,
            start=start,
            end=end,
        )
        .where(code_t.c.redeemed_at.is_not(None))
        .subquery()
    )
    middle = sa.select(ranked.c.key, sa.func.avg(ranked.c.days)).where(
        ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])
    )
    return {k: float(v) for k, v in session.execute(middle.group_by(ranked.c.key))}


def _labels(session: Session, group_by: str, keys: list) -> dict:
    """{raw key: (key shown, label)} for the keys of one page."""
    if not keys:
        return {}
    if group_by == "worker":
        rows = session.exec(select(Worker.id, Worker.name).where(Worker.id.in_(keys)))  # type: ignore[union-attr]
        return {i: (str(i), name) for i, name in rows}
    if group_by == "clinic":
        rows = session.exec(select(Clinic.id, Clinic.name).where(Clinic.id.in_(keys)))  # type: ignore[union-attr]
        return {i: (str(i), name) for i, name in rows}
    if group_by == "service":
        rows = session.exec(select(Service.id, Service.code, Service.name).where(Service.id.in_(keys)))  # type: ignore[union-attr]
        return {i: (code, name) for i, code, name in rows}
    return {k: (str(k), str(k)) for k in keys}
