"""What the admin API shows of referral chains made by peer coupons: the
tree below a code (`GET /codes/{code}/chain`) and the chain figures
(`GET /stats/chains`). Beside `app.schemas`, which holds every other
resource's variants."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from app.models import CodeState


class ChainNodePublic(BaseModel):
    code: str = Field(description="8 digits")
    display: str
    wave: int = Field(description="0: a worker's or staff's code; a coupon: its parent's + 1")
    state: CodeState = Field(description="effective state: an issued code past expiry is expired")
    service: str
    clinic_id: int | None = Field(description="where it was redeemed, else the clinic suggested")
    client_phone: str | None = Field(description="masked unless admin")
    issued_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None
    children: list[ChainNodePublic] = Field(description="the coupons this code gave, in the order issued")


class ChainPublic(BaseModel):
    parent_code: str | None = Field(description="the code's own parent (8 digits), when it is a coupon")
    size: int = Field(description="codes in the tree, this one included")
    truncated: bool = Field(description="true when the tree was cut at its size limit")
    root: ChainNodePublic


class ChainStatsRow(BaseModel):
    worker_id: int | None = Field(description="the chains' starting worker; null: begun by program staff")
    worker_name: str | None
    coupons_given: int = Field(description="coupons issued in the period (voided ones excepted)")
    coupons_returned: int = Field(description="coupons redeemed in the period")
    return_rate: float | None = Field(
        description="of the coupons given in the period, the share redeemed by now; null when none given"
    )
    waves_reached: int = Field(description="the deepest wave among the coupons redeemed in the period")
    people_reached: int = Field(
        description="distinct people among the coupons redeemed in the period (a phone is one person, a "
        "coupon without a phone one person)"
    )


class ChainStatsPublic(BaseModel):
    date_from: date | None = Field(serialization_alias="from")
    date_to: date | None = Field(serialization_alias="to")
    items: list[ChainStatsRow] = Field(description="per starting worker")
    total: ChainStatsRow = Field(description="the whole program: unique counts, not the sum of the rows")
