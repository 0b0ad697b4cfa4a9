"""Benchmark: what a Prometheus scrape of `GET /metrics` costs on 1,000,000 messages.

Creates a scratch SQLite file (or, with --db postgresql, a scratch database
next to HEN_BENCH_PG_URL), migrates it, bulk-loads N messages (half
inbound with a keyword, half outbound over six statuses, 1 % queued and
due), then times, in the same run:

- the baseline: one message read by id (what a webhook's look-up costs);
- one read of the figures (`app.metrics.read_figures`: what a scrape cost
  before the cache, and what the first scrape of each cache period costs);
- a cached scrape through the application (TestClient, token checked);
- 20 parallel scrapes on a cold cache: how many reads, and the wall time.

    .venv/bin/python bench/metrics_scrape.py [--messages 1000000] [--runs 5] [--db postgresql]

Not part of the test suite; figures in bench/README.md."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402

from app import metrics  # noqa: E402
from app.config import load_settings  # noqa: E402
from app.db import make_engine  # noqa: E402
from app.main import create_app  # noqa: E402
from app.migrate import upgrade  # noqa: E402

ADMIN_URL = os.environ.get("HEN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TOKEN = "bench-metrics-token"
KEYWORDS = ("HELP", "REF", "CHECK", "STOP", "CLINIC", None)
STATUSES = ("delivered", "sent", "failed", "queued", "buffered", "rejected")

_SQLITE_LOAD = """
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n)
INSERT INTO message (direction, kind, phone, text, status, channel, keyword, gateway, external_id,
                     segments, encoding, attempts, next_attempt_at, created_at, updated_at)
SELECT CASE WHEN i % 2 = 0 THEN 'in' ELSE 'out' END,
       CASE WHEN i % 2 = 0 THEN 'inbound' ELSE 'reply' END,
       '+8491' || substr('0000000' || (i % 100000), -7), 'bench text',
       CASE WHEN i % 2 = 0 THEN 'received'
            WHEN i % 100 = 1 THEN 'queued'
            ELSE (CASE (i / 2) % 5 WHEN 0 THEN 'delivered' WHEN 1 THEN 'sent' WHEN 2 THEN 'failed'
                                   WHEN 3 THEN 'buffered' ELSE 'rejected' END) END,
       'sms',
       CASE WHEN i % 2 = 0 THEN (CASE (i / 2) % 6 WHEN 0 THEN 'HELP' WHEN 1 THEN 'REF' WHEN 2 THEN 'CHECK'
                                  WHEN 3 THEN 'STOP' WHEN 4 THEN 'CLINIC' END) END,
       'africastalking', CASE WHEN i % 2 = 0 THEN 'bench-' || i END,
       1, 'GSM-7', 0,
       CASE WHEN i % 100 = 1 THEN '2026-11-01 00:00:00.000000' END,
       '2026-11-01 00:00:00.000000', '2026-11-01 00:00:00.000000'
FROM s
"""

_PG_LOAD = """
INSERT INTO message (direction, kind, phone, text, status, channel, keyword, gateway, external_id,
                     segments, encoding, attempts, next_attempt_at, created_at, updated_at)
SELECT CASE WHEN i % 2 = 0 THEN 'in' ELSE 'out' END,
       CASE WHEN i % 2 = 0 THEN 'inbound' ELSE 'reply' END,
       '+8491' || lpad((i % 100000)::text, 7, '0'), 'bench text',
       CASE WHEN i % 2 = 0 THEN 'received'
            WHEN i % 100 = 1 THEN 'queued'
            ELSE (ARRAY['delivered', 'sent', 'failed', 'buffered', 'rejected'])[(i / 2) % 5 + 1] END,
       'sms',
       CASE WHEN i % 2 = 0 THEN (ARRAY['HELP', 'REF', 'CHECK', 'STOP', 'CLINIC', NULL])[(i / 2) % 6 + 1] END,
       'africastalking', CASE WHEN i % 2 = 0 THEN 'bench-' || i END,
       1, 'GSM-7', 0,
       CASE WHEN i % 100 = 1 THEN timestamp '2026-11-01' END,
       timestamp '2026-11-01', timestamp '2026-11-01'
FROM generate_series(1, :n) AS i
"""


def timed(fn, runs: int) -> tuple[float, float]:
    """Median and max of `runs` calls, in ms, after one warm-up."""
    fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


def scratch_database(kind: str, folder: str) -> tuple[str, callable]:
    """The URL of an empty database, and how to drop it."""
    if kind == "sqlite":
        return f"sqlite:///{folder}/metrics-bench.db", lambda: None
    name = f"hen_bench_metrics_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url, drop = scratch_database(args.db, folder)
        try:
            upgrade(url)
            engine = make_engine(url)
            t0 = time.perf_counter()
            with engine.begin() as conn:
                conn.execute(text(_SQLITE_LOAD if args.db == "sqlite" else _PG_LOAD), {"n": args.messages})
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
                count = conn.execute(text("SELECT count(*) FROM message")).scalar_one()
            print(f"{args.db}: {count:,} messages loaded in {time.perf_counter() - t0:.1f} s")

            def baseline():
                with engine.connect() as conn:
                    conn.execute(text("SELECT * FROM message WHERE id = :id"), {"id": count // 2}).all()

            base_med, base_max = timed(baseline, args.runs * 20)
            read_med, read_max = timed(lambda: metrics.read_figures(engine), args.runs)

            settings = load_settings(
                _env_file=None,
                DATABASE_URL=url,
                SMS_GATEWAY="memory",
                DISPATCH_IN_PROCESS=False,
                METRICS_TOKEN=TOKEN,
                METRICS_CACHE_SECONDS=15,
            )
            app = create_app(settings, engine=engine)
            auth = {"Authorization": f"Bearer {TOKEN}"}
            with TestClient(app) as client:
                cached_med, cached_max = timed(lambda: client.get("/metrics", headers=auth), args.runs * 20)
                reads = []
                real = metrics.read_figures

                def counted(engine_):
                    reads.append(1)
                    return real(engine_)

                metrics.read_figures = counted
                app.state.metrics._figures = None  # a cold cache
                t0 = time.perf_counter()
                with ThreadPoolExecutor(20) as pool:
                    codes = list(
                        pool.map(lambda _: client.get("/metrics", headers=auth).status_code, range(20))
                    )
                parallel_ms = (time.perf_counter() - t0) * 1000
                metrics.read_figures = real
                anonymous = client.get("/metrics").status_code
            engine.dispose()
        finally:
            drop()

    print(f"{'what':<48} {'median':>10} {'max':>10} {'x baseline':>11}")
    for name, med, mx in (
        ("baseline: one message by id", base_med, base_max),
        ("read of the figures (an uncached scrape)", read_med, read_max),
        ("cached scrape through the app", cached_med, cached_max),
    ):
        print(f"{name:<48} {med:>8.2f}ms {mx:>8.2f}ms {med / base_med:>10.0f}x")
    print(
        f"20 parallel scrapes, cold cache: {parallel_ms:.0f} ms wall, {len(reads)} read(s), answers {set(codes)}"
    )
    print(f"a scrape without the token: {anonymous}")


if __name__ == "__main__":
    main()
