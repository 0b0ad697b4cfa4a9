"""The SMS channel's tests run at noon on Monday 23/11/2026 in Hanoi,
outside quiet hours, unless a test freezes another moment.

`world`: the demo data and a client at 14:00 that day whose auto-reply cap
(its own tests are in test_router.py) is raised out of the way, for tests
that send many messages from one phone."""

from __future__ import annotations

import pytest

from app.main import create_app
from tests.conftest import SettledClient, make_settings
from tests.factories import NOON, NOW


@pytest.fixture(autouse=True)
def _noon(frozen_clock):
    frozen_clock(NOON)


@pytest.fixture
def world(demo, db, database_url, gateway, frozen_clock):
    frozen_clock(NOW)
    settings = make_settings(database_url, AUTO_REPLY_LIMIT_PER_HOUR=100)
    with SettledClient(create_app(settings, gateway=gateway, engine=db)) as client:
        yield client
