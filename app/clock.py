"""The one clock of the service. Every time is UTC and timezone-aware.

Tests freeze it with `freeze(dt)` / `unfreeze()` (or the `frozen_clock`
fixture); nothing else in the code calls `datetime.now()` directly."""

from __future__ import annotations

from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    return _frozen if _frozen is not None else datetime.now(UTC)


def freeze(at: datetime) -> None:
    global _frozen
    if at.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    _frozen = at.astimezone(UTC)


def unfreeze() -> None:
    global _frozen
    _frozen = None
