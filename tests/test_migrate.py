"""Migrations on data already stored: 0004 keeps every inbound message,
marks it as Africa's Talking's, and dedupes by (gateway, message id)."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from app.migrate import alembic_config, upgrade
from tests.conftest import _PG_PROBLEM, IN_CI, PG_ADMIN_URL, _sa_url

INSERT = sa.text(
    "INSERT INTO message (direction, kind, phone, text, status, channel, external_id, segments, encoding,"
    " attempts, created_at, updated_at) VALUES (:direction, 'inbound', '+84912345678', 'HELP', 'received',"
    " 'sms', :external_id, 1, 'GSM-7', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)

INSERT_BY = sa.text(
    "INSERT INTO message (direction, kind, phone, text, status, channel, gateway, external_id, segments,"
    " encoding, attempts, created_at, updated_at) VALUES (:direction, 'inbound', '+84912345678', 'HELP',"
    " 'received', 'sms', :gateway, :external_id, 1, 'GSM-7', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    if _PG_PROBLEM is not None and not IN_CI:
        pytest.skip(f"PostgreSQL unreachable: {_PG_PROBLEM}")
    name = f"hen_migrate_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _sa_url(f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_0004_keeps_inbound_messages_as_africastalkings_and_dedupes_per_gateway(empty_url):
    upgrade(empty_url, "0003")
    engine = sa.create_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(INSERT, {"direction": "in", "external_id": "ATXid_1"})
    upgrade(empty_url)
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT gateway, external_id FROM message")).all() == [
            ("africastalking", "ATXid_1")
        ]
        # the same id from another gateway is another message
        conn.execute(INSERT_BY, {"direction": "in", "external_id": "ATXid_1", "gateway": "kannel"})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(INSERT_BY, {"direction": "in", "external_id": "ATXid_1", "gateway": "africastalking"})
    engine.dispose()


def test_0004_goes_down_and_up_again(empty_url):
    upgrade(empty_url)
    command.downgrade(alembic_config(empty_url), "0003")
    upgrade(empty_url)
    insp = sa.inspect(sa.create_engine(empty_url))
    assert "gateway" in {c["name"] for c in insp.get_columns("message")}
