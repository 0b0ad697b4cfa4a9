"""What the admin API accepts and shows, per resource: `Create`, `Update`
and `Public` variants. Inputs forbid unknown fields and bound every string."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StringConstraints

from app.models import CodeState, Direction, ReminderStatus

T = TypeVar("T")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
PhoneText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=32, pattern=r"^\s*\+?[0-9][0-9 ().-]*$"
    ),
    Field(description="any written form: 0912 345 678, 84912345678, +84912345678"),
]
ServiceCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9_]{2,16}$")
]
Id = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]


def _iso_date_text(value: Any) -> Any:
    # Only YYYY-MM-DD text (or a date) is a date here; pydantic would
    # otherwise read `0` as 1970-01-01.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("expected a date as YYYY-MM-DD")
    if not isinstance(value, str | date):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]


def _datetime_text(value: Any) -> Any:
    if not isinstance(value, str | datetime):  # not a number of seconds
        raise ValueError("expected a date and time as ISO 8601, e.g. 2026-12-24T08:00:00+07:00")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_datetime_text)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UpdateInput(Input):
    """A PATCH body: only the fields sent change. Fields that cannot be empty
    are typed without null (their `None` default only means "not sent"), so
    an explicit null is refused with 422."""

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ErrorDetail(BaseModel):
    detail: str = Field(description="what went wrong, for a person to read")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="rows matching the filters, ignoring limit and offset")


# ---------------------------------------------------------------- services

UpToTen = Annotated[StrictInt, Field(ge=0, le=10)]
CouponServices = Annotated[list[ServiceCode], Field(max_length=10)]


class ServiceCreate(Input):
    code: ServiceCode = Field(description="short code used in SMS, e.g. VCT")
    name: Name = Field(description="internal name, staff only")
    display_name: DisplayName = Field(
        description="neutral name shown to clients (a sensitive word is refused)"
    )
    expiry_days: StrictInt = Field(30, ge=1, le=365)
    retest_after_days: StrictInt | None = Field(None, ge=1, le=730)
    peer_coupons: UpToTen = Field(0, description="peer coupons a client gets when their code is redeemed")
    coupon_services: CouponServices = Field(default_factory=list, description="their services ([]: this)")
    max_waves: UpToTen = Field(0, description="deepest wave: the worker's code is 0, its coupons 1")


class ServiceUpdate(UpdateInput):
    name: Name = None
    display_name: DisplayName = None
    expiry_days: StrictInt = Field(None, ge=1, le=365)
    retest_after_days: StrictInt | None = Field(None, ge=1, le=730)
    active: StrictBool = Field(None, description="false deactivates: no new codes for this service")
    peer_coupons: UpToTen = None
    coupon_services: CouponServices = Field(None, description="replaces the list; codes dealt in turn")
    max_waves: UpToTen = None


class ServicePublic(BaseModel):
    id: int
    code: str
    name: str
    display_name: str
    expiry_days: int
    retest_after_days: int | None
    peer_coupons: int
    coupon_services: list[str]
    max_waves: int
    active: bool
    created_at: datetime


# ---------------------------------------------------------------- clinics


class StaffIn(Input):
    phone: PhoneText
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""


class StaffPublic(BaseModel):
    id: int
    phone: str
    name: str
    active: bool


class ClinicCreate(Input):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=160)]
    display_name: DisplayName = Field(
        description="neutral name shown to clients (a sensitive word is refused)"
    )
    district: DisplayName
    province: ShortText = ""
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    hours: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    phone: PhoneText | None = None
    services: list[ServiceCode] = Field(
        default_factory=list, max_length=50, description="service codes offered"
    )
    staff: list[StaffIn] = Field(
        default_factory=list, max_length=100, description="staff phones that redeem by SMS"
    )


class ClinicUpdate(UpdateInput):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=160)] = None
    display_name: DisplayName = None
    district: DisplayName = None
    province: ShortText = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = None
    hours: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = None
    phone: PhoneText | None = None
    services: list[ServiceCode] = Field(None, max_length=50, description="replaces the offered services")
    staff: list[StaffIn] = Field(
        None,
        max_length=100,
        description="the whole staff list: phones not in it are deactivated (the answer lists them in "
        "`staff_removed`); not with `add_staff` / `remove_staff`",
    )
    add_staff: list[StaffIn] = Field(
        None, max_length=100, description="staff phones to add (or reactivate); the others are kept"
    )
    remove_staff: list[PhoneText] = Field(
        None, max_length=100, description="staff phones of this clinic to deactivate; the others are kept"
    )
    active: StrictBool = Field(None, description="false deactivates: hidden from CLINIC, no redemptions")


class ClinicPublic(BaseModel):
    id: int
    name: str
    display_name: str
    district: str
    province: str
    address: str
    hours: str
    phone: str | None
    active: bool
    services: list[str]
    staff: list[StaffPublic]
    created_at: datetime


class ClinicUpdated(ClinicPublic):
    """A clinic after a PATCH, with what its staff change did."""

    staff_added: list[str] = Field(description="staff phones this update made active")
    staff_removed: list[str] = Field(description="staff phones this update deactivated")


# ---------------------------------------------------------------- workers


class WorkerCreate(Input):
    name: Name
    phone: PhoneText
    district: ShortText = ""


class WorkerUpdate(UpdateInput):
    name: Name = None
    phone: PhoneText = None
    district: ShortText = None
    active: StrictBool = Field(None, description="false deactivates: the phone can no longer issue codes")


class WorkerPublic(BaseModel):
    id: int
    name: str
    phone: str
    district: str
    active: bool
    created_at: datetime


# ---------------------------------------------------------------- codes and redemptions


class CodeIssue(Input):
    service: ServiceCode
    worker_id: Id | None = Field(None, description="the issuing worker, if any")
    client_phone: PhoneText | None = Field(None, description="the client gets the code by SMS")
    clinic_id: Id | None = Field(None, description="suggested clinic")
    population_group: Annotated[str, StringConstraints(strip_whitespace=True, max_length=8)] | None = Field(
        None, description="a tag of POPULATION_GROUPS (e.g. BT), for the reports; never a name"
    )


class CodeRedeem(Input):
    clinic_id: Id | None = Field(None, description="where the client came; a clinic key always uses its own")
    client_phone: PhoneText | None = Field(None, description="the client's phone, kept if the code has none")


class CodePublic(BaseModel):
    code: str = Field(description="8 digits")
    display: str = Field(description="grouped for reading, e.g. 4821-5093")
    state: CodeState = Field(description="effective state: an issued code past expiry is expired")
    population_group: str | None = None
    service: str
    wave: int = Field(0, description="0: a worker's or staff's code; a peer coupon: its parent's + 1")
    worker_id: int | None
    clinic_id: int | None = Field(description="suggested clinic")
    client_phone: str | None = Field(description="masked unless admin")
    channel: str
    issued_at: datetime
    expires_at: datetime
    voided_at: datetime | None
    redeemed_at: datetime | None
    redeemed_clinic_id: int | None


class RedemptionPublic(BaseModel):
    id: int
    code: str
    display: str
    service: str
    clinic_id: int
    worker_id: int | None
    issued_at: datetime
    redeemed_at: datetime
    channel: str
    actor: str


# ---------------------------------------------------------------- reminders, messages, audit


class ReminderCreate(Input):
    phone: PhoneText
    due_at: IsoDateTime = Field(description="when to send, with a time zone")
    text_key: Annotated[str, StringConstraints(pattern=r"^(reminder\.)?custom_[a-z0-9_]{1,40}$")] = Field(
        description="catalogue key, e.g. reminder.custom_visit"
    )
    params: dict[
        Annotated[str, StringConstraints(max_length=40)],
        Annotated[str, StringConstraints(max_length=200)] | StrictInt,
    ] = Field(default_factory=dict, max_length=10, description="values for the text's placeholders")


class ReminderPublic(BaseModel):
    id: int
    kind: str
    phone: str = Field(description="masked unless admin")
    due_at: datetime
    text_key: str
    status: ReminderStatus
    code_id: int | None
    appointment_id: int | None
    attempts: int
    last_error: str | None
    created_by: str
    created_at: datetime
    sent_at: datetime | None
    cancelled_at: datetime | None


class MessagePublic(BaseModel):
    id: int
    direction: Direction
    phone: str = Field(description="masked unless admin")
    text: str
    status: str
    kind: str
    channel: str
    segments: int
    gateway: str | None = Field(None, description="the gateway it came in by or went out through")
    gateway_id: str | None = Field(
        None, description="the gateway's own id of an outbound message, once known"
    )
    created_at: datetime
    sent_at: datetime | None


class AuditPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    detail: dict[str, Any]


class ApiKeyCreate(Input):
    name: Name = Field(description="who holds the key, unique, e.g. 'M&E officer'")
    role: Literal["admin", "clinic", "viewer"]
    clinic_id: Id | None = Field(default=None, description="the clinic of a clinic key")
    expires_in_days: Annotated[StrictInt, Field(ge=1, le=3650)] | None = Field(
        default=None, description="the key stops working this many days from now (none: until revoked)"
    )


class ApiKeyRotate(Input):
    expires_in_days: Annotated[StrictInt, Field(ge=1, le=3650)] | None = None


class ApiKeyPublic(BaseModel):
    id: int
    name: str
    role: str
    clinic_id: int | None
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    active: bool = Field(description="false once revoked")
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute")
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="the plain key: shown only in this answer, store it now")
