"""`GET /healthz` (`app.routes.health`): ok with the database, 503 without;
`GET /healthz/live`: ok whatever the database."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.config import load_settings
from app.main import create_app


def test_healthz_answers_ok_with_the_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["database"] == "ok"


def test_healthz_answers_503_when_the_database_is_down():
    s = load_settings(
        _env_file=None,
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere",
        DISPATCH_IN_PROCESS=False,
        SMS_GATEWAY="memory",
    )
    with TestClient(create_app(s)) as c:
        r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["database"] == "unreachable"


def test_healthz_live_answers_without_the_database():
    s = load_settings(
        _env_file=None,
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere",
        DISPATCH_IN_PROCESS=False,
        SMS_GATEWAY="memory",
    )
    with TestClient(create_app(s)) as c:
        r = c.get("/healthz/live")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
