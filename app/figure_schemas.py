"""What the admin API shows of figures: statistics (`/stats/...`), the
indicators, the monthly report, and the referral chains of peer coupons
(the tree below a code and the chain figures). Beside `app.schemas`, which
holds the variants of every resource."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.models import CodeState

# ---------------------------------------------------------------- statistics and indicators

GroupBy = Literal["worker", "clinic", "service", "district", "month"]


class StatsRow(BaseModel):
    key: str | None = Field(description="group key (id, code, district or YYYY-MM); null: none recorded")
    label: str | None
    issued: int
    redeemed: int
    redemption_rate: float | None = Field(description="redeemed / issued, 0..1; null when nothing issued")
    median_days_to_redeem: float | None


class StatsPage(BaseModel):
    items: list[StatsRow]
    total: int = Field(description="rows matching the filters, ignoring limit and offset")
    group_by: GroupBy
    date_from: date | None = Field(serialization_alias="from")
    date_to: date | None = Field(serialization_alias="to")


class Indicators(BaseModel):
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    people_reached: int = Field(description="workers' REACH reports")
    condoms_distributed: int
    group_meetings: int = Field(description="workers' MEET reports")
    group_meeting_participants: int
    people_referred: int = Field(
        description="distinct people among the codes issued in the period (a phone is one person, "
        "a code without a phone one person; voided codes excepted)"
    )
    codes_issued: int = Field(description="codes issued in the period (voided ones excepted)")
    referred_to_vct: int = Field(description="distinct people referred to VCT")
    went_to_vct: int = Field(description="distinct people whose VCT code was redeemed in the period")
    referred_to_mmt: int
    went_to_mmt: int
    redeemed: int = Field(description="codes of any service redeemed in the period")
    opt_outs: int
    reached_through_peers: int = Field(
        description="distinct people whose peer coupon was redeemed in the period"
    )


# ---------------------------------------------------------------- the monthly report


class ReportRowPublic(BaseModel):
    district: str = Field(description="the site's district; for outreach, the worker's")
    site: str = Field(description="the clinic's name; empty for outreach and codes without a clinic")
    clinic_id: int | None
    population_group: str | None = Field(description="in `groups` only: the referral's population group")
    people_reached: int
    condoms_distributed: int
    group_meetings: int
    group_meeting_participants: int
    people_referred: int
    codes_issued: int
    referred_to_vct: int
    went_to_vct: int
    referred_to_mmt: int
    went_to_mmt: int
    redeemed: int
    opt_outs: int
    reached_through_peers: int
    redemption_rate: float | None = Field(description="codes issued in the month and redeemed, over issued")
    median_days_to_redeem: float | None


class MonthlyReportPublic(BaseModel):
    month: str
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    rows: list[ReportRowPublic] = Field(description="per district and site")
    total: ReportRowPublic = Field(description="the whole month: unique counts over all rows, not their sum")
    groups: list[ReportRowPublic] = Field(description="per population group, when referrals carry one")


# ---------------------------------------------------------------- referral chains


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
