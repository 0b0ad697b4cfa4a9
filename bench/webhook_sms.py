"""Benchmark: the SMS keyword webhook versus a bare FastAPI endpoint, in the
same uvicorn process, same run.

    .venv/bin/python bench/webhook_sms.py [--db sqlite|postgresql] [--duration 10]
                                           [--connections 16] [--tool auto|wrk|httpx]
                                           [--no-send] [--rate 100] [--floor]
                                           [--workers 1]

- one uvicorn process on 127.0.0.1 (one worker), memory gateway, the
  dispatcher tick off (replies are still sent right after each answer, as
  in production: handed over by the commit that stored them, then sent by
  the dispatcher's pool), a fresh database (SQLite file in a temporary
  folder, or a new PostgreSQL database at HEN_BENCH_PG_URL / the test URL);
- load: `wrk` when installed (`apt-get install -y wrk`), else an httpx async
  client; 16 connections; each SMS is a HELP from a varying phone with a
  unique gateway id (no duplicates, the reply cap never hit);
- the bare endpoint answers a form POST of the same size with a small JSON;
- `--no-send` leaves the replies queued (not claimed, not sent): the webhook's own
  cost, without the dispatcher's;
- `--rate R` adds an open-loop run: SMS at R a second whatever the answers
  (as phones text), latency counted from when each was due;
- `--floor` (SQLite) adds two stripped endpoints in the same process
  (`bench/sms_floor.py`): the webhook's form and phone check with a thread
  hand-off and no database ("floor: route"), and the least the SMS path
  must store and send, by hand on the raw sqlite3 driver ("floor: raw"):
  what one process could reach at best;
- `--workers N` runs N uvicorn processes (bare endpoint and webhook alike;
  the goal is set for one): how the service scales on this machine.

Prints req/s of both, the ratio, p50/p99 latency, the server process's CPU
time per request (all its threads; less sensitive to a busy machine than
req/s), and checks that every 2xx SMS request stored its inbound message
and its reply, and that every reply was sent.
Goal (issue 4): SMS >= 50 % of the bare req/s, SMS p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "bench-webhook-token"
SMS_PATH = f"/webhooks/africastalking/sms?token={TOKEN}"
BARE_PATH = "/bench/bare"
MAX_REQUESTS = 2_000_000  # a bound for the httpx loop, whatever the duration


def make_app():
    """uvicorn factory: the real application plus one bare endpoint."""
    from fastapi.responses import JSONResponse

    from app.db import hand_over_after_commit
    from app.logs import setup_logging
    from app.main import create_app

    setup_logging("WARNING")
    app = create_app()
    if os.environ.get("HEN_BENCH_NO_SEND") == "1":  # --no-send: the webhook's own cost only
        hand_over_after_commit(app.state.session_factory, None)
    if os.environ.get("HEN_BENCH_FLOOR") == "1":
        from bench.sms_floor import add_floor_endpoints

        add_floor_endpoints(app)

    @app.post(BARE_PATH)
    async def bare() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app


# ---------------------------------------------------------------- database


def fresh_database(kind: str, workdir: Path) -> tuple[str, callable]:
    from app.migrate import upgrade

    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        return url, lambda: None
    import psycopg

    admin = os.environ.get("HEN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"hen_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    upgrade(url)

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


def count_rows(url: str) -> tuple[int, int, int]:
    from sqlalchemy import text

    from app.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        inbound = conn.execute(text("SELECT count(*) FROM message WHERE direction = 'in'")).scalar()
        replies = conn.execute(text("SELECT count(*) FROM message WHERE direction = 'out'")).scalar()
        sent = conn.execute(
            text("SELECT count(*) FROM message WHERE direction = 'out' AND status = 'sent'")
        ).scalar()
    engine.dispose()
    return inbound, replies, sent


# ---------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    url: str, port: int, no_send: bool = False, floor: bool = False, workers: int = 1
) -> subprocess.Popen:
    env = {
        **os.environ,
        "HEN_BENCH_NO_SEND": "1" if no_send else "0",
        "HEN_BENCH_FLOOR": "1" if floor else "0",
        "DATABASE_URL": url,
        "SMS_GATEWAY": "memory",
        "DISPATCH_IN_PROCESS": "false",
        "WEBHOOK_TOKEN": TOKEN,
        "APP_ENV": "test",
        "SEND_RATE_PER_SECOND": "10000",  # the memory gateway has no rate limit to respect
        "QUIET_HOURS": "",
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.webhook_sms:make_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit("uvicorn exited during start-up")
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("uvicorn did not answer /healthz within 30 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` and of its live child
    processes (uvicorn's workers), all their threads (Linux)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- load: wrk

WRK_SMS = r"""
local threads = 0
function setup(thread)
  thread:set("tid", threads)  -- a global of that thread's own Lua state
  threads = threads + 1
end
local n = 0
request = function()
  n = n + 1
  local k = tid * 10000000 + n
  local body = string.format(
    "from=%%2B8491%07d&to=8088&text=HELP&date=2026-11-23+12%%3A00%%3A00&id=ATXid-RUN-%d&linkId=l&networkCode=45204",
    k % 10000000, k)
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"""

WRK_BARE = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "from=%2B84910000001&to=8088&text=HELP&date=2026-11-23+12%3A00%3A00&id=ATXid-bare-0000000001&linkId=l&networkCode=45204"
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(out: str, pattern: str) -> float:
    m = re.search(pattern + r"\s+([\d.]+)(us|ms|s|m)\b", out)
    if m is None:
        raise SystemExit(f"could not read {pattern!r} in the output of wrk:\n{out}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(base: str, path: str, script: str, duration: int, connections: int, workdir: Path) -> dict:
    lua = workdir / f"script-{uuid.uuid4().hex[:6]}.lua"
    lua.write_text(script.replace("RUN", uuid.uuid4().hex[:8]))
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "5s",
            "-s",
            str(lua),
            base + path,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "requests": total,
        "p50": _ms(out, "50%"),
        "p99": _ms(out, "99%"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


# ---------------------------------------------------------------- load: httpx


def _sms_form(phone: str, gateway_id: str) -> dict[str, str]:
    return {
        "from": phone,
        "to": "8088",
        "text": "HELP",
        "date": "2026-11-23 12:00:00",
        "id": gateway_id,
        "linkId": "l",
        "networkCode": "45204",
    }


def _figures(latencies: list[float], elapsed: float, non2xx: int) -> dict:
    q = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "p50": q[49],
        "p99": q[98],
        "non2xx": non2xx,
        "socket_errors": "",
    }


def run_httpx(base: str, path: str, kind: str, duration: int, connections: int) -> dict:
    import httpx

    run = uuid.uuid4().hex[:8]

    async def main() -> dict:
        latencies: list[float] = []
        non2xx = 0
        counter = 0
        deadline = time.monotonic() + duration
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=5) as client:

            async def worker():
                nonlocal non2xx, counter
                while time.monotonic() < deadline and counter < MAX_REQUESTS:
                    counter += 1
                    k = counter
                    data = _sms_form(f"+8491{k % 10_000_000:07d}", f"ATXid-{run}-{k}")
                    started = time.perf_counter()
                    response = await client.post(path, data=data)
                    latencies.append((time.perf_counter() - started) * 1000)
                    non2xx += response.status_code >= 300

            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(connections)))
            elapsed = time.monotonic() - started
        return _figures(latencies, elapsed, non2xx)

    return asyncio.run(main())


def run_open_loop(base: str, path: str, rate: float, duration: int, connections: int) -> dict:
    """Requests at a fixed rate whatever the answers (as phones text: nobody
    waits for the previous SMS to be answered), on at most `connections`
    connections. Latency is counted from the moment a request was due, so
    time spent waiting for a free connection counts too."""
    import httpx

    run = uuid.uuid4().hex[:8]

    async def main() -> dict:
        latencies: list[float] = []
        non2xx = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:

            async def one(k: int, due: float) -> None:
                nonlocal non2xx
                data = _sms_form(f"+8492{k % 10_000_000:07d}", f"ATXid-open-{run}-{k}")
                response = await client.post(path, data=data)
                latencies.append((time.perf_counter() - due) * 1000)
                non2xx += response.status_code >= 300

            tasks = []
            start = time.perf_counter()
            total = int(rate * duration)
            for k in range(total):
                due = start + k / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(k, due)))
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - start
        return _figures(latencies, elapsed, non2xx)

    return asyncio.run(main())


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--no-send", action="store_true", help="replies stay queued: the webhook's own cost")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn processes (the goal is set for 1; more show how the service scales)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure two stripped endpoints: what one process can reach at best (SQLite)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="also send SMS at this fixed rate (req/s, open loop) and report its latency",
    )
    args = parser.parse_args()
    if not 1 <= args.duration <= 300 or not 1 <= args.connections <= 256:
        parser.error("--duration 1..300 s, --connections 1..256")
    if args.floor and args.db != "sqlite":
        parser.error("--floor: SQLite only")
    if not 1 <= args.workers <= 16 or (args.floor and args.workers > 1):
        parser.error("--workers 1..16, and 1 with --floor (its raw path holds one writer per process)")

    tool = args.tool
    if tool in ("auto", "wrk") and shutil.which("wrk") is None:
        if tool == "wrk":
            raise SystemExit("wrk is not installed: apt-get update && apt-get install -y wrk")
        print("wrk not found (apt-get update && apt-get install -y wrk); using the httpx async client")
        tool = "httpx"
    elif tool == "auto":
        tool = "wrk"

    with tempfile.TemporaryDirectory(prefix="hen-bench-") as tmp:
        workdir = Path(tmp)
        url, drop = fresh_database(args.db, workdir)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(url, port, args.no_send, args.floor, args.workers)
        try:

            def load(path: str, kind: str) -> dict:
                before = cpu_seconds(server.pid)
                result = run(path, kind)
                result["cpu_ms"] = (cpu_seconds(server.pid) - before) * 1000 / max(result["requests"], 1)
                return result

            def run(path: str, kind: str) -> dict:
                if tool == "wrk":
                    return run_wrk(
                        base,
                        path,
                        WRK_SMS if kind == "sms" else WRK_BARE,
                        args.duration,
                        args.connections,
                        workdir,
                    )
                return run_httpx(base, path, kind, args.duration, args.connections)

            load(BARE_PATH, "bare") if args.duration > 2 else None  # warm-up
            bare = load(BARE_PATH, "bare")
            sms = load(SMS_PATH, "sms")
            floors: list[tuple[str, dict]] = []
            if args.floor:
                from bench.sms_floor import RAW_PATH, ROUTE_PATH

                floors = [
                    ("floor: route", load(f"{ROUTE_PATH}?token={TOKEN}", "bare")),
                    ("floor: raw", load(f"{RAW_PATH}?token={TOKEN}", "sms")),
                ]
            steady = steady_bare = None
            if args.rate:
                steady_bare = run_open_loop(base, BARE_PATH, args.rate, args.duration, args.connections)
                steady = run_open_loop(base, SMS_PATH, args.rate, args.duration, args.connections)
            time.sleep(1)  # let the last background sends finish
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        inbound, replies, sent = count_rows(url)
        drop()

    ratio = sms["rps"] / bare["rps"] if bare["rps"] else 0.0
    floor_raw = sum(r["requests"] for name, r in floors if name == "floor: raw")
    print(
        f"\nbench/webhook_sms.py: {tool}, {args.connections} connections, {args.duration} s each, "
        f"{'one uvicorn process' if args.workers == 1 else f'{args.workers} uvicorn processes'} on 127.0.0.1, "
        f"database {args.db}, {os.cpu_count()} CPUs"
        + (", replies not sent (--no-send)" if args.no_send else ", replies sent after each answer")
    )
    print(
        f"{'endpoint':<12}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}{'non-2xx':>9}"
        f"{'server CPU ms/req':>19}"
    )
    for name, r in (("bare", bare), ("sms HELP", sms), *floors):
        print(
            f"{name:<12}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['requests']:>10}{r['non2xx']:>9}"
            f"{r['cpu_ms']:>19.2f}"
        )
        if r["socket_errors"]:
            print(f"  socket errors: {r['socket_errors']}")
    print(f"ratio sms/bare: {ratio:.1%}  (goal >= 50 %)   sms p99: {sms['p99']:.1f} ms  (goal < 50 ms)")
    for name, r in floors:
        print(f"ratio {name}/bare: {r['rps'] / bare['rps']:.1%}" if bare["rps"] else "")
    if steady is not None:
        for name, r in (("bare", steady_bare), ("sms HELP", steady)):
            print(
                f"open loop at {args.rate:g}/s, {name}: {r['requests']} requests, {r['rps']:.0f} req/s, "
                f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, non-2xx {r['non2xx']}"
            )
    print(
        f"stored: {inbound} inbound, {replies} replies ({sent} sent) for "
        f"{sms['requests'] + (steady['requests'] if steady else 0) + floor_raw} SMS requests"
        + (f" ({floor_raw} of them on the raw floor)" if floor_raw else "")
    )


if __name__ == "__main__":
    main()
