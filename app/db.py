"""Engine and sessions from DATABASE_URL (SQLite file by default, PostgreSQL
when the URL says so)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, create_engine

CONNECT_TIMEOUT_SECONDS = 5
POOL_SIZE = 10
MAX_OVERFLOW = 40
POOL_TIMEOUT_SECONDS = 2.0

# what a database that is down, unreachable or out of connections raises:
# answered 503 (try again), never 500 (`app.main`)
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
)


def make_engine(url: str, **kwargs) -> Engine:
    """One engine per process. SQLite gets WAL, a busy timeout and foreign
    keys, so a web process and a dispatcher can share the file.

    The pool holds POOL_SIZE connections and opens up to MAX_OVERFLOW more
    at its busiest: more than the request thread pool (40) and the
    service's own threads, so none of them normally waits. A request that
    still finds every connection taken waits POOL_TIMEOUT_SECONDS, then
    fails fast (a 503) rather than holding its thread; a PostgreSQL that
    does not answer is given up after CONNECT_TIMEOUT_SECONDS."""
    connect_timeout = kwargs.pop("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    if url.startswith("sqlite"):
        if _is_file(url):
            _pool_defaults(kwargs)
        else:  # the in-memory database: its own pool, which takes no size
            for option in ("pool_size", "max_overflow", "pool_timeout"):
                kwargs.pop(option, None)
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
    _pool_defaults(kwargs)
    kwargs.setdefault("connect_args", {"connect_timeout": max(1, round(connect_timeout))})
    return create_engine(url, **kwargs)


def engine_options(settings) -> dict:
    """`make_engine`'s pool and timeout arguments from the DB_* settings."""
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_seconds,
        "connect_timeout": settings.db_connect_timeout_seconds,
    }


def _is_file(url: str) -> bool:
    """A SQLite file (a queue pool), not the in-memory database (one connection per thread)."""
    path = url.split("://", 1)[1].lstrip("/").split("?", 1)[0]
    return bool(path) and path != ":memory:" and "mode=memory" not in url


def _pool_defaults(kwargs: dict) -> None:
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", MAX_OVERFLOW)
    kwargs.setdefault("pool_timeout", POOL_TIMEOUT_SECONDS)


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


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
