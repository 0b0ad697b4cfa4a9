"""`app.db.GroupCommit`: writes of threads that arrive together share one
commit, each caller gets its own result once committed, and a bad write
fails alone."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import bindparam, event, insert, select, update

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


_SET_LANGUAGE = (
    update(Person.__table__)
    .where(Person.__table__.c.phone == bindparam("row_phone"))
    .values(language=bindparam("new_language"))
)


def _languages(db) -> dict[str, str | None]:
    with db.connect() as conn:
        return dict(conn.execute(select(Person.phone, Person.language)).all())


def _update_together(group, db, phones: list[str]) -> tuple[dict[str, int], list]:
    """Each phone's update in its own thread, all released at once; returns
    each one's rowcount and the statements the database was sent."""
    statements = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement.split()[0], executemany))

    event.listen(db, "before_cursor_execute", seen)
    barrier = threading.Barrier(len(phones))
    counts: dict[str, int] = {}

    def run(phone):
        barrier.wait()
        counts[phone] = group.update(_SET_LANGUAGE, {"row_phone": phone, "new_language": "en"})

    threads = [threading.Thread(target=run, args=(p,)) for p in phones]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    event.remove(db, "before_cursor_execute", seen)
    return counts, statements


def test_updates_arriving_together_run_as_one_executemany_and_each_gets_its_rowcount(group, db):
    phones = [f"+849000005{i:02d}" for i in range(16)]
    for phone in phones:
        group.run(_person(phone))
    counts, statements = _update_together(group, db, phones)
    assert counts == {phone: 1 for phone in phones}
    assert _languages(db) == {phone: "en" for phone in phones}
    updates = [many for verb, many in statements if verb == "UPDATE"]
    assert True in updates  # some shared one executemany
    assert len(updates) < len(phones)


def test_an_update_that_finds_no_row_gets_0_and_the_others_still_get_1(group, db):
    phones = [f"+849000006{i:02d}" for i in range(12)]
    for phone in phones[1:]:  # the first phone has no row
        group.run(_person(phone))
    counts, _ = _update_together(group, db, phones)
    assert counts == {phone: 0 if phone == phones[0] else 1 for phone in phones}
    assert _languages(db) == {phone: "en" for phone in phones[1:]}
