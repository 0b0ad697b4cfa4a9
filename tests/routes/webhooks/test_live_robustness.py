"""The application under a real uvicorn, where the event loop and the
sockets are real: a database that never answers holds the USSD steps that
wait for it, and nothing else (the routes without a database answer at
once); a USSD body over its cap is refused (413) while it is still being
sent, chunked, without a Content-Length."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from app.main import create_app
from tests.conftest import WEBHOOK_TOKEN, make_settings
from tests.factories import at_sms, ussd_form
from tests.live_server import served

TOKEN = {"X-Webhook-Token": WEBHOOK_TOKEN}


@contextlib.contextmanager
def silent_database() -> Iterator[int]:
    """A server that accepts TCP connections, reads what it is sent and
    never answers (a PostgreSQL that hangs): its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = listener.accept()
                held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def test_a_database_that_never_answers_holds_no_other_request():
    with silent_database() as port:
        settings = make_settings(
            f"postgresql://hen@127.0.0.1:{port}/hen", DB_CONNECT_TIMEOUT_SECONDS=2, DB_POOL_TIMEOUT_SECONDS=1
        )
        with served(create_app(settings)) as base, ThreadPoolExecutor(4) as pool:
            steps = [
                pool.submit(
                    httpx.post,
                    f"{base}/webhooks/africastalking/ussd",
                    data=ussd_form(),
                    headers=TOKEN,
                    timeout=30,
                )
                for _ in range(3)
            ]
            sms = pool.submit(
                httpx.post, f"{base}/webhooks/africastalking/sms", data=at_sms(), headers=TOKEN, timeout=30
            )
            time.sleep(0.3)  # the steps and the SMS are waiting for the database
            for path in ("/healthz/live", "/openapi.json"):
                started = time.monotonic()
                r = httpx.get(base + path, timeout=10)
                assert r.status_code == 200
                assert time.monotonic() - started < 1.0, path
            assert not any(step.done() for step in steps), "the database answered?"
            for step in steps:  # each step still gets its screen, never a 500
                r = step.result()
                assert r.status_code == 200 and r.text.startswith("END ")
            r = sms.result()
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            assert r.json() == {"detail": "database unavailable, try again"}


@pytest.mark.sqlite_only
def test_a_chunked_ussd_body_over_the_cap_is_refused_while_it_is_sent(database_url, db):
    app = create_app(make_settings(database_url), engine=db)
    with served(app) as base:
        host, port = base.removeprefix("http://").split(":")
        sock = socket.create_connection((host, int(port)))
        sock.sendall(
            b"POST /webhooks/africastalking/ussd HTTP/1.1\r\n"
            + f"Host: {host}:{port}\r\nX-Webhook-Token: {WEBHOOK_TOKEN}\r\n".encode()
            + b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"text=" + b"1" * 4091
        sent = 0
        sock.settimeout(0.05)
        answer = b""
        # a 300 MiB body, sent chunk by chunk until the answer comes
        while sent < 300 * 2**20 and b"\r\n\r\n" not in answer:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # the server closed the connection after its answer
                break
            sent += len(chunk)
            with contextlib.suppress(TimeoutError):
                answer += sock.recv(65536)
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            while b"}" not in answer and (more := sock.recv(65536)):
                answer += more
        sock.close()
    assert sent < 1 * 2**20, "the server read far past its cap"
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body) == {"detail": "body larger than 16384 bytes"}
