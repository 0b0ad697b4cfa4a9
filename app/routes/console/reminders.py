"""`/console/reminders`: the reminders the program will send (the next due
first), then the ones already settled (the latest due first), with their
kind, local due time and status. Same readers as `GET /reminders` (admin and
viewer; a clinic user gets 403); phones are masked for every role but admin."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from app.domain import listings
from app.domain.phones import mask_phone
from app.messages import datetime_text, render
from app.models import Reminder, ReminderKind, ReminderStatus
from app.routes.console.pages import READERS, Current, language, page, reading, sees_phones
from app.routes.deps import SessionDep, SettingsDep

router = APIRouter(include_in_schema=False)

SHOWN = 200  # reminders in each table
UPCOMING = (ReminderStatus.pending, ReminderStatus.claimed)
SETTLED = tuple(s for s in ReminderStatus if s not in UPCOMING)


def local_time(instant: datetime | None, tz: ZoneInfo, lang: str) -> str:
    """`instant` as the program's wall-clock time, in the words of `lang`
    (`14:05 ngày 02/12/2026`, `02/12/2026 at 14:05`)."""
    if instant is None:
        return ""
    moment = instant.astimezone(tz)
    return datetime_text(moment.strftime("%d/%m/%Y"), moment.strftime("%H:%M"), lang)


def label(prefix: str, value: str, known: Iterable[str], lang: str) -> str:
    """The catalogue's word for `value` (`console_logs.<prefix><value>`), or
    the value itself when it is not one the catalogues name."""
    return render(f"console_logs.{prefix}{value}", lang) if value in set(known) else value


def _with_status(session: Session, status: str, *, latest: bool) -> tuple[list[Reminder], int]:
    """The first SHOWN reminders of `status` by due time, or with `latest`
    the last SHOWN; and how many there are."""
    rows, total = listings.list_reminders(
        session, phone=None, status=status, kind=None, limit=SHOWN, offset=0
    )
    if latest and total > SHOWN:
        rows, _ = listings.list_reminders(
            session, phone=None, status=status, kind=None, limit=SHOWN, offset=total - SHOWN
        )
    return rows, total


def _table(session: Session, statuses, *, latest: bool) -> tuple[list[Reminder], int]:
    found, total = [], 0
    for status in statuses:
        rows, count = _with_status(session, status, latest=latest)
        found += rows
        total += count
    found.sort(key=lambda r: (r.due_at, r.id), reverse=latest)
    return found[:SHOWN], total


def _row(reminder: Reminder, *, admin: bool, tz: ZoneInfo, lang: str) -> dict:
    return {
        "id": reminder.id,
        "kind": label("kind_", reminder.kind, ReminderKind, lang),
        "due": local_time(reminder.due_at, tz, lang),
        "status": label("status_", reminder.status, ReminderStatus, lang),
        "phone": reminder.phone if admin else mask_phone(reminder.phone),
    }


@router.get("/console/reminders")
def reminders_page(request: Request, session: SessionDep, settings: SettingsDep, signed: Current) -> Response:
    if (gate := reading(request, signed, READERS)) is not None:
        return gate
    lang, admin = language(request), sees_phones(signed)
    tables = []
    for title, statuses, latest in (("upcoming", UPCOMING, False), ("recent", SETTLED, True)):
        rows, total = _table(session, statuses, latest=latest)
        shown = [_row(r, admin=admin, tz=settings.tz, lang=lang) for r in rows]
        tables.append({"id": title, "title": f"console_logs.{title}", "rows": shown, "total": total})
    return page(request, "reminders.html", signed=signed, tables=tables, admin=admin)
