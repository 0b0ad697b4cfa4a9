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
  (PostgreSQL: percentile_cont; SQLite: window functions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from app.domain.errors import DomainError
from app.models import Clinic, CodeState, OutreachReport, Person, ReferralCode, Service, Worker

GroupBy = Literal["worker", "clinic", "service", "district", "month"]
GROUPS: tuple[str, ...] = ("worker", "clinic", "service", "district", "month")
VCT = "VCT"

code_t = ReferralCode.__table__  # type: ignore[attr-defined]
clinic_t = Clinic.__table__  # type: ignore[attr-defined]
worker_t = Worker.__table__  # type: ignore[attr-defined]
service_t = Service.__table__  # type: ignore[attr-defined]


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


@dataclass(frozen=True)
class IndicatorFigures:
    date_from: date
    date_to: date
    people_reached: int
    condoms_distributed: int
    people_referred: int
    referred_to_vct: int
    went_to_vct: int
    redeemed: int
    opt_outs: int


def period_bounds(
    date_from: date | None, date_to: date | None, tz: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """UTC [start, end) of the local dates `date_from`..`date_to` (both included)."""
    if date_from and date_to and date_from > date_to:
        raise InvalidPeriod(f"from ({date_from}) is after to ({date_to})")
    start = datetime.combine(date_from, time(0), tz).astimezone(UTC) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time(0), tz).astimezone(UTC) if date_to else None
    return start, end


def _month_expr(dialect: str, tz: ZoneInfo, reference: datetime):
    if dialect == "postgresql":
        local = sa.func.timezone(str(tz), sa.func.timezone("UTC", code_t.c.issued_at))
        return sa.func.to_char(local, "YYYY-MM")
    # SQLite has no time zones: shift by the zone's offset at the period start.
    minutes = int((reference.astimezone(tz).utcoffset() or timedelta()).total_seconds() // 60)
    return sa.func.strftime("%Y-%m", code_t.c.issued_at, f"{minutes:+d} minutes")


# where a code belongs: the clinic that redeemed it, else the one it was referred to
_CLINIC = sa.func.coalesce(code_t.c.redeemed_clinic_id, code_t.c.clinic_id)


def _group_key(group_by: str, dialect: str, tz: ZoneInfo, reference: datetime):
    """(key expression, needs the clinic and worker joins)."""
    if group_by == "worker":
        return code_t.c.worker_id, False
    if group_by == "service":
        return code_t.c.service_id, False
    if group_by == "clinic":
        return _CLINIC, False
    if group_by == "district":
        return sa.func.coalesce(clinic_t.c.district, worker_t.c.district), True
    if group_by == "month":
        return _month_expr(dialect, tz, reference), False
    raise InvalidPeriod(f"group_by must be one of {', '.join(GROUPS)}")


def _cohort(columns, *, joins_people: bool, start, end):
    """SELECT columns over the codes issued in [start, end), voided ones
    excepted. One table: the redemption's time and clinic are copied onto
    the code (`redeemed_at`, `redeemed_clinic_id`, see migration 0002), so
    a million codes need no join with their redemptions."""
    source = code_t
    if joins_people:  # small tables: hash joins
        source = source.outerjoin(clinic_t, clinic_t.c.id == _CLINIC).outerjoin(
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
    dialect = session.get_bind().dialect.name
    key, joins = _group_key(group_by, dialect, tz, start or datetime.now(UTC))
    counts = [key.label("key"), sa.func.count(), sa.func.count(code_t.c.redeemed_at)]
    if dialect == "postgresql":
        # One scan and one in-memory sort: JIT compiling costs more than it
        # saves here, and an index scan in group order (random heap reads)
        # loses to a sequential scan once most of the table is read; a
        # period's range scan still uses the issued_at index (bitmap).
        for setting in ("work_mem = '256MB'", "jit = off", "enable_indexscan = off"):
            session.execute(sa.text(f"SET LOCAL {setting}"))
        wait = code_t.c.redeemed_at - code_t.c.issued_at  # an interval: percentile_cont takes it as is
        median = sa.func.percentile_cont(0.5).within_group(wait)
        stmt = _cohort([*counts, median], joins_people=joins, start=start, end=end).group_by(key)
        rows = {k: (issued, redeemed, _as_days(m)) for k, issued, redeemed, m in session.execute(stmt)}
    else:
        stmt = _cohort(counts, joins_people=joins, start=start, end=end).group_by(key)
        medians = _sqlite_medians(session, key, joins, start, end)
        rows = {k: (issued, redeemed, medians.get(k)) for k, issued, redeemed in session.execute(stmt)}

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


def indicators(session: Session, *, date_from: date, date_to: date, tz: ZoneInfo) -> IndicatorFigures:
    """What the program reports for a period (local dates, both included):
    people reached and condoms (workers' REACH reports), people referred
    (codes issued), referred to VCT, went to VCT (VCT codes redeemed in the
    period), all redemptions in the period, and opt-outs."""
    start, end = period_bounds(date_from, date_to, tz)
    assert start is not None and end is not None
    lo, hi = start, end

    reach = session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(OutreachReport.people_reached), 0),
            sa.func.coalesce(sa.func.sum(OutreachReport.condoms), 0),
        ).where(OutreachReport.report_date >= date_from, OutreachReport.report_date <= date_to)
    ).one()

    # per service, without joining: the VCT row is picked out afterwards
    vct_id = session.execute(sa.select(service_t.c.id).where(service_t.c.code == VCT)).scalar()
    issued = dict(
        session.execute(
            sa.select(code_t.c.service_id, sa.func.count())
            .where(
                code_t.c.issued_at >= lo, code_t.c.issued_at < hi, code_t.c.state != CodeState.voided.value
            )
            .group_by(code_t.c.service_id)
        ).all()
    )
    redeemed = dict(
        session.execute(
            sa.select(code_t.c.service_id, sa.func.count())
            .where(code_t.c.redeemed_at >= lo, code_t.c.redeemed_at < hi)
            .group_by(code_t.c.service_id)
        ).all()
    )

    person_t = Person.__table__  # type: ignore[attr-defined]
    opt_outs = session.execute(
        sa.select(sa.func.count()).where(
            person_t.c.opted_out == sa.true(), person_t.c.opted_out_at >= lo, person_t.c.opted_out_at < hi
        )
    ).scalar_one()

    return IndicatorFigures(
        date_from=date_from,
        date_to=date_to,
        people_reached=int(reach[0]),
        condoms_distributed=int(reach[1]),
        people_referred=sum(issued.values()),
        referred_to_vct=issued.get(vct_id, 0),
        went_to_vct=redeemed.get(vct_id, 0),
        redeemed=sum(redeemed.values()),
        opt_outs=int(opt_outs),
    )
