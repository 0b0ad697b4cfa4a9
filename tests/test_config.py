"""The skeleton: configuration, migrations, health, demo data, CLI errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from sqlmodel import SQLModel, select

from app.config import ConfigError, load_settings
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE, load_demo
from app.main import create_app
from app.models import Clinic, ClinicService, ClinicStaff, Service, Worker

REPO = Path(__file__).resolve().parents[1]
HEN = str(Path(sys.executable).with_name("hen"))


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"QUIET_HOURS": "9pm-7am"}, "QUIET_HOURS"),
        ({"QUIET_HOURS": "21:00-21:00"}, "QUIET_HOURS"),
        ({"SMS_GATEWAY": "carrier-pigeon"}, "SMS_GATEWAY"),
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"SEND_RATE_PER_SECOND": "-1"}, "SEND_RATE_PER_SECOND"),
        ({"DEFAULT_LANGUAGE": "fr"}, "DEFAULT_LANGUAGE"),
        ({"APP_ENV": "production"}, "WEBHOOK_TOKEN"),
        ({"SMS_GATEWAY": "africastalking"}, "AT_API_KEY"),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(env, variable):
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None, **env)
    message = str(err.value)
    assert variable in message and "\n" not in message


def test_defaults_follow_the_spec():
    s = load_settings(_env_file=None)
    assert s.database_url == "sqlite:///./hen.db"
    assert s.sms_gateway == "console"
    assert s.timezone == "Asia/Ho_Chi_Minh"
    assert s.quiet_window is not None and s.quiet_window[0].hour == 21 and s.quiet_window[1].hour == 7
    assert s.send_rate_per_second == 10
    assert s.dispatch_in_process is True
    assert s.default_language == "vi-ascii"
    assert load_settings(_env_file=None, QUIET_HOURS="").quiet_window is None


def test_postgres_url_uses_psycopg3():
    s = load_settings(_env_file=None, DATABASE_URL="postgresql://postgres@127.0.0.1/test")
    assert s.database_url.startswith("postgresql+psycopg://")


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


# ---------------------------------------------------------------- health


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


def test_unknown_path_is_a_json_404(client):
    r = client.get("/nope")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


# ---------------------------------------------------------------- demo data


def test_demo_data_matches_the_spec_and_loads_once(session):
    first = load_demo(session)
    session.commit()
    assert first["services"] == 4 and first["clinics"] >= 4
    again = load_demo(session)
    session.commit()
    assert not any(again.values())
    assert {s.code for s in session.exec(select(Service))} >= {"VCT", "MMT", "STI", "PREP"}
    clinics = session.exec(select(Clinic)).all()
    assert len(clinics) >= 4
    districts = {c.district for c in clinics}
    assert "Dien Bien Phu" in districts and len(districts) >= 2
    assert any(c.province == "Ha Noi" for c in clinics)
    assert all(c.address and c.hours for c in clinics)
    assert session.exec(select(Worker).where(Worker.phone == DEMO_WORKER_PHONE)).one().active
    staff = session.exec(select(ClinicStaff).where(ClinicStaff.phone == DEMO_CLINIC_PHONE)).one()
    offered = {
        session.get(Service, link.service_id).code
        for link in session.exec(select(ClinicService).where(ClinicService.clinic_id == staff.clinic_id))
    }
    assert {"VCT", "MMT"} <= offered


def test_service_display_names_are_discreet(session):
    load_demo(session)
    from tests.discretion import assert_discreet

    for service in session.exec(select(Service)):
        assert_discreet(service.display_name)
    for clinic in session.exec(select(Clinic)):
        assert_discreet(clinic.display_name)


# ---------------------------------------------------------------- command line


def _hen(*args, env_extra=None, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(env_extra or {})
    return subprocess.run([HEN, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}, "database error"),
        ({"DATABASE_URL": "oracle://x"}, "DATABASE_URL"),
        ({"QUIET_HOURS": "late"}, "QUIET_HOURS"),
    ],
)
def test_cli_fails_with_one_clear_line(tmp_path, env, expected):
    r = _hen("db", "upgrade", env_extra=env, cwd=tmp_path)
    assert r.returncode != 0
    assert expected in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cli_upgrade_then_demo_twice_on_a_fresh_sqlite_file(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    not_migrated = _hen("demo", env_extra=env, cwd=tmp_path)
    assert not_migrated.returncode != 0 and "hen db upgrade" in not_migrated.stderr
    assert _hen("db", "upgrade", env_extra=env, cwd=tmp_path).returncode == 0
    assert _hen("db", "upgrade", env_extra=env, cwd=tmp_path).returncode == 0
    first = _hen("demo", env_extra=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = _hen("demo", env_extra=env, cwd=tmp_path)
    assert second.returncode == 0 and "nothing new" in second.stdout


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

url = "sqlite:///{tmp_path / 'freeze.db'}"
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
