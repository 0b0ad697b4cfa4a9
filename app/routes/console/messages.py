"""`/console/messages`: the message log, the newest first: direction, kind,
status, local time, phone and text. Same readers as `GET /messages` (admin
and viewer; a clinic user gets 403); for every role but admin the phone is
masked, and so is every phone number inside the text."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.domain import listings
from app.domain.phones import mask_phone
from app.models import Direction, MessageKind, MessageStatus
from app.routes.console.pages import READERS, Current, language, page, reading, sees_phones
from app.routes.console.reminders import label, local_time
from app.routes.deps import SessionDep, SettingsDep

router = APIRouter(include_in_schema=False)

SHOWN = 200  # messages on the page


@router.get("/console/messages")
def messages_page(request: Request, session: SessionDep, settings: SettingsDep, signed: Current) -> Response:
    if (gate := reading(request, signed, READERS)) is not None:
        return gate
    lang, admin = language(request), sees_phones(signed)
    found, total = listings.list_messages(session, phone=None, direction=None, limit=SHOWN, offset=0)
    region = settings.default_region
    rows = [
        {
            "id": m.id,
            "time": local_time(m.created_at, settings.tz, lang),
            "direction": label("direction_", m.direction, Direction, lang),
            "kind": label("kind_", m.kind, MessageKind, lang),
            "status": label("status_", m.status, MessageStatus, lang),
            "phone": m.phone if admin else mask_phone(m.phone),
            "text": (m.text or "") if admin else listings.mask_phones_in_text(m.text or "", region),
        }
        for m in found
    ]
    return page(request, "messages.html", signed=signed, rows=rows, total=total, admin=admin)
