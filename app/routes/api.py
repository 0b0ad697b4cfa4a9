"""The admin API: every router under `/api/v1`, authenticated with API keys
(`Authorization: Bearer <key>`), errors documented as `{"detail": ...}`."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.routes import (
    apikeys,
    audit,
    clinics,
    codes,
    dhis2,
    export,
    messages,
    redemptions,
    reminders,
    reports,
    services,
    stats,
    workers,
)
from app.routes.deps import API_ERRORS, reject_repeated_query_parameters

router = APIRouter(
    prefix="/api/v1", responses=API_ERRORS, dependencies=[Depends(reject_repeated_query_parameters)]
)

MODULES = (
    services, clinics, workers, codes, redemptions, stats, reports, reminders, messages, export, dhis2,
    audit, apikeys,
)  # fmt: skip
for module in MODULES:
    router.include_router(module.router)
