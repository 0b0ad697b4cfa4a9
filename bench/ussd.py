"""USSD webhook latency: one uvicorn process on 127.0.0.1, 16 connections,
a 3-step client session (main menu -> find a clinic -> a district).

    .venv/bin/python bench/ussd.py [--db sqlite|postgresql] [--sessions 1000] [--connections 16]
                                   [--wrk-seconds 10] [--database-url URL]
                                   [--cpu-requests 600] [--cpu-runs 5] [--cpu-only]

Each step is a real webhook call (token, form parsing, role look-up, menu
replay; a step that confirms nothing only reads, so none of these commits).

First the CPU time of one request in the process itself (the ASGI app called
directly, one request at a time, no sockets: robust to a busy machine, the
least disturbed of --cpu-runs runs of --cpu-requests each), then load,
bounded in time or count:
- wrk (`apt-get install -y wrk`), C connections for a fixed time: a bare
  endpoint of the same process (form parsed, constant answer) for
  reference, each step's body alone (per-step p50/p99), the three bodies
  in rotation (overall), and the rotation on 1 connection (a step's own
  time, without queueing);
- an httpx async client (when wrk is missing, or with --httpx): N
  sessions of 3 steps over C connections, each step timed.
The goal (SPEC section 2): p99 under 100 ms on one process.

A fresh SQLite file (or, with --db postgresql, a fresh database dropped at
the end) with the demo data; --database-url names another one instead
(migrated, demo data loaded)."""

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
from pathlib import Path

import httpx
from fastapi import Request
from fastapi.responses import PlainTextResponse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PATH = "/webhooks/africastalking/ussd"
TOKEN = "bench-token"
CLIENT = "+84912345678"
STEPS = [("main menu", ""), ("find a clinic", "1"), ("district", "1*1")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PG_ADMIN_URL = os.environ.get("HEN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def create_pg_database() -> tuple[str, str]:
    """A fresh PostgreSQL database for this run: (name, url)."""
    import uuid

    import psycopg

    name = f"hen_bench_ussd_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare_database(url: str | None, folder: Path) -> str:
    from app.db import make_engine, session_factory
    from app.demo import load_demo
    from app.migrate import upgrade

    url = url or f"sqlite:///{folder / 'bench-ussd.db'}"
    upgrade(url)
    engine = make_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with session_factory(engine)() as session:
        load_demo(session)
        session.commit()
    engine.dispose()
    return url


def make_app():
    """The service as `hen serve` builds it, plus a bare endpoint (read the
    form, answer a constant) to tell the service's cost from the machine's."""
    from app.main import create_app

    app = create_app()

    @app.post("/bench/bare", response_class=PlainTextResponse)
    async def bare(request: Request) -> PlainTextResponse:
        form = await request.form()
        return PlainTextResponse("CON " + str(form.get("text", "")))

    return app


def server_env(url: str) -> dict[str, str]:
    return dict(
        DATABASE_URL=url,
        WEBHOOK_TOKEN=TOKEN,
        SMS_GATEWAY="console",
        DISPATCH_IN_PROCESS="false",
        APP_ENV="test",
    )


async def asgi_post(app, path: str, body: bytes) -> tuple[int, bytes]:
    """One form POST through the ASGI app itself: (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
            (b"x-webhook-token", TOKEN.encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    answer: dict = {"body": b""}

    async def receive() -> dict:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


def cpu_per_request(url: str, requests: int, runs: int) -> list[tuple[str, float]]:
    """Process CPU ms per request of the bare endpoint, each step and the
    rotation, in this process, one request at a time (the minimum of `runs`)."""
    os.environ.update(server_env(url))
    app = make_app()
    cases = [("bare endpoint", "/bench/bare", [encode("1*1", 0)])]
    cases += [(name, PATH, [encode(text, 0)]) for name, text in STEPS]
    cases.append(("3 steps in rotation", PATH, [encode(text, 0) for _, text in STEPS]))

    async def one_run(path: str, bodies: list[bytes]) -> float:
        started = time.process_time()
        for i in range(requests):
            status, text = await asgi_post(app, path, bodies[i % len(bodies)])
            if status != 200 or not text.startswith(b"CON "):
                raise SystemExit(f"unexpected answer {status}: {text[:200]!r}")
        return (time.process_time() - started) / requests * 1000

    out = []
    for name, path, texts in cases:
        bodies = [t.encode() for t in texts]
        asyncio.run(one_run(path, bodies))  # warm-up: connections, statement caches
        out.append((name, min(asyncio.run(one_run(path, bodies)) for _ in range(runs))))
    app.state.engine.dispose()
    return out


def start_server(url: str, port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(server_env(url))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.ussd:make_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start within 30 s")


def form(text: str, n: int) -> dict[str, str]:
    return {
        "sessionId": f"bench-{n}",
        "serviceCode": "*384*123#",
        "phoneNumber": CLIENT,
        "text": text,
        "networkCode": "45204",
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def httpx_load(base: str, sessions: int, connections: int) -> tuple[dict[str, list[float]], float, int]:
    per_step: dict[str, list[float]] = {name: [] for name, _ in STEPS}
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=base, limits=limits, headers={"X-Webhook-Token": TOKEN}, timeout=10
    ) as c:
        for n in range(50):  # warm-up
            await c.post(PATH, data=form(STEPS[n % 3][1], n))
        counter = iter(range(sessions))

        async def worker() -> None:
            nonlocal errors
            for n in counter:  # shared iterator: bounded, no session twice
                for name, text in STEPS:
                    t0 = time.perf_counter()
                    r = await c.post(PATH, data=form(text, n))
                    per_step[name].append((time.perf_counter() - t0) * 1000)
                    if r.status_code != 200 or not r.text.startswith("CON "):
                        errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return per_step, elapsed, errors


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def run_wrk(
    base: str, bodies: list[str], connections: int, seconds: int, folder: Path, path: str = PATH
) -> dict[str, float]:
    script = folder / "ussd.lua"
    lua_bodies = ", ".join('"' + b.replace('"', '\\"') + '"' for b in bodies)
    script.write_text(
        f"local bodies = {{{lua_bodies}}}\nlocal i = 0\n"
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.headers["X-Webhook-Token"] = "{TOKEN}"\n'
        "request = function()\n  i = i % #bodies + 1\n"
        f'  return wrk.format(nil, "{path}", nil, bodies[i])\nend\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), base],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    dist = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "p50": _ms(dist.get("50", "")),
        "p99": _ms(dist.get("99", "")),
        "rps": float(rps.group(1)) if rps else float("nan"),
        "non2xx": int(bad.group(1)) if bad else 0,
    }


def encode(text: str, n: int) -> str:
    from urllib.parse import urlencode

    return urlencode(form(text, n))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="a fresh SQLite file, or a fresh database on HEN_BENCH_PG_URL's server",
    )
    parser.add_argument(
        "--database-url", default=None, help="use this database instead (migrated, demo data)"
    )
    parser.add_argument(
        "--httpx", action="store_true", help="also run the httpx client when wrk is installed"
    )
    parser.add_argument(
        "--cpu-requests", type=int, default=600, help="in-process CPU: requests a run (0: skip)"
    )
    parser.add_argument(
        "--cpu-runs", type=int, default=5, help="in-process CPU: runs, the least disturbed kept"
    )
    parser.add_argument("--cpu-only", action="store_true", help="only the in-process CPU figures")
    args = parser.parse_args()

    pg_name = None
    if args.db == "postgresql" and not args.database_url:
        pg_name, args.database_url = create_pg_database()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run_bench(args, Path(tmp))
    finally:
        if pg_name:
            drop_pg_database(pg_name)


def run_bench(args: argparse.Namespace, folder: Path) -> None:
    url = prepare_database(args.database_url, folder)
    backend = url.split(":", 1)[0]
    if args.cpu_requests > 0:
        print(
            f"USSD webhook, in-process CPU per request, {backend}, {args.cpu_requests} requests "
            f"one at a time, least of {args.cpu_runs} runs, load average: {os.getloadavg()[0]:.1f}"
        )
        for name, ms in cpu_per_request(url, args.cpu_requests, args.cpu_runs):
            print(f"  {name:<22}{ms:>9.3f} ms CPU")
        print()
    if args.cpu_only:
        return
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(url, port)
    try:
        print(
            f"USSD webhook, 1 uvicorn process, {backend}, {args.connections} connections, "
            f"{os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.1f}\n"
        )
        if shutil.which("wrk"):
            print(f"wrk -t1 -c{args.connections} -d{args.wrk_seconds}s --latency")
            print(f"  {'step':<22}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
            runs = [("bare endpoint", [encode("1*1", 0)], "/bench/bare")]
            runs += [(name, [encode(text, 0)], PATH) for name, text in STEPS]
            runs.append(("3 steps in rotation", [encode(text, 0) for _, text in STEPS], PATH))
            for name, bodies, path in runs:
                r = run_wrk(base, bodies, args.connections, args.wrk_seconds, folder, path)
                note = f"  ({r['non2xx']} non-2xx)" if r["non2xx"] else ""
                print(f"  {name:<22}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['rps']:>9.0f}{note}")
            # one connection: the time of a step itself, without queueing behind 15 others
            r = run_wrk(base, runs[-1][1], 1, args.wrk_seconds, folder)
            print(f"  {'rotation, 1 connection':<22}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['rps']:>9.0f}")
            if not args.httpx:
                return
        else:
            print("wrk not installed (apt-get install -y wrk): httpx async client only")
        per_step, elapsed, errors = asyncio.run(httpx_load(base, args.sessions, args.connections))
        total = [v for values in per_step.values() for v in values]
        print(
            f"\nhttpx async client: {args.sessions} sessions x 3 steps = {len(total)} requests "
            f"in {elapsed:.1f} s ({len(total) / elapsed:.0f} req/s), {errors} errors"
        )
        print(f"  {'step':<22}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for name, values in [*per_step.items(), ("overall", total)]:
            print(f"  {name:<22}{statistics.median(values):>9.1f}{pct(values, 99):>9.1f}{max(values):>9.1f}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
