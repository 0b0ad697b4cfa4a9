"""Registering an outreach worker from the console: the registry's rules,
a mobile number only, and a welcome SMS with the worker's keywords."""

from __future__ import annotations

from sqlmodel import Session

from app.config import Settings
from app.domain import registry
from app.domain.errors import NotMobile
from app.domain.message_log import queue_rendered
from app.domain.phones import is_mobile, mask_phone, normalize_phone
from app.domain.staff import InvalidRegistryInput
from app.models import MessageKind, Worker


class WorkerNotMobile(NotMobile):
    """A worker's number that cannot get an SMS (a landline)."""

    key = "registry.worker_not_mobile"


def register_worker(
    session: Session, settings: Settings, *, actor: str, name: str, phone: str, district: str
) -> Worker:
    """A new worker (see `registry.create_worker`), who is sent the worker
    help as a welcome. Raises InvalidPhone, NotMobile, Conflict,
    InvalidRegistryInput; nothing is written when it raises."""
    number = normalize_phone(phone, settings.default_region)
    if not is_mobile(number):
        raise WorkerNotMobile(f"{mask_phone(number)} is not a mobile number", phone=phone.strip())
    name = " ".join((name or "").split())
    if not name or len(name) > 120:
        raise InvalidRegistryInput("a worker needs a name of at most 120 characters")
    worker = registry.create_worker(
        session,
        actor=actor,
        region=settings.default_region,
        name=name,
        phone=number,
        district=district.strip()[:80],
    )
    queue_rendered(
        session,
        phone=worker.phone,
        key="sms.help_worker",
        language=settings.default_language,
        kind=MessageKind.notification,
        force=True,
    )
    return worker
