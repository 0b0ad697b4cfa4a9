"""`now`: the service clock frozen at Monday 23/11/2026, 14:00 in Hanoi."""

from __future__ import annotations

import pytest

from tests.factories import NOW


@pytest.fixture
def now(frozen_clock):
    frozen_clock(NOW)
    return NOW
