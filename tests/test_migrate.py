"""Migrations (`app.migrate`, `migrations/`): they match the models and
create every table and hot index; a later SQLite migration can rebuild a
table; on data already stored, 0004 keeps every inbound message, marks it
as Africa's Talking's, and dedupes by (gateway, message id)."""

from __future__ import annotations

import json
import os
import uuid

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import inspect
from sqlmodel import SQLModel

from app.migrate import alembic_config, upgrade
from tests.conftest import _PG_PROBLEM, IN_CI, PG_ADMIN_URL, _sa_url

# ---------------------------------------------------------------- schema


def test_migrations_match_the_models(db):
    """Autogenerate finds nothing to add: models and migrations agree."""
    with db.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == []


def test_migrations_create_every_table_and_hot_index(db):
    insp = inspect(db)
    tables = set(insp.get_table_names())
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables
    message_uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("message")} | {
        tuple(i["column_names"]) for i in insp.get_indexes("message") if i.get("unique")
    }
    assert ("gateway", "external_id") in message_uniques
    code_indexes = {tuple(i["column_names"]) for i in insp.get_indexes("referral_code")}
    assert ("code",) in code_indexes
    assert ("status", "due_at") in {tuple(i["column_names"]) for i in insp.get_indexes("reminder")}


def test_a_later_sqlite_migration_can_rebuild_the_code_table(tmp_path):
    # batch migrations on SQLite drop and rename the table; nothing in the
    # schema (a trigger, say) may name referral_code from elsewhere
    url = f"sqlite:///{tmp_path / 'rebuild.db'}"
    upgrade(url)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            with Operations(MigrationContext.configure(conn)).batch_alter_table(
                "referral_code", recreate="always"
            ) as batch:
                batch.add_column(sa.Column("note", sa.String(10)))
            assert "note" in {c["name"] for c in sa.inspect(conn).get_columns("referral_code")}
    finally:
        engine.dispose()


# ---------------------------------------------------------------- 0004 on stored data


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


# ---------------------------------------------------------------- 0006 on stored data


def test_0006_keeps_keys_that_shared_a_name_apart(empty_url):
    upgrade(empty_url, "0005")
    engine = sa.create_engine(empty_url)
    insert = sa.text(
        "INSERT INTO api_key (name, role, prefix, key_hash, active, created_at)"
        " VALUES (:name, 'viewer', 'hen_abcd', :hash, true, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        for i, name in enumerate(["officer", "officer", "desk"]):
            conn.execute(insert, {"name": name, "hash": f"{i:064d}"})
    upgrade(empty_url)
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT name FROM api_key ORDER BY id")).scalars().all() == [
            "officer",
            "officer (#2)",
            "desk",
        ]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"name": "desk", "hash": "f" * 64})
    engine.dispose()


# ---------------------------------------------------------------- 0009 on stored data


def test_0009_gives_stored_services_no_coupons_and_stored_codes_wave_0(empty_url):
    # on a database in use: a code with its redemption (rows referring to
    # referral_code, which SQLite then refuses to rebuild)
    upgrade(empty_url, "0008")
    engine = sa.create_engine(empty_url)
    with engine.begin() as conn:
        for statement in (
            "INSERT INTO service (code, name, display_name, expiry_days, active, created_at)"
            " VALUES ('VCT', 'VCT', 'Tu van suc khoe', 30, true, CURRENT_TIMESTAMP)",
            "INSERT INTO clinic (name, display_name, district, province, address, hours, active, created_at)"
            " VALUES ('c', 'c', 'd', '', '', '', true, CURRENT_TIMESTAMP)",
            "INSERT INTO referral_code (code, service_id, state, channel, issued_at, expires_at)"
            " VALUES ('48215093', 1, 'redeemed', 'sms', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            "INSERT INTO redemption (code_id, clinic_id, redeemed_at, channel, actor)"
            " VALUES (1, 1, CURRENT_TIMESTAMP, 'sms', 'test')",
        ):
            conn.execute(sa.text(statement))
    upgrade(empty_url)  # through the service's engine: foreign keys enforced on SQLite
    with engine.begin() as conn:
        peer_coupons, coupon_services, max_waves = conn.execute(
            sa.text("SELECT peer_coupons, coupon_services, max_waves FROM service")
        ).one()
        listed = coupon_services if isinstance(coupon_services, list) else json.loads(coupon_services)
        assert (peer_coupons, listed, max_waves) == (0, [], 0)
        code = conn.execute(
            sa.text("SELECT parent_code_id, wave, coupons_issued_at FROM referral_code")
        ).one()
        assert tuple(code) == (None, 0, None)
        conn.execute(
            sa.text(
                "INSERT INTO referral_code (code, service_id, state, channel, issued_at, expires_at,"
                " parent_code_id, wave) VALUES ('12345674', 1, 'issued', 'coupon', CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP, 1, 1)"
            )
        )
    insp = sa.inspect(engine)
    assert {"referred_table": "referral_code", "constrained_columns": ["parent_code_id"]}.items() <= next(
        fk for fk in insp.get_foreign_keys("referral_code") if fk["constrained_columns"] == ["parent_code_id"]
    ).items()
    assert ("parent_code_id",) in {tuple(i["column_names"]) for i in insp.get_indexes("referral_code")}
    engine.dispose()


def test_0009_goes_down_and_up_again(empty_url):
    upgrade(empty_url)
    command.downgrade(alembic_config(empty_url), "0008")
    insp = sa.inspect(sa.create_engine(empty_url))
    assert "wave" not in {c["name"] for c in insp.get_columns("referral_code")}
    upgrade(empty_url)
    insp = sa.inspect(sa.create_engine(empty_url))
    assert {"parent_code_id", "wave", "coupons_issued_at"} <= {
        c["name"] for c in insp.get_columns("referral_code")
    }
