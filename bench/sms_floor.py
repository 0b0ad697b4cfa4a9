"""What one process can reach at best on the SMS webhook: two stripped
endpoints for `bench/webhook_sms.py --floor` (SQLite only), served beside
the real ones. Benchmark code only; nothing of the service calls it.

- `POST /bench/floor/route`: the real webhook's form reading and phone
  check, then a hand-off to a worker thread and back, as the SMS inbox
  does; no database at all.
- `POST /bench/floor/raw`: the least the SMS path must do, written by hand
  on the raw sqlite3 driver, with no ORM, no SQLAlchemy and no logging: in
  one thread, per batch of SMS and in one transaction, store each inbound
  row (once per gateway id), read the caller's role, language and opt-out,
  count the phone's replies of the last hour, render the HELP reply and
  store it; claim the replies; commit; answer. Then a pool of 16 threads
  "sends" each reply (a list append, as the memory gateway does) and one
  writer thread stores the results with executemany.

Left out, so this is a lower bound of the real path's cost: the keyword
router beyond parsing (every SMS is answered with the help text), roles,
opt-out and the reply cap deciding anything, leases that can be lost,
retries, the rate limiter and the log lines.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.channels.keywords import parse_keyword
from app.domain.phones import normalize_phone
from app.messages import count_segments, render
from app.routes.webhooks.forms import read_form
from app.sending.gateways.africastalking import SMS_FIELDS

ROUTE_PATH = "/bench/floor/route"
RAW_PATH = "/bench/floor/raw"

_INBOUND = (
    "INSERT INTO message (direction, kind, phone, text, status, channel, language, keyword, external_id,"
    " shortcode, link_id, network_code, segments, encoding, attempts, created_at, updated_at)"
    " VALUES ('in', 'inbound', ?, ?, 'received', 'sms', ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)"
    " ON CONFLICT (external_id) DO NOTHING RETURNING id"
)
_CALLER = (
    "SELECT worker.id, clinic_staff.id, person.language, person.opted_out FROM (SELECT ? AS phone) AS asked"
    " LEFT OUTER JOIN worker ON worker.phone = asked.phone AND worker.active = 1"
    " LEFT OUTER JOIN clinic_staff ON clinic_staff.phone = asked.phone AND clinic_staff.active = 1"
    " LEFT OUTER JOIN person ON person.phone = asked.phone"
)
_RECENT_REPLIES = (
    "SELECT count(*) FROM message WHERE phone = ? AND direction = 'out' AND kind = 'reply'"
    " AND created_at >= ? AND status != 'skipped'"
)
_REPLY = (
    "INSERT INTO message (direction, kind, phone, text, status, channel, language, segments, encoding,"
    " in_reply_to, attempts, next_attempt_at, created_at, updated_at)"
    " VALUES ('out', 'reply', ?, ?, 'queued', 'sms', ?, ?, ?, ?, 0, ?, ?, ?) RETURNING id"
)
_CLAIM = (
    "UPDATE message SET status = 'sending', claimed_by = ?, claimed_until = ?, attempts = attempts + 1,"
    " updated_at = ? WHERE id IN ({}) AND status = 'queued' RETURNING id, phone, text"
)
_RESULT = (
    "UPDATE message SET status = 'sent', gateway_id = ?, sent_at = ?, updated_at = ?, claimed_by = NULL,"
    " claimed_until = NULL WHERE id = ? AND status = 'sending' AND claimed_by = ?"
)
_CLAIM_TOKEN = "bench-floor"


def _drain(jobs: queue.SimpleQueue) -> list:
    """Wait for one item, then take every item waiting behind it."""
    items = [jobs.get()]
    while True:
        try:
            items.append(jobs.get_nowait())
        except queue.Empty:
            return items


def _stamp(at: datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it in SQLite."""
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


class _RawPath:
    def __init__(self, path: str, default_language: str):
        self.path = path
        self.default_language = default_language
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.pool = ThreadPoolExecutor(16, thread_name_prefix="floor-send")
        self.sent: list[tuple[str, str]] = []
        self.writer_lock = threading.Lock()  # one SQLite writer at a time, as app.db.sqlite_writer
        threading.Thread(target=self._inbox, name="floor-inbox", daemon=True).start()
        threading.Thread(target=self._writer, name="floor-results", daemon=True).start()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA busy_timeout=30000")
        return db

    async def handle(self, form: dict[str, str]) -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.jobs.put((loop, future, form))
        return await future

    def _inbox(self) -> None:
        db = self._connect()
        while True:
            batch = _drain(self.jobs)
            stored, error = None, None
            try:
                stored = self._store(db, [form for _, _, form in batch])
            except Exception as exc:  # the requests get a 500; the bench counts them
                error = exc
                if db.in_transaction:
                    db.execute("ROLLBACK")
            batch[0][0].call_soon_threadsafe(_settle, batch, stored, error)

    def _store(self, db: sqlite3.Connection, forms: list[dict[str, str]]) -> list[tuple[int, int]]:
        stored: list[tuple[int, int]] = []
        with self.writer_lock:
            db.execute("BEGIN IMMEDIATE")
            for form in forms:
                now = datetime.now(UTC)
                stamp = _stamp(now)
                keyword = parse_keyword(form["text"]).keyword
                _worker, _staff, language, _opted_out = db.execute(_CALLER, (form["phone"],)).fetchone()
                language = language or self.default_language
                info = count_segments(form["text"])
                inbound = db.execute(
                    _INBOUND,
                    (
                        form["phone"],
                        form["text"],
                        language,
                        keyword,
                        form["id"],
                        form["to"],
                        form.get("linkId"),
                        form.get("networkCode"),
                        info.segments,
                        info.encoding,
                        stamp,
                        stamp,
                    ),
                ).fetchone()[0]
                db.execute(_RECENT_REPLIES, (form["phone"], _stamp(now - timedelta(hours=1)))).fetchone()
                text = render("sms.help_client", language)
                reply_info = count_segments(text)
                reply = db.execute(
                    _REPLY,
                    (
                        form["phone"],
                        text,
                        language,
                        reply_info.segments,
                        reply_info.encoding,
                        inbound,
                        stamp,
                        stamp,
                        stamp,
                    ),
                ).fetchone()[0]
                stored.append((inbound, reply))
            now = _stamp(datetime.now(UTC))
            lease = _stamp(datetime.now(UTC) + timedelta(minutes=5))
            claimed = db.execute(
                _CLAIM.format(", ".join("?" * len(stored))),
                (_CLAIM_TOKEN, lease, now, *(reply for _, reply in stored)),
            ).fetchall()
            db.execute("COMMIT")
        for row in claimed:
            self.pool.submit(self._send, row)
        return stored

    def _send(self, row: tuple[int, str, str]) -> None:
        message_id, phone, text = row
        self.sent.append((phone, text))
        now = _stamp(datetime.now(UTC))
        self.results.put((f"floor-{message_id}", now, now, message_id, _CLAIM_TOKEN))

    def _writer(self) -> None:
        db = self._connect()
        while True:
            rows = _drain(self.results)
            with self.writer_lock:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(_RESULT, rows)
                db.execute("COMMIT")


def _settle(batch, stored: list[tuple[int, int]] | None, error: BaseException | None) -> None:
    for i, (_, future, _) in enumerate(batch):
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(stored[i])


def add_floor_endpoints(app: FastAPI) -> None:
    settings = app.state.settings
    if not settings.is_sqlite:
        raise SystemExit("--floor: SQLite only (the raw path is written for its driver)")
    raw = _RawPath(settings.database_url.removeprefix("sqlite:///"), settings.default_language)
    handoff: queue.SimpleQueue = queue.SimpleQueue()

    def echo() -> None:  # the hand-off's other side: back at once
        while True:
            batch = _drain(handoff)
            batch[0][0].call_soon_threadsafe(_settle, batch, [(0, 0)] * len(batch), None)

    threading.Thread(target=echo, name="floor-echo", daemon=True).start()

    async def checked_form(request: Request) -> dict[str, str]:
        form = await read_form(request, SMS_FIELDS)
        form["phone"] = normalize_phone(form["from"], settings.default_region)
        return form

    @app.post(ROUTE_PATH)
    async def floor_route(request: Request) -> JSONResponse:
        form = await checked_form(request)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        handoff.put((loop, future, form))
        await future
        return JSONResponse({"status": "ok"})

    @app.post(RAW_PATH)
    async def floor_raw(request: Request) -> JSONResponse:
        inbound, _reply = await raw.handle(await checked_form(request))
        return JSONResponse({"status": "ok", "message_id": inbound, "replies": 1})
