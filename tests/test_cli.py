"""The command line (`app.cli`, the `hen` command): one clear line on an
error, and `db upgrade` then `demo` on a fresh SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEN = str(Path(sys.executable).with_name("hen"))


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


def test_cli_keys_are_made_listed_rotated_and_revoked(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'keys.db'}"}
    assert _hen("db", "upgrade", env_extra=env, cwd=tmp_path).returncode == 0
    made = _hen(
        "apikey", "create", "--role", "viewer", "--name", "M&E", "--expires-in-days", "30", env_extra=env
    )
    assert made.returncode == 0, made.stderr
    plain = made.stdout.strip().splitlines()[-1]
    assert plain.startswith("hen_")
    twice = _hen("apikey", "create", "--role", "viewer", "--name", "M&E", env_extra=env)
    assert twice.returncode != 0 and "exists already" in twice.stderr
    listed = _hen("apikey", "list", env_extra=env).stdout
    assert "active" in listed and "M&E" in listed and plain not in listed and "until" in listed
    assert "created" in listed and "never used" in listed
    rotated = _hen("apikey", "rotate", "1", env_extra=env)
    assert rotated.returncode == 0 and rotated.stdout.strip().splitlines()[-1] not in (plain, "")
    assert _hen("apikey", "revoke", "M&E", env_extra=env).returncode == 0  # by name
    states = [line.split("\t")[1] for line in _hen("apikey", "list", env_extra=env).stdout.splitlines()]
    assert states == ["revoked", "revoked"]
    again = _hen("apikey", "revoke", "2", env_extra=env)
    assert again.returncode != 0 and "revoked already" in again.stderr


def test_cli_user_create_reads_the_password_from_standard_input_never_an_argument(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'u.db'}",
    }
    assert _hen("db", "upgrade", env_extra=env).returncode == 0
    made = subprocess.run(
        [HEN, "user", "create", "--role", "admin", "--name", "Program officer", "--email", "po@example.org"],
        input="a long enough secret\n", capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "created admin user #1 po@example.org" in made.stdout and "secret" not in made.stdout + made.stderr
    short = subprocess.run(
        [HEN, "user", "create", "--role", "viewer", "--name", "X", "--email", "x@example.org"],
        input="short\n", capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert short.returncode != 0 and "10 to 200 characters" in short.stderr
    assert "--password" not in _hen("user", "create", "--help", env_extra=env).stdout
