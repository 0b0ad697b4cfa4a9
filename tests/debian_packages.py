"""Debian packages a test needs (Kannel, Chromium): installed when this
may (root with apt-get), one installer at a time across pytest-xdist
workers; otherwise the test is skipped, and fails under CI=true, where
every part must run."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def ensure(packages: tuple[str, ...], found: Callable[[], T | None], what: str) -> T:
    """What `found()` returns once `packages` are installed, installing them
    first when they are missing and this may; skips (fails under CI) otherwise."""
    have = found()
    if have:
        return have
    problem = f"{what} not installed (Debian packages {', '.join(packages)})"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with open("/tmp/hen-apt-install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not found():
                for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
                    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
                    if done.returncode != 0:
                        problem += f"; `{' '.join(command)}` failed: {done.stderr.strip()[-300:]}"
                        break
        have = found()
        if have:
            return have
    if in_ci():
        pytest.fail(problem)
    pytest.skip(problem)
