"""The application (`app.main`): an unknown path is a JSON 404; start-up
freezes the heap once per process."""

from __future__ import annotations

import subprocess
import sys


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
