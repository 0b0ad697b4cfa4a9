"""The web console, rendered on the server (`/console/`; `/` leads there).
Vietnamese by default, English with `?lang=en` (kept in a cookie), every
word from the catalogues' `[console]` tables. One module per page; what
they share is in `pages`."""

from __future__ import annotations

from fastapi import APIRouter

from app.routes.console import (
    apikeys,
    clinics,
    codes,
    messages,
    overview,
    redemptions,
    reminders,
    reports,
    services,
    sign_in,
    users,
    workers,
)

router = APIRouter(include_in_schema=False)
for _pages in (
    sign_in,
    overview,
    workers,
    clinics,
    services,
    codes,
    redemptions,
    reminders,
    messages,
    reports,
    apikeys,
    users,
):
    router.include_router(_pages.router)
