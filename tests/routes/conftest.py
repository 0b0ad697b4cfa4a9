"""`keys`: the demo data and one API key per role (`tests.factories.make_keys`),
with the clock frozen at Monday 2/3/2026, 10:00 in Hanoi."""

from __future__ import annotations

import pytest

from tests.factories import API_NOW, make_keys


@pytest.fixture
def keys(demo, frozen_clock):
    frozen_clock(API_NOW)
    return make_keys(demo)
