"""The message log: `GET /messages` (phones masked unless admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.domain import listings
from app.domain.phones import mask_phone, normalize_phone
from app.models import Direction, Message
from app.routes.deps import PagingDep, ReaderKey, SessionDep, SettingsDep, sees_phones
from app.schemas import MessagePublic, Page

router = APIRouter(prefix="/messages", tags=["messages"])


def _public(row: Message, full_phone: bool) -> MessagePublic:
    data = row.model_dump()
    data["phone"] = row.phone if full_phone else mask_phone(row.phone)
    return MessagePublic.model_validate(data)


@router.get(
    "",
    summary="The message log",
    description="Inbound and outbound messages, newest first. Phone numbers are masked for every role but admin.",
    response_model=Page[MessagePublic],
)
def list_messages(
    session: SessionDep,
    settings: SettingsDep,
    key: ReaderKey,
    page: PagingDep,
    phone: Annotated[str | None, Query(max_length=32, description="any written form of the number")] = None,
    direction: Direction | None = None,
):
    rows, total = listings.list_messages(
        session,
        phone=normalize_phone(phone, settings.default_region) if phone else None,
        direction=direction.value if direction else None,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(items=[_public(r, sees_phones(key)) for r in rows], total=total)
