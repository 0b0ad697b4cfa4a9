"""USSD steps that only read: every step but the one that confirms an action
(nearly all of them) writes nothing and opens no write transaction; the
confirming step, and only it, runs in a committed transaction."""

from __future__ import annotations

import re
from collections import deque

import pytest
from sqlalchemy import event, text

from app.db import read_session_factory
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from tests.factories import CLIENT, CLIENT_LOCAL, dial, issue_code, local_ddmm, ussd_text

WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def recorder(app, db):
    """What each step did: the statements sent and the write sessions opened."""
    seen = {"statements": [], "write_sessions": 0}
    write_sessions = app.state.session_factory

    def counted():
        seen["write_sessions"] += 1
        return write_sessions()

    def record(conn, cursor, statement, *args):
        seen["statements"].append(statement.lstrip().upper())

    app.state.session_factory = counted
    event.listen(db, "before_cursor_execute", record)
    yield seen
    event.remove(db, "before_cursor_execute", record)


def step(client, recorder, phone: str, *answers: str) -> tuple[str, list[str], int]:
    recorder["statements"].clear()
    recorder["write_sessions"] = 0
    screen = dial(client, phone, *answers)
    writes = [s for s in recorder["statements"] if s.startswith(WRITES)]
    return screen, writes, recorder["write_sessions"]


@pytest.mark.parametrize(
    "phone", [CLIENT, DEMO_WORKER_PHONE, DEMO_CLINIC_PHONE], ids=["client", "worker", "clinic"]
)
def test_every_menu_step_only_reads(client, demo, settings, recorder, phone):
    code = issue_code(demo, settings, commit=True).code
    typed = [code, CLIENT_LOCAL, local_ddmm(3, settings, weekday=True), "1430"]
    queue: deque[list[str]] = deque([[]])
    menus = 0
    while queue:
        path = queue.popleft()
        screen, writes, write_sessions = step(client, recorder, phone, *path)
        if screen.startswith("END "):
            continue
        assert writes == [] and write_sessions == 0, (path, writes)
        menus += 1
        if len(path) < 4:
            shown = [n for n in re.findall(r"^(\d+) ", screen[4:], re.M) if n not in ("0", "00")]
            queue.extend([*path, choice] for choice in [*shown, "0", "x", *([] if shown else typed)])
    assert menus >= 10


def test_the_confirming_step_writes_once_in_its_own_transaction(client, demo, recorder):
    for answers in ([], ["1"], ["1", "1"], ["1", "1", "1"], ["1", "1", "1", "7"]):
        screen, writes, write_sessions = step(client, recorder, CLIENT, *answers)
        assert screen.startswith("CON ") and writes == [] and write_sessions == 0, answers
    screen, writes, write_sessions = step(client, recorder, CLIENT, "1", "1", "1", "1")
    assert screen == "END " + ussd_text("ussd.sms_sent")
    assert write_sessions == 1 and any(w.startswith("INSERT INTO MESSAGE") for w in writes)


@pytest.mark.postgres_only
def test_read_sessions_run_in_autocommit_on_postgresql(db):
    """No BEGIN and ROLLBACK round trips around a step's reads (SQLite opens
    no transaction for a read anyway)."""
    with read_session_factory(db)() as session:
        session.execute(text("SELECT 1"))
        assert session.connection().connection.dbapi_connection.autocommit is True
