"""Every database test runs on SQLite and on PostgreSQL.

- SQLite: a fresh migrated file per test session.
- PostgreSQL (127.0.0.1:5432, database `test`, user `postgres`, or
  HEN_TEST_PG_URL): a fresh database per test session (and per xdist
  worker), dropped at the end. Skipped when unreachable, except with
  CI=true, where an unreachable PostgreSQL fails the run.

Tables are emptied before each test, so tests never see each other's rows.
Mark a test `postgres_only` (concurrency) or `sqlite_only` when it only
makes sense on one backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, SQLModel

import app.models  # noqa: F401
from app import clock
from app.config import Settings, load_settings
from app.db import make_engine, session_factory
from app.main import create_app
from app.migrate import upgrade
from app.sending.gateways.memory import MemoryGateway

PG_ADMIN_URL = os.environ.get("HEN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
WEBHOOK_TOKEN = "test-webhook-token"


def _pg_reachable() -> str | None:
    """None when reachable, else why not."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


_PG_PROBLEM = _pg_reachable()
BACKENDS = ["sqlite", "postgresql"] if _PG_PROBLEM is None or IN_CI else ["sqlite"]


def pytest_sessionstart(session):
    if IN_CI and _PG_PROBLEM is not None:
        pytest.exit(f"CI=true but PostgreSQL is unreachable at {PG_ADMIN_URL}: {_PG_PROBLEM}", returncode=3)


def pytest_report_header(config):
    pg = "reachable" if _PG_PROBLEM is None else f"NOT reachable ({_PG_PROBLEM}); PostgreSQL runs skipped"
    return f"hen backends: {', '.join(BACKENDS)}; PostgreSQL {pg}"


def _sa_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'hen-test.db'}"
        upgrade(url)
        yield url
        return
    name = f"hen_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = _sa_url(f"{base}/{name}")
    upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def engine(database_url):
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def backend(database_url) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashes() -> Iterator[None]:
    """argon2 at its lowest cost while testing: the same algorithm and the
    same verification (a hash carries its own parameters), in a millisecond
    instead of the production cost's tenth of a second per sign-in."""
    from argon2 import PasswordHasher

    from app.domain import users

    production = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    users._hasher = production


@pytest.fixture(autouse=True)
def _backend_markers(request):
    if "database_url" not in request.fixturenames:
        return
    name = request.getfixturevalue("backend")
    if request.node.get_closest_marker("postgres_only") and name != "postgresql":
        pytest.skip("PostgreSQL only")
    if request.node.get_closest_marker("sqlite_only") and name != "sqlite":
        pytest.skip("SQLite only")


def _empty_tables(engine) -> None:
    tables = [t.name for t in SQLModel.metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
            )
        else:
            for t in reversed(tables):
                conn.execute(text(f'DELETE FROM "{t}"'))


@pytest.fixture
def db(engine):
    """An empty, migrated database (engine) for this test."""
    _empty_tables(engine)
    return engine


def make_settings(database_url: str, **overrides) -> Settings:
    """The settings every test app runs with (memory gateway, no in-process
    dispatcher, the test webhook token), with `overrides` (env names) on top."""
    values = dict(
        _env_file=None,
        DATABASE_URL=database_url,
        SMS_GATEWAY="memory",
        DISPATCH_IN_PROCESS=False,
        WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        APP_ENV="test",
    )
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(db, database_url) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def gateway() -> MemoryGateway:
    return MemoryGateway()


@pytest.fixture
def app(settings, gateway, db):
    return create_app(settings, gateway=gateway, engine=db)


class SettledClient(TestClient):
    """A TestClient that, after each request, waits for the replies the
    request queued to be sent (`Dispatcher.send_soon` sends them right after
    the answer, in the background), so a test reads the gateway and the log
    as a phone would a moment later."""

    def request(self, *args, **kwargs):
        response = super().request(*args, **kwargs)
        assert self.app.state.dispatcher.wait_idle(), "replies still being sent after 10 s"
        return response


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with SettledClient(app) as c:
        yield c


@pytest.fixture
def session(db) -> Iterator[Session]:
    factory = session_factory(db)
    with factory() as s:
        yield s


@pytest.fixture
def frozen_clock():
    """Freeze the service clock: `frozen_clock(datetime(..., tzinfo=UTC))`."""
    yield clock.freeze
    clock.unfreeze()


@pytest.fixture
def demo(session):
    """The demo data of `hen demo`, loaded."""
    from app.demo import load_demo

    load_demo(session)
    session.commit()
    return session
