"""In-process cost of one SMS webhook request, against a bare endpoint in the
same run: the ASGI app driven by httpx's ASGITransport on one connection, so
the figures show where one request's time goes (event loop versus the
worker thread's transaction), without HTTP sockets or queueing.

    .venv/bin/python bench/webhook_inprocess.py [--db sqlite|postgresql] [--requests 300] [--send]

PostgreSQL: a scratch database next to HEN_BENCH_PG_URL (default
postgresql://postgres@127.0.0.1:5432/test), dropped at the end."""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import httpx
import psycopg

from app.config import load_settings
from app.db import hand_over_after_commit, session_scope
from app.demo import load_demo
from app.main import create_app
from app.migrate import upgrade
from app.sending.gateways.memory import MemoryGateway

warnings.simplefilter("ignore")
PG = os.environ.get("HEN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def measure(app, kind: str, n: int) -> tuple[float, float]:
    """(wall ms, event-loop CPU ms) per request."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        wall, cpu = time.perf_counter(), time.thread_time()
        for i in range(n):
            if kind == "sms":
                form = {
                    "from": f"+8491{i:07d}",
                    "to": "8080",
                    "text": "HELP",
                    "date": "",
                    "id": uuid.uuid4().hex,
                }
                r = await client.post("/webhooks/africastalking/sms?token=bench", data=form)
            else:
                r = await client.post("/bench/bare")
            assert r.status_code == 200, r.text
        return (time.perf_counter() - wall) / n * 1000, (time.thread_time() - cpu) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument(
        "--send", action="store_true", help="also send each reply (memory gateway), right after the answer"
    )
    args = ap.parse_args()
    name = f"hen_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    tmp = tempfile.TemporaryDirectory()
    if args.db == "sqlite":
        url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    else:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    try:
        upgrade(url)
        settings = load_settings(
            _env_file=None,
            DATABASE_URL=url,
            SMS_GATEWAY="memory",
            DISPATCH_IN_PROCESS=False,
            WEBHOOK_TOKEN="bench",
            AUTO_REPLY_LIMIT_PER_HOUR=10**6,
            SEND_RATE_PER_SECOND=10**4,
        )
        app = create_app(settings, gateway=MemoryGateway())
        if not args.send:  # replies stay queued
            hand_over_after_commit(app.state.session_factory, None)
        with session_scope(app.state.session_factory) as session:
            load_demo(session)

        @app.post("/bench/bare")
        async def bare() -> dict:
            return {"status": "ok"}

        asyncio.run(measure(app, "bare", 50))  # warm-up
        asyncio.run(measure(app, "sms", 50))
        bare_wall, bare_cpu = asyncio.run(measure(app, "bare", args.requests))
        sms_wall, sms_cpu = asyncio.run(measure(app, "sms", args.requests))
        app.state.engine.dispose()
    finally:
        if args.db == "postgresql":
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        tmp.cleanup()
    print(
        f"bench/webhook_inprocess.py: {args.db}, {args.requests} requests each, one connection, "
        f"replies {'sent' if args.send else 'not sent'}"
    )
    print(f"{'endpoint':10} {'wall ms/req':>12} {'event loop CPU ms/req':>22}")
    print(f"{'bare':10} {bare_wall:12.2f} {bare_cpu:22.2f}")
    print(f"{'sms HELP':10} {sms_wall:12.2f} {sms_cpu:22.2f}")
    print(
        f"ratio sms/bare wall: {sms_wall / bare_wall:.1f}x; ceiling of one process ~{1000 / sms_wall:.0f} req/s "
        "when requests run one after another"
    )


if __name__ == "__main__":
    main()
