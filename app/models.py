"""Tables of the whole service (SQLModel on SQLAlchemy 2).

Every time column is `UTCDateTime`: stored as naive UTC on both databases and
read back as an aware UTC datetime, so SQLite and PostgreSQL behave the same.
Schema changes go through Alembic (`migrations/`); a test fails when these
models and the migrations disagree."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from app import clock


class UTCDateTime(TypeDecorator):
    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


# ---------------------------------------------------------------- enumerations


class Role(StrEnum):
    worker = "worker"
    clinic = "clinic"
    client = "client"


class CodeState(StrEnum):
    issued = "issued"
    redeemed = "redeemed"
    expired = "expired"
    voided = "voided"


class Channel(StrEnum):
    sms = "sms"
    ussd = "ussd"
    api = "api"
    web = "web"  # the console
    coupon = "coupon"  # a peer coupon, issued when its parent code was redeemed


class Direction(StrEnum):
    inbound = "in"
    outbound = "out"


class MessageStatus(StrEnum):
    received = "received"  # inbound, stored
    queued = "queued"  # outbound, waiting for the sender
    sending = "sending"  # claimed by a sender (lease in claimed_until)
    sent = "sent"  # accepted by the gateway
    buffered = "buffered"  # delivery report: queued at the operator
    delivered = "delivered"  # delivery report: Success
    rejected = "rejected"
    failed = "failed"
    expired = "expired"
    skipped = "skipped"  # never sent: opted out, capped, ...


class MessageKind(StrEnum):
    inbound = "inbound"
    reply = "reply"  # answer to an inbound SMS (counts for the auto-reply cap)
    notification = "notification"  # e.g. code to client, redemption to worker
    reminder = "reminder"


class ReminderKind(StrEnum):
    code_expiry = "code_expiry"
    appointment_day_before = "appointment_day_before"
    appointment_soon = "appointment_soon"
    retest = "retest"
    custom = "custom"


class ReminderStatus(StrEnum):
    pending = "pending"
    claimed = "claimed"
    sent = "sent"  # handed to the outbox (see message_id)
    skipped = "skipped"  # opted out, ... (see last_error)
    failed = "failed"
    cancelled = "cancelled"


class AppointmentStatus(StrEnum):
    booked = "booked"
    cancelled = "cancelled"
    attended = "attended"


class ApiRole(StrEnum):
    admin = "admin"
    clinic = "clinic"
    viewer = "viewer"


# ---------------------------------------------------------------- people


class Person(SQLModel, table=True):
    """One phone number: its language and its opt-out. Exists for every phone
    the service has talked to; role comes from Worker / ClinicStaff."""

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=20, unique=True, index=True)
    language: str | None = Field(default=None, max_length=12)
    opted_out: bool = Field(default=False)
    opted_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)


class Service(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True, index=True)  # VCT, MMT, STI, PREP
    name: str = Field(max_length=120)  # internal name, staff only
    display_name: str = Field(max_length=80)  # neutral, shown to clients
    expiry_days: int = Field(default=30)
    retest_after_days: int | None = Field(default=None)  # None: no re-test reminder
    # peer coupons (app.domain.coupons): how many a client gets when a code of
    # this service is redeemed (0: none), the service codes they are for, in
    # turn ([]: this service), and the deepest wave a chain may reach
    peer_coupons: int = Field(default=0)
    coupon_services: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    max_waves: int = Field(default=0)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)


class Clinic(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=160)  # internal name
    display_name: str = Field(max_length=80)  # neutral, shown to clients
    district: str = Field(max_length=80, index=True)
    province: str = Field(default="", max_length=80)
    address: str = Field(default="", max_length=200)
    hours: str = Field(default="", max_length=120)
    phone: str | None = Field(default=None, max_length=20)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)


class ClinicService(SQLModel, table=True):
    __tablename__ = "clinic_service"
    clinic_id: int = Field(foreign_key="clinic.id", primary_key=True)
    service_id: int = Field(foreign_key="service.id", primary_key=True)


class ClinicStaff(SQLModel, table=True):
    __tablename__ = "clinic_staff"
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    phone: str = Field(max_length=20, unique=True, index=True)
    name: str = Field(default="", max_length=120)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)


class Worker(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    phone: str = Field(max_length=20, unique=True, index=True)
    district: str = Field(default="", max_length=80)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)


# ---------------------------------------------------------------- codes


class ReferralCode(SQLModel, table=True):
    __tablename__ = "referral_code"
    __table_args__ = (
        sa.Index("ix_referral_code_state_expires", "state", "expires_at"),
        sa.Index("ix_referral_code_worker_issued", "worker_id", "issued_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=12, unique=True, index=True)  # digits only, with check digit
    service_id: int = Field(foreign_key="service.id", index=True)
    worker_id: int | None = Field(default=None, foreign_key="worker.id")
    clinic_id: int | None = Field(default=None, foreign_key="clinic.id", index=True)  # suggested clinic
    client_phone: str | None = Field(default=None, max_length=20, index=True)
    state: str = Field(default=CodeState.issued, max_length=12)
    channel: str = Field(default=Channel.sms, max_length=8)  # how it was issued
    issued_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime, index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Copies of the redemption, written by the same conditional UPDATE that
    # redeems the code (codes.redeem_code), so statistics read one table, no join.
    redeemed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    redeemed_clinic_id: int | None = Field(default=None)
    # the worker's optional tag for the client's population group (settings'
    # POPULATION_GROUPS, e.g. BT); never a name
    population_group: str | None = Field(default=None, max_length=16)
    # a peer coupon's parent code; wave 0 for a worker's or staff's code, the
    # parent's + 1 for a coupon; when the code's own coupons were issued (set
    # once, by a conditional UPDATE: app.domain.coupons)
    parent_code_id: int | None = Field(default=None, foreign_key="referral_code.id", index=True)
    wave: int = Field(default=0)
    coupons_issued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Redemption(SQLModel, table=True):
    """At most one per code: the unique constraint on code_id is the last
    guard against a double redemption."""

    id: int | None = Field(default=None, primary_key=True)
    code_id: int = Field(foreign_key="referral_code.id", unique=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    redeemed_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime, index=True)
    channel: str = Field(max_length=8)
    actor: str = Field(default="", max_length=120)  # staff phone or API key name


class Appointment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code_id: int | None = Field(default=None, foreign_key="referral_code.id", index=True)
    client_phone: str = Field(max_length=20, index=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    status: str = Field(default=AppointmentStatus.booked, max_length=12)
    created_by: str = Field(default="", max_length=120)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)


class OutreachReport(SQLModel, table=True):
    """A worker's REACH for one day; the reports of one day add up."""

    __tablename__ = "outreach_report"
    __table_args__ = (sa.UniqueConstraint("worker_id", "report_date", name="uq_outreach_worker_day"),)

    id: int | None = Field(default=None, primary_key=True)
    worker_id: int = Field(foreign_key="worker.id")
    report_date: date = Field(index=True)
    people_reached: int = Field(default=0)
    condoms: int = Field(default=0)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)


class GroupMeeting(SQLModel, table=True):
    """One group meeting a worker held (`MEET <participants>`)."""

    __tablename__ = "group_meeting"

    id: int | None = Field(default=None, primary_key=True)
    worker_id: int = Field(foreign_key="worker.id", index=True)
    meeting_date: date = Field(index=True)  # the local day it was reported
    participants: int = Field(default=0)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)


# ---------------------------------------------------------------- messages and reminders


MAX_ID = 2**31 - 1  # the largest id an INTEGER primary key holds (PostgreSQL's int4)


class Message(SQLModel, table=True):
    """The message log and the outbox in one table.

    Inbound: one row per (gateway, the gateway's message id), so a
    re-delivered SMS is stored once. Outbound: written with status `queued`
    before any gateway call; a sender claims it (`sending`, lease in
    `claimed_until`), then `gateway_id` and the delivery status follow."""

    __table_args__ = (
        sa.Index("ix_message_due", "status", "next_attempt_at"),
        sa.Index("ix_message_phone_created", "phone", "created_at"),
        # an inbound SMS is stored once per (gateway, the gateway's message id)
        sa.Index("uq_message_gateway_external_id", "gateway", "external_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    direction: str = Field(max_length=3)
    kind: str = Field(max_length=16)
    phone: str = Field(max_length=32)  # E.164 when valid, raw text otherwise
    text: str = Field(sa_type=sa.Text)
    status: str = Field(max_length=12)
    channel: str = Field(default=Channel.sms, max_length=8)
    language: str | None = Field(default=None, max_length=12)
    keyword: str | None = Field(default=None, max_length=24)  # inbound: what the router matched
    gateway: str | None = Field(default=None, max_length=24)  # came in by / went out through
    external_id: str | None = Field(default=None, max_length=128)  # inbound: the gateway's message id
    gateway_id: str | None = Field(default=None, max_length=128, index=True)  # outbound gateway id
    shortcode: str | None = Field(default=None, max_length=32)
    link_id: str | None = Field(default=None, max_length=128)
    network_code: str | None = Field(default=None, max_length=16)
    segments: int = Field(default=1)
    encoding: str = Field(default="GSM-7", max_length=8)
    in_reply_to: int | None = Field(default=None, foreign_key="message.id")
    reminder_id: int | None = Field(default=None, foreign_key="reminder.id", index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the current attempt's gateway call began (cleared once its result is stored)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, max_length=500)
    cost: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime, index=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)


class Reminder(SQLModel, table=True):
    """A reminder to send at `due_at`. The database is the truth: the
    dispatcher claims due rows atomically and turns each into an outbound
    Message, rendered in the person's language at that moment."""

    __table_args__ = (sa.Index("ix_reminder_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    phone: str = Field(max_length=32, index=True)
    due_at: datetime = Field(sa_type=UTCDateTime)
    text_key: str = Field(max_length=64)
    params: dict = Field(default_factory=dict, sa_type=sa.JSON)
    status: str = Field(default=ReminderStatus.pending, max_length=12)
    code_id: int | None = Field(default=None, foreign_key="referral_code.id", index=True)
    appointment_id: int | None = Field(default=None, foreign_key="appointment.id", index=True)
    attempts: int = Field(default=0)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    created_by: str = Field(default="", max_length=120)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---------------------------------------------------------------- access and audit


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    __table_args__ = (sa.Index("uq_api_key_name", "name", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    role: str = Field(max_length=12)
    clinic_id: int | None = Field(default=None, foreign_key="clinic.id")
    prefix: str = Field(max_length=16, index=True)  # first characters, to tell keys apart
    key_hash: str = Field(max_length=128, unique=True)  # sha256 hex of the whole key
    active: bool = Field(default=True)  # False once revoked
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StaffUser(SQLModel, table=True):
    """A person who signs in to the console: program staff or a clinic desk,
    with the roles of API keys. Only an argon2 hash of the password is kept."""

    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)  # lower case
    name: str = Field(max_length=120)
    role: str = Field(max_length=12)
    clinic_id: int | None = Field(default=None, foreign_key="clinic.id")
    password_hash: str = Field(max_length=200)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)
    last_sign_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ConsoleSession(SQLModel, table=True):
    """A signed-in console user's session: the cookie holds a random token,
    the table its SHA-256 and the form token (CSRF) of the session."""

    __tablename__ = "console_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    csrf: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_actor_action_at", "actor", "action", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=120)  # key name, "phone:+84...", "cli", "system"
    action: str = Field(max_length=48)  # e.g. code.issue, code.redeem, code.attempt, clinic.update
    entity: str = Field(default="", max_length=32)
    entity_id: str | None = Field(default=None, max_length=64)
    detail: dict = Field(default_factory=dict, sa_type=sa.JSON)
