"""The application (`app.main`): an unknown path is a JSON 404; start-up
freezes the heap once per process; a database that is down, unreachable
or out of connections is a 503 with Retry-After on every route."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from app.domain.apikeys import KEY_PREFIX
from app.main import create_app
from tests.conftest import make_settings


def test_unknown_path_is_a_json_404(client):
    r = client.get("/nope")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


def test_start_up_freezes_the_heap_once_per_process(tmp_path):
    """What start-up built is moved out of the cyclic collector's reach (a
    full collection walking it stalled requests for tens of ms), once: a
    second application in the same process does not freeze again."""
    script = f"""
import gc
from fastapi.testclient import TestClient
from app.config import load_settings
from app.domain.apikeys import KEY_PREFIX
from app.main import create_app
from app.migrate import upgrade

url = "sqlite:///{tmp_path / "freeze.db"}"
upgrade(url)
settings = load_settings(_env_file=None, DATABASE_URL=url, DISPATCH_IN_PROCESS=False, SMS_GATEWAY="memory")
before = gc.get_freeze_count()
with TestClient(create_app(settings)):
    first = gc.get_freeze_count()
with TestClient(create_app(settings)):
    second = gc.get_freeze_count()
print(before, first, second)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    before, first, second = map(int, out[-3:])
    assert before == 0
    assert first > 10_000  # modules, metadata, catalogues, phone metadata
    assert second <= first  # not frozen again (frozen objects that die still leave)


# ---------------------------------------------------------------- the database away: 503, never 500

DOWN = {
    "postgresql, a closed port": "postgresql://postgres@127.0.0.1:1/nowhere",
    "sqlite, a file that cannot be opened": "sqlite:////nonexistent-folder/hen.db",
}


@pytest.mark.parametrize("url", DOWN.values(), ids=DOWN.keys())
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/services"),
        ("GET", "/api/v1/codes/4821-5093"),
        ("POST", "/api/v1/codes"),
        ("GET", "/metrics"),
    ],
)
def test_with_the_database_down_every_route_answers_503(url, method, path):
    settings = make_settings(url, DB_CONNECT_TIMEOUT_SECONDS=2)
    with TestClient(create_app(settings)) as c:
        r = c.request(
            method, path, headers={"Authorization": f"Bearer {KEY_PREFIX}some-key"}, json={"service": "VCT"}
        )
    assert r.status_code == 503, r.text
    assert r.json() == {"detail": "database unavailable, try again"}
    assert r.headers["retry-after"] == "5"


def test_every_pool_connection_taken_is_a_quick_503(database_url, db):
    settings = make_settings(database_url, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT_SECONDS=0.3)
    app = create_app(settings)
    with TestClient(app) as c, app.state.engine.connect():  # the pool's one connection, held
        started = time.monotonic()
        r = c.get("/api/v1/services", headers={"Authorization": f"Bearer {KEY_PREFIX}some-key"})
        waited = time.monotonic() - started
    assert r.status_code == 503 and r.json() == {"detail": "database unavailable, try again"}
    assert waited < 2
