"""Referral codes: issue, look up, redeem once, void, expire. Issuing (one
valid code per client and service: resend or replace) is in
`app.domain.issuing`, re-exported here; the text rules of a code (parse,
format, check digit, validity) are in `app.domain.code_text`; clinics and
services are looked up in `app.domain.clinics`.

Every redemption attempt and every code look-up made for a phone is written
to the audit log in the caller's transaction (`code.redeem` / `code.attempt`
with an `outcome`): callers commit it even when they answer with the error.
The wrong-code throttle (`app.domain.guesses`) counts those rows, so it
holds across processes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app import clock
from app.config import Settings
from app.domain import audit, clinics, coupons, guesses, reminders
from app.domain.clinics import offers
from app.domain.code_text import effective_state, format_code, parse_code, state_error
from app.domain.errors import (
    AlreadyRedeemed,
    ClinicInactive,
    DomainError,
    MalformedCode,
    NotIssuer,
    NotMobile,
    NotOffered,
    UnknownCode,
)
from app.domain.issuing import Issued as Issued  # issuing is re-exported: codes.issue_code, codes.refer
from app.domain.issuing import generate_code as generate_code
from app.domain.issuing import issue_code as issue_code
from app.domain.issuing import refer as refer
from app.domain.issuing import void_issued
from app.domain.message_log import queue_rendered
from app.domain.people import language_of
from app.domain.phones import is_mobile, mask_phone, normalize_phone
from app.models import Channel, Clinic, CodeState, MessageKind, Redemption, ReferralCode, Service, Worker

# ---------------------------------------------------------------- look-ups


def get_code(
    session: Session, code: str, *, actor: str | None = None, action: str = "code.attempt", **audit_values
) -> ReferralCode:
    """The code row for a typed code, whatever its state. Raises
    MalformedCode (before any query) or UnknownCode; with `actor`, such a
    wrong code is first audited as that actor's guess (`action`, for the
    wrong-code throttle)."""
    try:
        digits = parse_code(code)
        row = session.exec(select(ReferralCode).where(ReferralCode.code == digits)).first()
        if row is None:
            raise UnknownCode(f"no code {format_code(digits)}", code=format_code(digits))
    except (MalformedCode, UnknownCode) as exc:
        if actor:
            guesses.audit_attempt(session, actor, action, exc, code, **audit_values)
        raise
    return row


def code_by_id(session: Session, code_id: int) -> ReferralCode:
    """The code row of `code_id` (a redemption's code: always there)."""
    return session.get(ReferralCode, code_id)


def valid_codes_of(session: Session, phone: str) -> list[ReferralCode]:
    """The codes issued to the client `phone` that can still be redeemed,
    newest first (what a client who forgot the code is sent again)."""
    now = clock.now()
    rows = session.exec(
        select(ReferralCode)
        .where(ReferralCode.client_phone == phone, ReferralCode.state == CodeState.issued)
        .order_by(ReferralCode.id.desc())
        .limit(5)
    ).all()
    return [row for row in rows if effective_state(row, now) == CodeState.issued]


def code_status(
    session: Session,
    code: str,
    *,
    actor: str | None = None,
    settings: Settings | None = None,
    holder: str | None = None,
) -> ReferralCode:
    """The code, when it can still be redeemed. Raises MalformedCode,
    UnknownCode, AlreadyRedeemed, CodeVoided or CodeExpired (past expiry
    counts even when not yet marked). With `actor`, the look-up is audited
    (`code.attempt`, outcome) for the wrong-code throttle.

    `holder` (with `settings`): the phone of a client who typed the code.
    A code still to redeem, or redeemed, without a client phone gets it
    (`coupons.phone_known`); a redeemed code that this gave its coupons is
    returned as it is (state `redeemed`) instead of raising AlreadyRedeemed."""
    row = get_code(session, code, actor=actor)
    now = clock.now()
    state = effective_state(row, now)
    sent = []
    if holder and settings and state in (CodeState.issued, CodeState.redeemed):
        sent = coupons.phone_known(session, settings, row, holder, actor=actor or audit.phone_actor(holder))
    if state != CodeState.issued:
        if sent:
            if actor:
                audit.record(session, actor, "code.attempt", "referral_code", row.id, outcome="coupons_sent")
            return row
        exc = state_error(row, now)
        if actor:
            guesses.audit_attempt(session, actor, "code.attempt", exc, code, row)
        raise exc
    if actor:
        audit.record(session, actor, "code.attempt", "referral_code", row.id, outcome="valid")
    return row


def look_up(session: Session, settings: Settings, code: str, *, actor: str) -> ReferralCode:
    """A code looked up by an API key, whatever its state: refused
    (Throttled) before the look-up once the key tried the wrong-code limit
    of unknown or malformed codes in the hour; every look-up is audited
    (`code.attempt`). Raises Throttled, MalformedCode, UnknownCode."""
    guesses.check_actor_throttle(session, settings, actor)
    row = get_code(session, code, actor=actor)
    audit.record(session, actor, "code.attempt", "referral_code", row.id, outcome="looked_up")
    return row


# ---------------------------------------------------------------- redeem


def redeem_refusal(session: Session, row: ReferralCode, clinic: Clinic, now) -> DomainError | None:
    """Why `clinic` may not redeem `row` now (ClinicInactive, the code's
    state error, NotOffered), or None; reads only."""
    if not clinic.active:
        return ClinicInactive("this clinic is not active", clinic=clinic.display_name)
    if effective_state(row, now) != CodeState.issued:
        return state_error(row, now)
    if not offers(session, clinic.id, row.service_id):
        return NotOffered(
            "clinic does not offer this service",
            clinic=clinic.display_name,
            service=clinics.service_by_id(session, row.service_id).code,
            code=format_code(row.code),
        )
    return None


def redeem_code(
    session: Session,
    settings: Settings,
    code: str,
    *,
    clinic: Clinic,
    channel: Channel,
    actor: str,
    throttle_first: bool = False,
    client_phone: str | None = None,
) -> Redemption:
    """Redeem `code` at `clinic`, at most once ever: one conditional UPDATE
    (issued and not past expiry -> redeemed, with `redeemed_at` and
    `redeemed_clinic_id`) decides among concurrent attempts; the unique
    `redemption.code_id` is the last guard. Stores the clinic, time,
    channel and actor; tells the issuing worker (never the
    client's number); cancels the code's reminders; schedules the re-test
    reminder when the service has one (VCT; see reminders). Every attempt is audited.
    Raises MalformedCode, UnknownCode, ClinicInactive, AlreadyRedeemed,
    CodeVoided, CodeExpired, NotOffered. `throttle_first` (an API key):
    refused with Throttled before the look-up once `actor` is over the
    wrong-code limit, like `look_up`.

    `client_phone` (any written form), when the clinic records the
    client's phone: checked before anything (InvalidPhone, NotMobile), and
    kept as the code's client phone if it has none (never overwritten).
    A redemption then gives the client their peer coupons, and a coupon's
    redemption tells whoever passed it on (`coupons.after_redemption`);
    the worker is told of their own codes, not of their chains' coupons."""
    phone = _client_phone(settings, client_phone)
    if throttle_first:
        guesses.check_actor_throttle(session, settings, actor)
    row = get_code(session, code, actor=actor, action="code.redeem", clinic_id=clinic.id)
    now = clock.now()
    svc = clinics.service_by_id(session, row.service_id)
    failure = redeem_refusal(session, row, clinic, now)
    if failure is None:
        redemption, failure = _record_redemption(session, row, clinic, channel, actor, now)
    if failure is not None:
        guesses.audit_attempt(
            session, actor, "code.redeem", failure, code, row, clinic_id=clinic.id, channel=str(channel)
        )
        raise failure
    audit.record(
        session,
        actor,
        "code.redeem",
        "referral_code",
        row.id,
        outcome="redeemed",
        clinic_id=clinic.id,
        channel=str(channel),
        redemption_id=redemption.id,
    )
    if phone:
        coupons.record_client_phone(session, row, phone, actor=actor)
    if row.parent_code_id is None:
        _tell_worker(session, settings, row, svc, clinic, now)
    reminders.cancel_for_code(session, row.id, "redeemed")
    reminders.schedule_retest(session, settings, row, now)  # decides whether the service has one (VCT)
    coupons.after_redemption(session, settings, row)
    return redemption


def _client_phone(settings: Settings, typed: str | None) -> str | None:
    """The E.164 form of a client phone a clinic typed, or None. Raises
    InvalidPhone, NotMobile (a landline gets no SMS)."""
    if typed is None or not typed.strip():
        return None
    phone = normalize_phone(typed, settings.default_region)
    if not is_mobile(phone):
        raise NotMobile(f"{mask_phone(phone)} is not a mobile number", phone=mask_phone(phone))
    return phone


def _record_redemption(
    session: Session, row: ReferralCode, clinic: Clinic, channel: Channel, actor: str, now: datetime
) -> tuple[Redemption | None, DomainError | None]:
    """The redemption itself, in one savepoint: one conditional UPDATE of the
    code (issued and not past expiry -> redeemed, with the time and clinic
    the statistics read) and the `redemption` row. Among concurrent attempts
    the UPDATE lets exactly one through; the unique `redemption.code_id` is
    the last guard, and if it fires the UPDATE is rolled back with it, so
    the code never carries a redemption that is not there.
    Returns (redemption, None) or (None, the refusal)."""
    try:
        with session.begin_nested():
            changed = session.exec(
                update(ReferralCode)
                .where(
                    ReferralCode.id == row.id,
                    ReferralCode.state == CodeState.issued,
                    ReferralCode.expires_at > now,
                )
                .values(state=CodeState.redeemed, redeemed_at=now, redeemed_clinic_id=clinic.id)
                .execution_options(synchronize_session=False)
            ).rowcount
            if changed != 1:
                session.refresh(row)
                return None, state_error(row, now)
            redemption = Redemption(
                code_id=row.id, clinic_id=clinic.id, redeemed_at=now, channel=channel, actor=actor
            )
            session.add(redemption)
            session.flush()
    except IntegrityError:
        session.refresh(row)
        return None, AlreadyRedeemed("code was already used", code=format_code(row.code))
    session.refresh(row)
    return redemption, None


def _tell_worker(session, settings, row: ReferralCode, svc: Service, clinic: Clinic, now: datetime) -> None:
    worker = session.get(Worker, row.worker_id) if row.worker_id else None
    if worker is None:
        return
    queue_rendered(
        session,
        phone=worker.phone,
        key="codes.worker_told_redeemed",
        language=language_of(session, settings, worker.phone),
        kind=MessageKind.notification,
        code=format_code(row.code),
        service=svc.code,
        clinic=clinic.display_name,
        date=now.astimezone(settings.tz).strftime("%d/%m"),
        time=now.astimezone(settings.tz).strftime("%H:%M"),
    )


# ---------------------------------------------------------------- void and expire


def void_code(session: Session, code: str, *, worker: Worker | None, actor: str) -> ReferralCode:
    """Void an issued, unexpired code. With `worker`, only a code that
    worker issued (None: program staff, any code). Cancels the code's
    reminders. Raises MalformedCode, UnknownCode, AlreadyRedeemed,
    CodeVoided, CodeExpired. A wrong code, and for a worker another
    worker's code, is audited as a guess (`code.attempt`); another worker's
    code is answered as unknown, so VOID never tells whether a code exists."""
    row = get_code(session, code, actor=actor)
    if worker is not None and row.worker_id != worker.id:
        exc = NotIssuer("only the worker who issued a code can void it", code=format_code(row.code))
        guesses.audit_attempt(session, actor, "code.attempt", exc, code)
        raise UnknownCode("not a code of this worker", code=format_code(row.code))
    void_issued(session, row, actor=actor, now=clock.now(), worker_id=worker.id if worker else None)
    return row


def expire_due_codes(session: Session) -> int:
    """Mark every issued code past its expiry as expired (one statement);
    returns how many. Redemption never depends on it having run."""
    return session.exec(
        update(ReferralCode)
        .where(ReferralCode.state == CodeState.issued, ReferralCode.expires_at <= clock.now())
        .values(state=CodeState.expired)
        .execution_options(synchronize_session=False)
    ).rowcount
