"""Reports: `GET /stats/redemptions?group_by=...`, `GET /stats/chains` and
`GET /indicators`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.domain import chains, reports, stats
from app.figure_schemas import ChainStatsPublic, ChainStatsRow, GroupBy, Indicators, StatsPage, StatsRow
from app.routes.deps import PagingDep, ReaderKey, SessionDep, SettingsDep
from app.schemas import IsoDate

router = APIRouter(tags=["reports"])

FromDate = Annotated[
    IsoDate | None, Query(alias="from", description="first local day (YYYY-MM-DD), included")
]
ToDate = Annotated[IsoDate | None, Query(alias="to", description="last local day (YYYY-MM-DD), included")]


@router.get(
    "/stats/redemptions",
    summary="Redemption statistics by group",
    description=(
        "For the codes issued in the period (voided ones excepted): issued, redeemed, redemption rate and "
        "median days from issue to redemption, grouped by worker, clinic (where redeemed, else where referred), "
        "service, district (of that clinic, else of the worker) or month of issue."
    ),
    response_model=StatsPage,
)
def redemption_stats(
    session: SessionDep,
    settings: SettingsDep,
    key: ReaderKey,
    page: PagingDep,
    group_by: GroupBy = "worker",
    date_from: FromDate = None,
    date_to: ToDate = None,
):
    rows, total = stats.redemption_stats(
        session,
        group_by=group_by,
        date_from=date_from,
        date_to=date_to,
        tz=settings.tz,
        limit=page.limit,
        offset=page.offset,
    )
    return StatsPage(
        group_by=group_by,
        date_from=date_from,
        date_to=date_to,
        items=[StatsRow.model_validate(r, from_attributes=True) for r in rows],
        total=total,
    )


@router.get(
    "/stats/chains",
    summary="Referral chain statistics by starting worker",
    description=(
        "Peer coupons (codes clients pass on) per worker who began the chains, and for the whole program: "
        "coupons given and returned in the period, the return rate of the coupons given in it, the deepest "
        "wave reached and the people who came with a coupon (the rules: README, Peer coupons)."
    ),
    response_model=ChainStatsPublic,
)
def chain_stats(
    session: SessionDep,
    settings: SettingsDep,
    key: ReaderKey,
    date_from: FromDate = None,
    date_to: ToDate = None,
):
    rows, total = chains.chain_stats(session, date_from=date_from, date_to=date_to, tz=settings.tz)
    return ChainStatsPublic(
        date_from=date_from,
        date_to=date_to,
        items=[ChainStatsRow.model_validate(r, from_attributes=True) for r in rows],
        total=ChainStatsRow.model_validate(total, from_attributes=True),
    )


@router.get(
    "/indicators",
    summary="Program indicators for a period",
    description=(
        "People, not codes: a client phone is one person, a code without a phone one person, each "
        "unique count taken over the whole period. The same figures as the monthly report and the "
        "DHIS2 export (the rules: README, Reports)."
    ),
    response_model=Indicators,
)
def indicators(
    session: SessionDep,
    settings: SettingsDep,
    key: ReaderKey,
    date_from: Annotated[IsoDate, Query(alias="from", description="first local day (YYYY-MM-DD), included")],
    date_to: Annotated[IsoDate, Query(alias="to", description="last local day (YYYY-MM-DD), included")],
):
    [total] = reports.figures(session, date_from=date_from, date_to=date_to, tz=settings.tz)
    return Indicators(date_from=date_from, date_to=date_to, **total.figures)
