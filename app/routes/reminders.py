"""Reminders: `GET|POST /reminders`, `POST /reminders/{id}/cancel`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.domain import listings, reminders
from app.domain.phones import mask_phone, normalize_phone
from app.models import Reminder, ReminderKind, ReminderStatus
from app.routes.deps import (
    CONFLICT,
    NOT_FOUND,
    AdminKey,
    IdPath,
    PagingDep,
    ReaderKey,
    SessionDep,
    SettingsDep,
    actor_of,
    sees_phones,
)
from app.routes.messages import PHONE_FILTER_ADMIN_ONLY, refuse_phone_filter
from app.schemas import Page, ReminderCreate, ReminderPublic

router = APIRouter(prefix="/reminders", tags=["reminders"])


def _public(row: Reminder, full_phone: bool) -> ReminderPublic:
    data = row.model_dump()
    data["phone"] = row.phone if full_phone else mask_phone(row.phone)
    return ReminderPublic.model_validate(data)


@router.get(
    "",
    summary="List reminders",
    description="Next due first. Phone numbers are masked for every role but admin. "
    + PHONE_FILTER_ADMIN_ONLY,
    response_model=Page[ReminderPublic],
)
def list_reminders(
    session: SessionDep,
    settings: SettingsDep,
    key: ReaderKey,
    page: PagingDep,
    phone: Annotated[
        str | None, Query(max_length=32, description="any written form (admin keys only)")
    ] = None,
    status: ReminderStatus | None = None,
    kind: ReminderKind | None = None,
):
    refuse_phone_filter(key, phone)
    rows, total = listings.list_reminders(
        session,
        phone=normalize_phone(phone, settings.default_region) if phone else None,
        status=status.value if status else None,
        kind=kind.value if kind else None,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(items=[_public(r, sees_phones(key)) for r in rows], total=total)


@router.post(
    "",
    summary="Schedule a custom reminder",
    description="`text_key` is a `reminder.custom_*` catalogue key, rendered in the person's language when sent; "
    "`params` fill its placeholders and, as the client reads them, name no sensitive word (HIV, AIDS, drugs, "
    "methadone, testing, ...). `due_at` is from 5 minutes ago (sent at once) to 730 days ahead. "
    "Quiet hours and opt-outs apply.",
    status_code=status.HTTP_201_CREATED,
    response_model=ReminderPublic,
)
def schedule_reminder(body: ReminderCreate, session: SessionDep, settings: SettingsDep, key: AdminKey):
    row = reminders.schedule_custom(
        session,
        settings,
        phone=body.phone,
        due_at=body.due_at,
        text_key=body.text_key,
        params=body.params,
        actor=actor_of(key),
    )
    session.commit()
    return _public(row, True)


@router.post(
    "/{reminder_id}/cancel",
    summary="Cancel a pending reminder",
    response_model=ReminderPublic,
    responses={**NOT_FOUND, **CONFLICT},
)
def cancel_reminder(reminder_id: IdPath, session: SessionDep, key: AdminKey):
    row = reminders.cancel_reminder(session, reminder_id, actor_of(key))
    session.commit()
    return _public(row, True)
