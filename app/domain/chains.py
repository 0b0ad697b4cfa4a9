"""Referral chains made by peer coupons (`app.domain.coupons`): the tree of
coupons below a code, and the chain figures per starting worker
(`/stats/chains`, the worker's STATS) and per recruiter (the incentive
export, `/export/coupons.csv`).

The rules (the README states them too):
- a coupon is a code of wave 1 or more; voided coupons count nowhere;
- `coupons_given`: coupons issued in the period; `coupons_returned`:
  coupons redeemed in the period (an incentive is paid once, in the period
  the coupon came back);
- `return_rate`: of the coupons given in the period, the share redeemed
  by now (a cohort, as `/stats/redemptions`);
- `waves_reached`: the deepest wave among the coupons redeemed in the
  period; `people_reached`: the people among them (a phone is one person,
  a coupon without a phone one person: `reports.people_counts`);
- a chain belongs to its starting worker (every coupon carries the
  worker of the code that began it); a recruiter is the client phone of a
  coupon's parent code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from app.domain import reports
from app.domain.stats import code_t, period_bounds, worker_t
from app.models import CodeState, ReferralCode, Service

MAX_NODES = 1000  # a chain tree shows at most this many codes


@dataclass
class ChainNode:
    """One code of a chain, with its service code and its coupons."""

    code: ReferralCode
    service: str
    children: list[ChainNode] = field(default_factory=list)


@dataclass(frozen=True)
class ChainTree:
    root: ChainNode
    size: int  # codes in the tree
    truncated: bool  # MAX_NODES reached: deeper coupons left out


def chain_below(session: Session, row: ReferralCode, *, max_nodes: int = MAX_NODES) -> ChainTree:
    """The tree of coupons below `row` (its coupons, theirs, ...), wave by
    wave, each level in the order issued; at most `max_nodes` codes."""
    services = dict(session.execute(sa.select(Service.id, Service.code)).all())
    root = ChainNode(row, services.get(row.service_id, ""))
    level, size, truncated = [root], 1, False
    while level and not truncated:
        parents = {node.code.id: node for node in level}
        children = session.exec(
            select(ReferralCode)
            .where(ReferralCode.parent_code_id.in_(list(parents)))  # type: ignore[union-attr]
            .order_by(ReferralCode.id)
            .limit(max_nodes - size + 1)
        ).all()
        level = []
        for child in children:
            if size >= max_nodes:
                truncated = True
                break
            node = ChainNode(child, services.get(child.service_id, ""))
            parents[child.parent_code_id].children.append(node)
            level.append(node)
            size += 1
    return ChainTree(root, size, truncated)


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class ChainFigures:
    worker_id: int | None  # None: chains begun by program staff (or the total)
    worker_name: str | None
    coupons_given: int
    coupons_returned: int
    return_rate: float | None
    waves_reached: int
    people_reached: int


def _between(column, start: datetime | None, end: datetime | None) -> list:
    """`column` in [start, end); a None side is open."""
    conditions = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return conditions


COUPON = (code_t.c.wave > 0, code_t.c.state != CodeState.voided.value)


def _figures(session: Session, key, start, end, *where) -> dict:
    """{key: [given, redeemed of them, returned, deepest wave returned, people]}."""
    found: dict = {}

    def slot(k):
        return found.setdefault(k, [0, 0, 0, 0, 0])

    given = sa.select(key, sa.func.count(), sa.func.count(code_t.c.redeemed_at)).where(
        *COUPON, *where, *_between(code_t.c.issued_at, start, end)
    )
    for k, count, redeemed in session.execute(given.group_by(key)):
        slot(k)[0:2] = [int(count), int(redeemed)]
    came = (*COUPON, *where, code_t.c.redeemed_at.is_not(None), *_between(code_t.c.redeemed_at, start, end))
    returned = sa.select(key, sa.func.count(), sa.func.max(code_t.c.wave)).where(*came)
    for k, count, wave in session.execute(returned.group_by(key)):
        slot(k)[2:4] = [int(count), int(wave or 0)]
    for k, (_, people) in reports.people_counts(session, key, came).items():
        slot(k)[4] = people
    return found


def _as_figures(worker_id, name, values) -> ChainFigures:
    given, redeemed, returned, wave, people = values
    rate = round(redeemed / given, 4) if given else None
    return ChainFigures(worker_id, name, given, returned, rate, wave, people)


def chain_stats(
    session: Session, *, date_from: date | None, date_to: date | None, tz: ZoneInfo
) -> tuple[list[ChainFigures], ChainFigures]:
    """(per starting worker, by worker id, staff-begun chains last; the
    whole program) for the local dates `date_from`..`date_to` (both
    included; None: open). Raises stats.InvalidPeriod."""
    start, end = period_bounds(date_from, date_to, tz)
    per_worker = _figures(session, code_t.c.worker_id, start, end)
    names = dict(
        session.execute(
            sa.select(worker_t.c.id, worker_t.c.name).where(worker_t.c.id.in_([k for k in per_worker if k]))
        ).all()
    )
    rows = [
        _as_figures(k, names.get(k), per_worker[k])
        for k in sorted(per_worker, key=lambda k: (k is None, k or 0))
    ]
    total = _figures(session, sa.literal(None, sa.Integer), start, end).get(None, [0] * 5)
    return rows, _as_figures(None, None, total)


def worker_chains(session: Session, worker_id: int, start: datetime, end: datetime) -> ChainFigures:
    """The chain figures of the chains `worker_id` began, for the UTC
    instants [start, end) (the worker's STATS: this local month)."""
    found = _figures(session, code_t.c.worker_id, start, end, code_t.c.worker_id == worker_id)
    return _as_figures(worker_id, None, found.get(worker_id, [0] * 5))


@dataclass(frozen=True)
class RecruiterFigures:
    phone: str  # the client phone of the coupons' parent code
    worker_id: int | None  # the chain's starting worker
    worker_name: str | None
    coupons_given: int
    coupons_returned: int


def recruiter_figures(
    session: Session, *, date_from: date | None, date_to: date | None, tz: ZoneInfo
) -> list[RecruiterFigures]:
    """Per recruiter (and chain worker), the coupons given and those
    returned in the period, ordered by phone: what incentive payments
    read. Raises stats.InvalidPeriod."""
    start, end = period_bounds(date_from, date_to, tz)
    parent = code_t.alias("parent")
    source = code_t.join(parent, parent.c.id == code_t.c.parent_code_id)
    keys = (parent.c.client_phone, code_t.c.worker_id)
    found: dict = {}
    for index, when in ((0, code_t.c.issued_at), (1, code_t.c.redeemed_at)):
        stmt = (
            sa.select(*keys, sa.func.count())
            .select_from(source)
            .where(*COUPON, when.is_not(None), *_between(when, start, end))
            .group_by(*keys)
        )
        for phone, worker_id, count in session.execute(stmt):
            found.setdefault((phone or "", worker_id), [0, 0])[index] = int(count)
    names = dict(session.execute(sa.select(worker_t.c.id, worker_t.c.name)).all()) if found else {}
    return [
        RecruiterFigures(phone, worker_id, names.get(worker_id), given, returned)
        for (phone, worker_id), (given, returned) in sorted(
            found.items(), key=lambda i: (i[0][0], i[0][1] or 0)
        )
    ]
