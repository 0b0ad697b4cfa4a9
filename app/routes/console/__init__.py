"""The web console, rendered on the server (`/console/`; `/` leads there).
Vietnamese by default, English with `?lang=en` (kept in a cookie), every
word from the catalogues' `[console]` tables. One module per page; what
they share is in `pages`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

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
from app.routes.console.pages import Current, refused

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


@router.get("/console/{unknown:path}")
def unknown_page(request: Request, signed: Current) -> Response:
    """Any other console address: a page that says so (not the API's JSON)."""
    return refused(request, "console_more.no_such_page", 404, signed)
