"""`app.db.GroupCommit`: writes of threads that arrive together share one
commit, each caller gets its own result once committed, and a bad write
fails alone."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, insert, select

from app.db import GroupCommit
from app.models import Person
from tests.conftest import make_settings


@pytest.fixture
def group(db, database_url):
    return GroupCommit(db, make_settings(database_url))


def _person(phone: str):
    def write(conn):
        table = Person.__table__
        return conn.execute(
            insert(table).values(phone=phone, opted_out=False).returning(table.c.phone)
        ).scalar_one()

    return write


def _phones(db) -> list[str]:
    with db.connect() as conn:
        return sorted(conn.execute(select(Person.phone)).scalars())


def test_a_write_alone_is_committed_and_returns_its_result(group, db):
    assert group.run(_person("+84900000101")) == "+84900000101"
    assert _phones(db) == ["+84900000101"]


def test_writes_arriving_together_share_commits_and_all_land(group, db):
    commits = []

    def count(conn):
        commits.append(1)

    event.listen(db, "commit", count)
    n = 24
    barrier = threading.Barrier(n)
    results: list[str] = []

    def run(i):
        barrier.wait()
        results.append(group.run(_person(f"+849000002{i:02d}")))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    event.remove(db, "commit", count)
    assert sorted(results) == sorted(f"+849000002{i:02d}" for i in range(n))
    assert _phones(db) == sorted(f"+849000002{i:02d}" for i in range(n))
    assert len(commits) < n  # some of them shared a commit


def test_a_failing_write_fails_alone_and_the_others_land(group, db):
    group.run(_person("+84900000301"))
    n = 8
    barrier = threading.Barrier(n)
    outcomes: dict[int, object] = {}

    def run(i):
        barrier.wait()
        phone = "+84900000301" if i == 3 else f"+849000004{i:02d}"  # i == 3: unique phone taken
        try:
            outcomes[i] = group.run(_person(phone))
        except Exception as exc:  # the IntegrityError of that write alone
            outcomes[i] = type(exc).__name__

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes.pop(3) == "IntegrityError"
    assert sorted(outcomes.values()) == sorted(f"+849000004{i:02d}" for i in range(n) if i != 3)
    assert _phones(db) == sorted(["+84900000301", *(f"+849000004{i:02d}" for i in range(n) if i != 3)])
