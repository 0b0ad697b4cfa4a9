"""Outreach figures of a worker: the daily REACH report (people reached,
condoms) and this month's issued / redeemed / reached figures (STATS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app import clock
from app.domain import audit
from app.domain.errors import DomainError
from app.models import OutreachReport, Redemption, ReferralCode, Worker

MAX_OUTREACH_COUNT = 100_000


class InvalidCount(DomainError):
    key = "codes.bad_count"
    status = 422


@dataclass(frozen=True)
class WorkerStats:
    month: str  # "11/2026"
    issued: int
    redeemed: int
    people_reached: int
    condoms: int


def _month_bounds(today: date, tz: tzinfo) -> tuple[datetime, datetime]:
    first = today.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time(0), tzinfo=tz), datetime.combine(nxt, time(0), tzinfo=tz)


def worker_month_stats(
    session: Session, worker: Worker, today: date, *, tz: tzinfo | None = None
) -> WorkerStats:
    """This local month's figures for `worker`: codes issued, redemptions of
    the worker's codes that happened this month, people reached and condoms
    from REACH. `tz` defaults to the configured program time zone."""
    if tz is None:
        from app.config import get_settings

        tz = get_settings().tz
    start, end = _month_bounds(today, tz)
    issued = session.exec(
        select(func.count())
        .select_from(ReferralCode)
        .where(
            ReferralCode.worker_id == worker.id, ReferralCode.issued_at >= start, ReferralCode.issued_at < end
        )
    ).one()
    redeemed = session.exec(
        select(func.count())
        .select_from(Redemption)
        .join(ReferralCode, ReferralCode.id == Redemption.code_id)
        .where(
            ReferralCode.worker_id == worker.id, Redemption.redeemed_at >= start, Redemption.redeemed_at < end
        )
    ).one()
    people, condoms = session.exec(
        select(
            func.coalesce(func.sum(OutreachReport.people_reached), 0),
            func.coalesce(func.sum(OutreachReport.condoms), 0),
        ).where(
            OutreachReport.worker_id == worker.id,
            OutreachReport.report_date >= start.date(),
            OutreachReport.report_date < end.date(),
        )
    ).one()
    return WorkerStats(today.strftime("%m/%Y"), issued, redeemed, int(people), int(condoms))


def record_outreach(session: Session, worker: Worker, people: int, condoms: int, day: date) -> OutreachReport:
    """Store `worker`'s outreach counts for `day`; a second report the same
    day replaces the first (unique worker+day). Raises InvalidCount for a
    negative or implausibly large number."""
    for value in (people, condoms):
        if not isinstance(value, int) or value < 0 or value > MAX_OUTREACH_COUNT:
            raise InvalidCount(f"count out of range: {value!r}", max=MAX_OUTREACH_COUNT)
    now = clock.now()
    report: OutreachReport | None = None
    for _ in range(3):
        report = session.exec(
            select(OutreachReport).where(
                OutreachReport.worker_id == worker.id, OutreachReport.report_date == day
            )
        ).first()
        if report is not None:
            report.people_reached, report.condoms, report.updated_at = people, condoms, now
            session.add(report)
            session.flush()
            break
        try:
            with session.begin_nested():
                report = OutreachReport(
                    worker_id=worker.id,
                    report_date=day,
                    people_reached=people,
                    condoms=condoms,
                    created_at=now,
                    updated_at=now,
                )
                session.add(report)
                session.flush()
            break
        except IntegrityError:  # the same worker's other REACH won the insert; update it
            report = None
    if report is None:
        raise RuntimeError("could not store the outreach report")
    audit.record(
        session,
        audit.phone_actor(worker.phone),
        "outreach.report",
        "outreach_report",
        report.id,
        day=day.isoformat(),
        people=people,
        condoms=condoms,
    )
    return report
