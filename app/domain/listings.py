"""Read-only listings for the admin API: codes, redemptions, messages,
reminders and the audit log, filtered and paged in SQL; the row streams
behind the CSV exports (fetched in batches, never all in memory); and the
masking of phone numbers people typed inside message texts."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from app import clock
from app.domain import clinics
from app.domain.phones import mask_phone, try_normalize_phone
from app.domain.stats import period_bounds
from app.models import (
    AuditLog,
    Clinic,
    CodeState,
    Message,
    Redemption,
    ReferralCode,
    Reminder,
    Service,
    Worker,
)

EXPORT_BATCH = 1000


@dataclass(frozen=True)
class CodeRow:
    """A code with its service code and its redemption (if any)."""

    code: ReferralCode
    service: str
    redemption: Redemption | None


@dataclass(frozen=True)
class RedemptionRow:
    redemption: Redemption
    code: ReferralCode
    service: str


@dataclass(frozen=True)
class ExportNames:
    """What a spreadsheet shows beside the ids: internal (staff-facing) names
    and the code's district."""

    service_name: str
    clinic_name: str | None  # the clinic referred to
    redeemed_clinic_name: str | None
    worker_name: str | None
    district: str | None


@dataclass(frozen=True)
class CodeExportRow(CodeRow):
    names: ExportNames


@dataclass(frozen=True)
class RedemptionExportRow(RedemptionRow):
    names: ExportNames


def _with_names(stmt):
    """`stmt` (codes joined with their service and, outer or inner, their
    redemption) with the ExportNames columns added, by outer joins on the
    small tables. The district is the redeeming clinic's, else the referred
    clinic's, else the worker's (as in `stats`)."""
    referred = aliased(Clinic, name="referred_clinic")
    redeemed = aliased(Clinic, name="redeemed_clinic")
    return (
        stmt.add_columns(
            Service.name,
            referred.name,
            redeemed.name,
            Worker.name,
            sa.func.coalesce(redeemed.district, referred.district, Worker.district),
        )
        .outerjoin(referred, referred.id == ReferralCode.clinic_id)
        .outerjoin(redeemed, redeemed.id == Redemption.clinic_id)
        .outerjoin(Worker, Worker.id == ReferralCode.worker_id)
    )


def _count(session: Session, stmt) -> int:
    return int(session.exec(select(sa.func.count()).select_from(stmt.order_by(None).subquery())).one())


def _state_filter(state: CodeState, now: datetime):
    """SQL form of `code_text.effective_state`: an issued code past expiry is expired."""
    if state == CodeState.issued:
        return sa.and_(ReferralCode.state == CodeState.issued, ReferralCode.expires_at > now)
    if state == CodeState.expired:
        return sa.or_(
            ReferralCode.state == CodeState.expired,
            sa.and_(ReferralCode.state == CodeState.issued, ReferralCode.expires_at <= now),
        )
    return ReferralCode.state == state


def _codes_query(
    *,
    state: CodeState | None,
    service: str | None,
    worker_id: int | None,
    clinic_id: int | None,
    issued_from: date | None,
    issued_to: date | None,
    tz: ZoneInfo,
):
    stmt = (
        select(ReferralCode, Service.code, Redemption)
        .join(Service, Service.id == ReferralCode.service_id)
        .outerjoin(Redemption, Redemption.code_id == ReferralCode.id)
    )
    if state is not None:
        stmt = stmt.where(_state_filter(state, clock.now()))
    if service:
        stmt = stmt.where(Service.code == service.strip().upper())
    if worker_id is not None:
        stmt = stmt.where(ReferralCode.worker_id == worker_id)
    if clinic_id is not None:  # referred to, or redeemed at, that clinic
        stmt = stmt.where(sa.or_(ReferralCode.clinic_id == clinic_id, Redemption.clinic_id == clinic_id))
    start, end = period_bounds(issued_from, issued_to, tz)
    if start is not None:
        stmt = stmt.where(ReferralCode.issued_at >= start)
    if end is not None:
        stmt = stmt.where(ReferralCode.issued_at < end)
    return stmt


def list_codes(
    session: Session, *, tz: ZoneInfo, limit: int, offset: int, **filters: Any
) -> tuple[list[CodeRow], int]:
    """Codes matching the filters (state is the effective state), newest first."""
    stmt = _codes_query(tz=tz, **filters)
    rows = session.exec(stmt.order_by(ReferralCode.id.desc()).limit(limit).offset(offset)).all()  # type: ignore[union-attr]
    return [CodeRow(c, s, r) for c, s, r in rows], _count(session, stmt)


def code_row(session: Session, code: ReferralCode) -> CodeRow:
    service = clinics.service_by_id(session, code.service_id)
    redemption = session.exec(select(Redemption).where(Redemption.code_id == code.id)).first()
    return CodeRow(code, service.code if service else "", redemption)


def codes_export(*, tz: ZoneInfo, **filters: Any) -> Callable[[Session], Iterator[CodeExportRow]]:
    """Check the filters now (raises like `list_codes`); the returned
    function yields every matching code with its names, oldest first,
    fetched EXPORT_BATCH at a time (a server-side cursor on PostgreSQL)."""
    stmt = (
        _with_names(_codes_query(tz=tz, **filters))
        .order_by(ReferralCode.id)
        .execution_options(yield_per=EXPORT_BATCH)
    )

    def rows(session: Session) -> Iterator[CodeExportRow]:
        for c, s, r, *names in session.exec(stmt):
            yield CodeExportRow(c, s, r, ExportNames(*names))

    return rows


# ---------------------------------------------------------------- redemptions


def _redemptions_query(
    *, clinic_id: int | None, service: str | None, worker_id: int | None, date_from, date_to, tz
):
    stmt = (
        select(Redemption, ReferralCode, Service.code)
        .join(ReferralCode, ReferralCode.id == Redemption.code_id)
        .join(Service, Service.id == ReferralCode.service_id)
    )
    if clinic_id is not None:
        stmt = stmt.where(Redemption.clinic_id == clinic_id)
    if service:
        stmt = stmt.where(Service.code == service.strip().upper())
    if worker_id is not None:
        stmt = stmt.where(ReferralCode.worker_id == worker_id)
    start, end = period_bounds(date_from, date_to, tz)
    if start is not None:
        stmt = stmt.where(Redemption.redeemed_at >= start)
    if end is not None:
        stmt = stmt.where(Redemption.redeemed_at < end)
    return stmt


def list_redemptions(
    session: Session, *, tz: ZoneInfo, limit: int, offset: int, **filters: Any
) -> tuple[list[RedemptionRow], int]:
    """Redemptions matching the filters (dates: when redeemed), newest first."""
    stmt = _redemptions_query(tz=tz, **filters)
    rows = session.exec(stmt.order_by(Redemption.id.desc()).limit(limit).offset(offset)).all()  # type: ignore[union-attr]
    return [RedemptionRow(r, c, s) for r, c, s in rows], _count(session, stmt)


def redemption_row(session: Session, redemption: Redemption) -> RedemptionRow:
    code = session.get(ReferralCode, redemption.code_id)
    service = clinics.service_by_id(session, code.service_id)
    return RedemptionRow(redemption, code, service.code if service else "")


def redemptions_export(*, tz: ZoneInfo, **filters: Any) -> Callable[[Session], Iterator[RedemptionExportRow]]:
    """Like `codes_export`, for redemptions."""
    stmt = (
        _with_names(_redemptions_query(tz=tz, **filters))
        .order_by(Redemption.id)
        .execution_options(yield_per=EXPORT_BATCH)
    )

    def rows(session: Session) -> Iterator[RedemptionExportRow]:
        for r, c, s, *names in session.exec(stmt):
            yield RedemptionExportRow(r, c, s, ExportNames(*names))

    return rows


# ---------------------------------------------------------------- messages, reminders, audit

# digits with at most one space, dot or dash between two of them: `0912 345 678`
_DIGIT_RUN = re.compile(r"\+?\d(?:[ .-]?\d)*")
_PHONE_DIGITS = (9, 15)  # a national mobile number without its 0 .. the longest E.164 number


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _mask_run(run: str, region: str) -> str:
    """The space-separated groups of `run`, each longest span of them that
    is a valid phone number masked like the `phone` field (`+8491****678`);
    a group of 9 or more digits that is no valid number keeps only its last
    3 digits. A referral code (8 digits) is left as typed."""
    groups = run.split(" ")
    out: list[str] = []
    i = 0
    while i < len(groups):
        found: tuple[int, str] | None = None
        digits = 0
        for j in range(i, len(groups)):
            digits += _digits(groups[j])
            if digits > _PHONE_DIGITS[1]:
                break
            phone = (
                try_normalize_phone(" ".join(groups[i : j + 1]), region)
                if digits >= _PHONE_DIGITS[0]
                else None
            )
            if phone:
                found = (j + 1, phone)
        if found:
            out.append(mask_phone(found[1]))
            i = found[0]
            continue
        group = groups[i]
        if _digits(group) >= _PHONE_DIGITS[0]:
            keep = len(group) - 3
            group = "".join("*" if ch.isdigit() else ch for ch in group[:keep]) + group[keep:]
        out.append(group)
        i += 1
    return " ".join(out)


def mask_phones_in_text(text: str, region: str) -> str:
    """`GT VCT 0912345678` -> `GT VCT +8491****678`: every phone number typed
    in a message text masked for the roles that see phones masked; the rest
    of the text (keywords, codes, counts, dates) as it was."""
    return _DIGIT_RUN.sub(lambda m: _mask_run(m.group(0), region), text)


def list_messages(
    session: Session, *, phone: str | None, direction: str | None, limit: int, offset: int
) -> tuple[list[Message], int]:
    """The message log, newest first; `phone` is an E.164 number."""
    stmt = select(Message)
    if phone:
        stmt = stmt.where(Message.phone == phone)
    if direction:
        stmt = stmt.where(Message.direction == direction)
    rows = session.exec(stmt.order_by(Message.id.desc()).limit(limit).offset(offset)).all()  # type: ignore[union-attr]
    return list(rows), _count(session, stmt)


def list_reminders(
    session: Session, *, phone: str | None, status: str | None, kind: str | None, limit: int, offset: int
) -> tuple[list[Reminder], int]:
    """Reminders, the next due first."""
    stmt = select(Reminder)
    if phone:
        stmt = stmt.where(Reminder.phone == phone)
    if status:
        stmt = stmt.where(Reminder.status == status)
    if kind:
        stmt = stmt.where(Reminder.kind == kind)
    rows = session.exec(stmt.order_by(Reminder.due_at, Reminder.id).limit(limit).offset(offset)).all()
    return list(rows), _count(session, stmt)


def list_audit(
    session: Session,
    *,
    actor: str | None,
    action: str | None,
    entity: str | None,
    entity_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[AuditLog], int]:
    """The audit log, newest first."""
    stmt = select(AuditLog)
    if actor:
        stmt = stmt.where(AuditLog.actor == actor)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if entity:
        stmt = stmt.where(AuditLog.entity == entity)
    if entity_id:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    rows = session.exec(stmt.order_by(AuditLog.id.desc()).limit(limit).offset(offset)).all()  # type: ignore[union-attr]
    return list(rows), _count(session, stmt)
