"""The message log: `GET /messages`. For every role but admin, phone
numbers are masked, in the `phone` field and inside the texts people typed,
and the `phone` filter is refused (its `total` would tell whether a number
is known to the program)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from app.domain import listings
from app.domain.phones import mask_phone, normalize_phone
from app.models import ApiKey, Direction, Message
from app.routes.deps import PagingDep, ReaderKey, SessionDep, SettingsDep, sees_phones
from app.schemas import MessagePublic, Page

router = APIRouter(prefix="/messages", tags=["messages"])

PHONE_FILTER_ADMIN_ONLY = (
    "The `phone` filter takes an admin key (403 for the others): whether a number has messages or "
    "reminders tells that it is known to the program."
)


def refuse_phone_filter(key: ApiKey, phone: str | None) -> None:
    """A `phone` filter from a key that sees phones masked is a 403: the
    answer (`total` 0 or not) would say whether the number is the program's."""
    if phone is not None and not sees_phones(key):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"a {key.role} key may not filter by phone: the answer would tell whether a number is known "
            "to the program (needs: admin)",
        )


def _public(row: Message, full_phone: bool, region: str) -> MessagePublic:
    data = row.model_dump()
    if not full_phone:
        data["phone"] = mask_phone(row.phone)
        data["text"] = listings.mask_phones_in_text(row.text or "", region)
    return MessagePublic.model_validate(data)


@router.get(
    "",
    summary="The message log",
    description="Inbound and outbound messages, newest first. For every role but admin, phone numbers are "
    "masked (`+8491****678`) in `phone` and inside `text`. " + PHONE_FILTER_ADMIN_ONLY,
    response_model=Page[MessagePublic],
)
def list_messages(
    session: SessionDep,
    settings: SettingsDep,
    key: ReaderKey,
    page: PagingDep,
    phone: Annotated[
        str | None, Query(max_length=32, description="any written form of the number (admin keys only)")
    ] = None,
    direction: Direction | None = None,
):
    refuse_phone_filter(key, phone)
    rows, total = listings.list_messages(
        session,
        phone=normalize_phone(phone, settings.default_region) if phone else None,
        direction=direction.value if direction else None,
        limit=page.limit,
        offset=page.offset,
    )
    full = sees_phones(key)
    return Page(items=[_public(r, full, settings.default_region) for r in rows], total=total)
