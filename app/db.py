"""Engine and sessions from DATABASE_URL (SQLite file by default, PostgreSQL
when the URL says so)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, create_engine

CONNECT_TIMEOUT_SECONDS = 5


def make_engine(url: str, **kwargs) -> Engine:
    """One engine per process. SQLite gets WAL, a busy timeout and foreign
    keys, so a web process and a dispatcher can share the file."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # 50 in all: more than the request thread pool (40) and the service's own
    # threads, so none of them waits for a connection (the USSD reads run on
    # the event loop: a wait there would hold every request); a server that
    # does not answer is given up after CONNECT_TIMEOUT_SECONDS
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 40)
    kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False, info={})


# ---------------------------------------------------------------- after commit: hand queued rows over

_QUEUED = "hen.queued_ids"
_HAND_OVER = "hen.hand_over"
HandOver = Callable[[list[int]], None]


def hand_over_after_commit(factory: sessionmaker[Session], hand_over: HandOver | None) -> None:
    """Every session of `factory` made from now on hands the ids of the
    outbound rows it queued (`note_queued`) to `hand_over` right after its
    transaction commits; a rollback drops them. The one way a webhook, a
    USSD step or an API call gets its messages sent without waiting for the
    dispatcher's tick."""
    factory.kw["info"][_HAND_OVER] = hand_over


def note_queued(session: Session, message_id: int) -> None:
    """Remember an outbound row queued in `session`'s transaction."""
    session.info.setdefault(_QUEUED, []).append(message_id)


@event.listens_for(OrmSession, "after_commit")
def _hand_over_queued(session: OrmSession) -> None:
    if session.in_nested_transaction():  # a savepoint: the transaction goes on
        return
    ids = session.info.pop(_QUEUED, None)
    hand_over = session.info.get(_HAND_OVER)
    if ids and hand_over is not None:
        hand_over(ids)


@event.listens_for(OrmSession, "after_rollback")
def _drop_queued(session: OrmSession) -> None:
    # a savepoint rolled back keeps the ids noted before it (an id noted inside
    # it names no row: claiming it later finds nothing to send)
    if not session.in_nested_transaction():
        session.info.pop(_QUEUED, None)


def read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for work that only reads (never commits). On PostgreSQL they
    run in autocommit, so each read is one round trip, without a BEGIN and a
    ROLLBACK around it; SQLite opens no transaction for a read anyway, so
    they are plain sessions there. Never write through one."""
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return session_factory(engine)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_SQLITE_WRITER = threading.Lock()


def sqlite_writer(settings) -> contextlib.AbstractContextManager:
    """SQLite takes one writer at a time; threads that collide wait in its
    busy handler, which sleeps in growing steps (up to 100 ms). Queueing
    them on a lock first keeps the latency tail short. PostgreSQL: no lock."""
    return _SQLITE_WRITER if settings.is_sqlite else contextlib.nullcontext()


class GroupCommit:
    """Small writes of many threads, committed together: `run(write)` calls
    `write(connection)` (a Core connection of `engine`) in a transaction shared with the writes of the other
    threads that arrived meanwhile, and returns its result once that
    transaction is committed (so a caller sees exactly what it would have
    seen with a transaction of its own, only the commit is shared).

    `update(statement, params)` is such a write for one row's UPDATE: the
    updates of a batch that share a statement run as one executemany (one
    statement for all, instead of one execution each) and each returns its
    rowcount, 0 or 1.

    The first thread to arrive writes the batch; the others wait. When a
    batch fails as a whole, each of its writes is done again alone, so one
    bad write never fails the others."""

    def __init__(self, engine: Engine, settings):
        self.engine = engine
        self.settings = settings
        self._lock = threading.Lock()
        self._pending: list[_Write] = []
        self._writing = False

    def run(self, write):
        return self._run(_Write(write))

    def update(self, statement, params: dict) -> int:
        """Run `statement`, an UPDATE of at most one row, with `params`;
        returns its rowcount once committed."""
        return self._run(_Write(lambda conn: conn.execute(statement, params).rowcount, statement, params))

    def _run(self, mine: _Write):
        with self._lock:
            self._pending.append(mine)
            leads = not self._writing
            self._writing = True
        if not leads:
            mine.ready.wait()
        if not mine.done:  # this thread writes the batch waiting now, its own write included
            with self._lock:
                batch, self._pending = self._pending, []
            self._commit(batch)
            with self._lock:
                if self._pending:  # arrived during the commit: the first of them writes next
                    self._pending[0].ready.set()
                else:
                    self._writing = False
        return mine.outcome()

    def _commit(self, batch: list[_Write]) -> None:
        if len(batch) > 1:
            try:
                with sqlite_writer(self.settings), self.engine.begin() as conn:
                    results = _write_batch(conn, batch)
            except Exception:
                pass  # each again alone, below
            else:
                for w, result in zip(batch, results, strict=True):
                    w.finish(result, None)
                return
        for w in batch:
            try:
                with sqlite_writer(self.settings), self.engine.begin() as conn:
                    result = w.write(conn)
            except Exception as exc:
                w.finish(None, exc)
            else:
                w.finish(result, None)


class _NotOneRowEach(Exception):
    """An executemany of one-row updates changed fewer rows than it had
    updates: which ones missed is known only when each runs alone."""


def _write_batch(conn, batch: list[_Write]) -> list:
    """The batch's writes in order, each run of consecutive updates with
    one statement as one executemany."""
    results: list = []
    i = 0
    while i < len(batch):
        w = batch[i]
        j = i + 1
        if w.statement is not None:
            while j < len(batch) and batch[j].statement is w.statement:
                j += 1
        if j - i == 1:
            results.append(w.write(conn))
        else:
            n = conn.execute(w.statement, [u.params for u in batch[i:j]]).rowcount
            if n != j - i:
                raise _NotOneRowEach
            results.extend([1] * (j - i))
        i = j
    return results


class _Write:
    def __init__(self, write, statement=None, params: dict | None = None):
        self.write = write
        self.statement = statement  # for `update`: what may share an executemany
        self.params = params
        self.ready = threading.Event()  # set when done, or when this write is to lead the next batch
        self.done = False
        self.result = None
        self.error: BaseException | None = None

    def finish(self, result, error: BaseException | None) -> None:
        self.result, self.error, self.done = result, error, True
        self.ready.set()

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.result


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
