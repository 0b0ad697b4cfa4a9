"""Peer coupons: codes a client passes on to partners and peers, and the
chains they make (enhanced peer outreach, respondent-driven sampling).

A service with `peer_coupons` > 0 gives each client whose code of it is
redeemed that many coupons, if the client's phone is known and has not
opted out and the chain may grow (`code.wave + 1 <= max_waves`: the
worker's code is wave 0, its coupons wave 1). A coupon is a referral code
like any other (format, expiry of its service, redeem-once, throttles),
with its parent and wave; its worker is the chain's starting worker, its
channel `coupon`, its client phone unknown until its holder texts it or the
clinic records it (`record_client_phone`; never overwritten). Each coupon
is one SMS to the parent's phone, written to be forwarded, through the
outbox. A parent's coupons are issued at most once ever: a conditional
UPDATE of its `coupons_issued_at` decides, under concurrency and retries.

When a coupon is redeemed the person who passed it on is told, without the
peer's number or code. A phone opted out (or unknown) at redemption gets no
coupons then; a phone that becomes known later gets them then, once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, select

from app import clock
from app.config import Settings
from app.domain import audit, clinics, reminders
from app.domain.code_text import format_code, valid_until_text
from app.domain.issuing import insert_code
from app.domain.message_log import queue_rendered
from app.domain.people import is_opted_out, language_of
from app.domain.phones import mask_phone
from app.models import Channel, CodeState, MessageKind, ReferralCode, Service

SYSTEM = "system"


def coupon_services(session: Session, svc: Service) -> list[Service]:
    """The active services `svc`'s coupons are for, in the order they are
    dealt (its `coupon_services`; none listed: `svc` itself)."""
    found = []
    for code in svc.coupon_services or [svc.code]:
        target = clinics.service_by_code(session, code)
        if target is not None and target.active:
            found.append(target)
    return found


def coupons_due(svc: Service, code: ReferralCode) -> int:
    """How many coupons a redemption of `code` (of `svc`) gives: 0 when the
    service gives none or the chain is at its deepest wave."""
    if svc.peer_coupons <= 0 or code.wave + 1 > svc.max_waves:
        return 0
    return svc.peer_coupons


def issue_coupons(session: Session, settings: Settings, parent: ReferralCode) -> list[ReferralCode]:
    """The coupons of the redeemed code `parent`, each sent to its client
    phone as its own SMS; [] when none are due (no phone, opted out, service
    without coupons, wave limit) or they were issued already. At most once
    per parent: the conditional UPDATE of `coupons_issued_at` lets one
    caller through, whatever runs at the same moment."""
    if parent.state != CodeState.redeemed or not parent.client_phone or parent.coupons_issued_at:
        return []
    svc = clinics.service_by_id(session, parent.service_id)
    count = coupons_due(svc, parent)
    targets = coupon_services(session, svc) if count else []
    if not targets or is_opted_out(session, parent.client_phone):
        return []
    now = clock.now()
    claimed = session.exec(
        update(ReferralCode)
        .where(
            ReferralCode.id == parent.id,
            ReferralCode.state == CodeState.redeemed,
            ReferralCode.coupons_issued_at.is_(None),
        )
        .values(coupons_issued_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(parent)
    if claimed != 1:
        return []
    issued = [_issue_one(session, settings, parent, targets[i % len(targets)], now) for i in range(count)]
    language = language_of(session, settings, parent.client_phone)
    key = "coupons.sms_number" if _service_number(settings) else "coupons.sms"
    for row in issued:
        target = clinics.service_by_id(session, row.service_id)
        queue_rendered(
            session,
            phone=parent.client_phone,
            key=key,
            language=language,
            kind=MessageKind.notification,
            code=format_code(row.code),
            service=clinics.service_label(target, language),
            until=valid_until_text(row, settings.tz),
            number=_service_number(settings),
        )
    return issued


def coupon_count(session: Session, code_id: int) -> int:
    """How many coupons the code `code_id` gave (voided ones too)."""
    return int(
        session.exec(
            select(func.count()).select_from(ReferralCode).where(ReferralCode.parent_code_id == code_id)
        ).one()
    )


def _issue_one(
    session: Session, settings: Settings, parent: ReferralCode, target: Service, now: datetime
) -> ReferralCode:
    row = insert_code(
        session,
        target,
        worker_id=parent.worker_id,
        phone=None,
        clinic_id=None,
        channel=Channel.coupon,
        now=now,
        tz=settings.tz,
        parent_code_id=parent.id,
        wave=parent.wave + 1,
    )
    audit.record(
        session,
        SYSTEM,
        "code.issue",
        "referral_code",
        row.id,
        service=target.code,
        worker_id=row.worker_id,
        channel=str(Channel.coupon),
        parent_id=parent.id,
        wave=row.wave,
    )
    return row


def _service_number(settings: Settings) -> str:
    """The number clients text (the first of SMS_SHORTCODES), or ""."""
    return next((n.strip() for n in settings.sms_shortcodes.split(",") if n.strip()), "")


# ---------------------------------------------------------------- the client's phone


def record_client_phone(session: Session, row: ReferralCode, phone: str, *, actor: str) -> bool:
    """Make `phone` (E.164) the client phone of `row` if it has none (one
    conditional UPDATE: a known phone is never overwritten), audited
    `code.client_phone`. A coupon keeps no phone of the one who passed it
    on (they check the coupons they hold). True when recorded."""
    if row.client_phone is not None or phone == _recruiter_phone(session, row):
        return False
    changed = session.exec(
        update(ReferralCode)
        .where(ReferralCode.id == row.id, ReferralCode.client_phone.is_(None))
        .values(client_phone=phone)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(row)
    if changed == 1:
        audit.record(session, actor, "code.client_phone", "referral_code", row.id, phone=mask_phone(phone))
    return changed == 1


def _recruiter_phone(session: Session, row: ReferralCode) -> str | None:
    if row.parent_code_id is None:
        return None
    return session.exec(
        select(ReferralCode.client_phone).where(ReferralCode.id == row.parent_code_id)
    ).first()


def phone_known(
    session: Session, settings: Settings, row: ReferralCode, phone: str, *, actor: str
) -> list[ReferralCode]:
    """The holder of `row` texted it from `phone`: recorded as its client
    phone if it has none (`record_client_phone`); then a code still to
    redeem gets its expiry nudge, a redeemed one its coupons
    (`issue_coupons`). A redeemed code takes the phone only when its
    coupons go to it now: a code whose chain ends there keeps no phone of
    whoever merely checks it. Returns the coupons issued now."""
    if row.state == CodeState.redeemed and not _coupons_would_go(session, row, phone):
        return []
    if not record_client_phone(session, row, phone, actor=actor):
        return []
    if row.state == CodeState.issued:
        reminders.schedule_code_expiry_nudge(session, settings, row)
        return []
    return issue_coupons(session, settings, row)


def _coupons_would_go(session: Session, row: ReferralCode, phone: str) -> bool:
    """Whether the redeemed `row` would give its coupons to `phone` now."""
    if row.coupons_issued_at is not None or is_opted_out(session, phone):
        return False
    svc = clinics.service_by_id(session, row.service_id)
    return bool(coupons_due(svc, row) and coupon_services(session, svc))


# ---------------------------------------------------------------- after a redemption


def after_redemption(session: Session, settings: Settings, row: ReferralCode) -> list[ReferralCode]:
    """What a redemption of `row` does for chains: its own coupons
    (`issue_coupons`), and for a coupon, a notice to the one who passed it
    on. Returns the coupons issued."""
    issued = issue_coupons(session, settings, row)
    if row.parent_code_id is not None:
        _tell_recruiter(session, settings, row.parent_code_id)
    return issued


def _tell_recruiter(session: Session, settings: Settings, parent_id: int) -> None:
    """The discreet notice that a friend used a shared code: how many of
    the parent's coupons came back, never which one or who (the outbox
    skips an opted-out phone)."""
    parent = session.get(ReferralCode, parent_id)
    if parent is None or not parent.client_phone:
        return
    given, used = session.exec(
        select(func.count(), func.count(ReferralCode.redeemed_at)).where(
            ReferralCode.parent_code_id == parent_id, ReferralCode.state != CodeState.voided
        )
    ).one()
    queue_rendered(
        session,
        phone=parent.client_phone,
        key="coupons.friend_came",
        language=language_of(session, settings, parent.client_phone),
        kind=MessageKind.notification,
        used=int(used),
        given=int(given),
    )
