"""Outreach figures of a worker: the daily REACH report (people reached,
condoms) and this month's issued / redeemed / reached figures (STATS):
the worker's own codes, and apart from them the peer coupons of the
chains the worker began (`app.domain.chains`).

A worker has one report row a day; every REACH adds its people and condoms
to that day's row (two outreach sessions in a day add up), so every reader
(STATS, `/indicators`) sums rows as before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app import clock
from app.domain import audit, chains
from app.domain.errors import DomainError
from app.models import GroupMeeting, OutreachReport, Redemption, ReferralCode, Worker

MAX_REACH_PEOPLE = 10_000  # in one REACH
MAX_REACH_CONDOMS = 100_000  # in one REACH
MAX_MEETING_PARTICIPANTS = 500  # in one group meeting


class InvalidCount(DomainError):
    key = "codes.bad_count"
    status = 422


class InvalidParticipants(DomainError):
    key = "codes.bad_participants"
    status = 422


def check_counts(people: object, condoms: object) -> None:
    """Raises InvalidCount unless both are whole numbers from 0 to their maximum."""
    for value, most in ((people, MAX_REACH_PEOPLE), (condoms, MAX_REACH_CONDOMS)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= most:
            raise InvalidCount("count out of range", people=MAX_REACH_PEOPLE, condoms=MAX_REACH_CONDOMS)


@dataclass(frozen=True)
class WorkerStats:
    month: str  # "11/2026"
    issued: int
    redeemed: int
    people_reached: int
    condoms: int
    coupons_given: int = 0  # peer coupons of the worker's chains issued this month
    coupons_returned: int = 0  # ... redeemed this month
    peers_reached: int = 0  # people among those who brought them


def _month_bounds(today: date, tz: tzinfo) -> tuple[datetime, datetime]:
    first = today.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time(0), tzinfo=tz), datetime.combine(nxt, time(0), tzinfo=tz)


def worker_month_stats(
    session: Session, worker: Worker, today: date, *, tz: tzinfo | None = None
) -> WorkerStats:
    """This local month's figures for `worker`: codes issued, redemptions of
    the worker's codes that happened this month, people reached and condoms
    from REACH, and the peer coupons of the worker's chains (given,
    returned, people reached through them this month; not among the
    worker's own codes). `tz` defaults to the configured program time zone."""
    if tz is None:
        from app.config import get_settings

        tz = get_settings().tz
    start, end = _month_bounds(today, tz)
    issued = session.exec(
        select(func.count())
        .select_from(ReferralCode)
        .where(
            ReferralCode.worker_id == worker.id,
            ReferralCode.wave == 0,
            ReferralCode.issued_at >= start,
            ReferralCode.issued_at < end,
        )
    ).one()
    redeemed = session.exec(
        select(func.count())
        .select_from(Redemption)
        .join(ReferralCode, ReferralCode.id == Redemption.code_id)
        .where(
            ReferralCode.worker_id == worker.id,
            ReferralCode.wave == 0,
            Redemption.redeemed_at >= start,
            Redemption.redeemed_at < end,
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
    chain = chains.worker_chains(session, worker.id, start, end)
    return WorkerStats(
        today.strftime("%m/%Y"),
        issued,
        redeemed,
        int(people),
        int(condoms),
        chain.coupons_given,
        chain.coupons_returned,
        chain.people_reached,
    )


def record_outreach(session: Session, worker: Worker, people: int, condoms: int, day: date) -> OutreachReport:
    """Add `worker`'s outreach counts to the report of `day` (created on
    the day's first REACH; unique worker+day), in one UPDATE that adds, so
    concurrent reports add up too. Returns the day's row (its totals).
    Raises InvalidCount for a negative or too large number (see
    `check_counts`)."""
    check_counts(people, condoms)
    now = clock.now()
    report: OutreachReport | None = None
    for _ in range(3):
        if _add_to_day(session, worker, people, condoms, day, now):
            report = _day_report(session, worker, day)
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
        except IntegrityError:  # the same worker's other REACH made the row first; add to it
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
        total_people=report.people_reached,
        total_condoms=report.condoms,
    )
    return report


def _add_to_day(session: Session, worker: Worker, people: int, condoms: int, day: date, now) -> bool:
    """Add to the day's row if there is one."""
    return (
        session.exec(
            update(OutreachReport)
            .where(OutreachReport.worker_id == worker.id, OutreachReport.report_date == day)
            .values(
                people_reached=OutreachReport.people_reached + people,
                condoms=OutreachReport.condoms + condoms,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def _day_report(session: Session, worker: Worker, day: date) -> OutreachReport:
    report = session.exec(
        select(OutreachReport).where(OutreachReport.worker_id == worker.id, OutreachReport.report_date == day)
    ).one()
    session.refresh(report)
    return report


def record_meeting(session: Session, worker: Worker, participants: int, day: date) -> GroupMeeting:
    """One group meeting `worker` held on `day`, with its attendance (each
    MEET is a meeting of its own). Raises InvalidParticipants unless 1 to
    MAX_MEETING_PARTICIPANTS."""
    if not isinstance(participants, int) or not 1 <= participants <= MAX_MEETING_PARTICIPANTS:
        raise InvalidParticipants("participants out of range", most=MAX_MEETING_PARTICIPANTS)
    meeting = GroupMeeting(
        worker_id=worker.id, meeting_date=day, participants=participants, created_at=clock.now()
    )
    session.add(meeting)
    session.flush()
    audit.record(
        session,
        audit.phone_actor(worker.phone),
        "outreach.meeting",
        "group_meeting",
        meeting.id,
        day=day.isoformat(),
        participants=participants,
    )
    return meeting


def meetings_on(session: Session, worker: Worker, day: date) -> tuple[int, int]:
    """(meetings, participants) `worker` reported for `day`."""
    count, people = session.exec(
        select(func.count(), func.coalesce(func.sum(GroupMeeting.participants), 0)).where(
            GroupMeeting.worker_id == worker.id, GroupMeeting.meeting_date == day
        )
    ).one()
    return int(count), int(people)
