"""A real Kannel for tests: bearerbox, smsbox and the fake SMS centre of
Debian's `kannel-extras` (`/usr/lib/kannel/test/fakesmsc`), on free loopback
ports, configured in a temporary folder.

    from tests import kannel_harness
    kannel = kannel_harness.kannel  # the fixture (an import would trip ruff's F811)

`kannel` (module scope) is a running KannelHarness, configured from
deploy/kannel/fakesmsc.conf. Its incoming SMS go to the get-url that the
`kannel_get_url` fixture returns: a test module defines its own to point
Kannel at its server (a Recorder below, or the app under uvicorn). Without
the packages the tests are skipped, and fail under CI=true; as root with
apt-get, the packages are installed first.

How fakesmsc (Kannel 1.4.5) behaves, which the harness works around:
  * it connects to bearerbox's `smsc = fake` port as a client; started with
    no messages on its command line it reads MO lines from stdin,
    `<from> <to> text <text>` or `<from> <to> ucs2 <url-encoded UTF-16BE>`;
  * stdin goes through a 256-byte fgets buffer behind a select(): a second
    line written at once may sit unread, and a longer line is cut into
    several messages. type_mo writes one line and waits until fakesmsc says
    it sent it, and refuses lines of 255 bytes or more;
  * the MT messages it receives are printed, at debug log level, on stderr:
    `... DEBUG: Got message 3: <HEN +84912345678 text Hello>`, with the type
    `text` (GSM-7: the text as is), `ucs-2` (url-encoded UTF-16BE), `data`
    (8-bit, url-encoded) or `udh` (`udh <udh> data <data>`, both url-encoded);
  * between two stdin lines it reads bearerbox only every second (its stdin
    select times out after 1 s): an MT shows up within about a second;
  * bearerbox's fake driver produces the delivery reports itself: type 8
    (accepted by the SMSC, %A "ACK/") then type 1 (delivered).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlsplit

import pytest

from tests import debian_packages

FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
PACKAGES = ("kannel", "kannel-extras")
_MT_LINE = re.compile(rb"Got message \d+: <(.*)>\s*$")
_MO_SENT = re.compile(rb"fakesmsc: sent message (\d+)")
_NOWHERE = "http://127.0.0.1:9/unused?from=%p&to=%P&text=%a&id=%I"  # port 9: discard, nothing listens


# ---------------------------------------------------------------- packages


def _binaries() -> tuple[str, str] | None:
    """bearerbox and smsbox (on PATH, else in /usr/sbin), when fakesmsc is there too."""
    bearerbox, smsbox = (shutil.which(name) or f"/usr/sbin/{name}" for name in ("bearerbox", "smsbox"))
    if FAKESMSC.exists() and Path(bearerbox).exists() and Path(smsbox).exists():
        return bearerbox, smsbox
    return None


def ensure_kannel() -> tuple[str, str]:
    """bearerbox and smsbox, installing the packages when this may (root,
    apt-get); otherwise skips the test (fails it under CI)."""
    return debian_packages.ensure(PACKAGES, _binaries, "Kannel")


# ---------------------------------------------------------------- MT lines


@dataclass(frozen=True)
class MT:
    """One message bearerbox handed to the fake SMS centre."""

    sender: str
    receiver: str
    kind: str  # text | ucs-2 | data | udh
    text: str  # decoded: UTF-16BE for ucs-2, UTF-8 otherwise
    payload: bytes  # the message bytes as Kannel sent them
    udh: bytes | None = None


def _url_decoded(value: bytes) -> bytes:
    """Kannel's octstr_url_encode: `+` for a space, %XX for the rest."""
    return unquote_to_bytes(value.replace(b"+", b" "))


def parse_mt(line: bytes) -> MT | None:
    """`<sender> <receiver> <type> <data>` as the fake SMSC writes it; None
    for a line of another shape."""
    parts = line.split(b" ", 3)
    if len(parts) < 4:
        return None
    sender, receiver, kind, rest = (parts[0].decode(), parts[1].decode(), parts[2].decode(), parts[3])
    udh = None
    if kind == "text":
        payload = rest
    elif kind in ("ucs-2", "data"):
        payload = _url_decoded(rest)
    elif kind == "udh":
        udh_part, _, data = rest.partition(b" data ")
        udh, payload = _url_decoded(udh_part), _url_decoded(data)
    else:
        return None
    text = payload.decode("utf-16-be" if kind == "ucs-2" else "utf-8", errors="replace")
    return MT(sender, receiver, kind, text, payload, udh)


def mo_line(from_: str, to: str, text: str) -> str:
    """The stdin line for one MO: `text` for printable ASCII, else UCS-2,
    as a phone sends Vietnamese with diacritics."""
    if text.isascii() and text.isprintable():
        line = f"{from_} {to} text {text}"
    else:
        line = f"{from_} {to} ucs2 {quote(text.encode('utf-16-be'), safe='')}"
    if len(line.encode()) >= 255:
        raise ValueError(f"MO line of {len(line.encode())} bytes: fakesmsc reads at most 254")
    return line


# ---------------------------------------------------------------- the harness


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


SAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "kannel" / "fakesmsc.conf"
_SETTING = re.compile(r"^\s*([a-z0-9-]+)\s*=\s*(.*)$")


def configure(sample: str, values: dict[tuple[str, str], str]) -> str:
    """`sample` (Kannel's syntax) with each `(group, variable)` of `values`
    set to its value; every one of them must be in the sample."""
    out, group, missing = [], None, set(values)
    for line in sample.splitlines():
        if m := _SETTING.match(line):
            variable = m.group(1)
            if variable == "group":
                group = m.group(2).strip()
            elif (group, variable) in values:
                line = f"{variable} = {values[(group, variable)]}"
                missing.discard((group, variable))
        out.append(line)
    if missing:
        raise ValueError(f"not in the sample configuration: {sorted(missing)}")
    return "\n".join(out) + "\n"


@dataclass
class KannelHarness:
    """bearerbox + smsbox + fakesmsc. `get_url`: the sms-service get-url
    (Kannel escape codes, e.g. `...?from=%p&to=%P&text=%a&id=%I`)."""

    workdir: Path
    get_url: str = _NOWHERE
    username: str = "hen"
    password: str = field(default_factory=lambda: secrets.token_hex(8))
    received: list[MT] = field(default_factory=list)

    def __post_init__(self):
        if '"' in self.get_url:
            raise ValueError("get_url: no double quotes (Kannel's config syntax)")
        self.ports = {name: free_port() for name in ("admin", "smsbox", "fake", "sendsms")}
        self.admin_password = secrets.token_hex(8)
        self._procs: dict[str, subprocess.Popen] = {}
        self._changed = threading.Condition()
        self._mo_sent = 0

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms"

    def status(self) -> str:
        url = f"http://127.0.0.1:{self.ports['admin']}/status.txt?password={self.admin_password}"
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.read().decode("utf-8", "replace")

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 15.0) -> KannelHarness:
        bearerbox, smsbox = ensure_kannel()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "kannel.conf"
        config.write_text(configure(SAMPLE.read_text(), self._values()))
        deadline = time.monotonic() + timeout
        try:
            self._spawn("bearerbox", [bearerbox, "-v", "1", str(config)])
            self._wait(lambda: _listening(self.ports["smsbox"]), deadline, "bearerbox's smsbox port")
            self._spawn("smsbox", [smsbox, "-v", "1", str(config)])
            self._wait(lambda: _listening(self.ports["sendsms"]), deadline, "smsbox's sendsms port")
            fake = [str(FAKESMSC), "-H", "127.0.0.1", "-r", str(self.ports["fake"]), "-i", "0", "-v", "0"]
            self._spawn("fakesmsc", fake, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            threading.Thread(target=self._read_fakesmsc, name="fakesmsc-reader", daemon=True).start()
            self._wait(self._all_online, deadline, "fakesmsc and smsbox online in bearerbox's status")
        except BaseException:
            self.stop()
            raise
        return self

    def _values(self) -> dict[tuple[str, str], str]:
        """What this harness puts into deploy/kannel/fakesmsc.conf."""
        return {
            ("core", "admin-port"): str(self.ports["admin"]),
            ("core", "admin-password"): self.admin_password,
            ("core", "smsbox-port"): str(self.ports["smsbox"]),
            ("core", "log-file"): f'"{self.workdir / "bearerbox.log"}"',
            ("smsc", "port"): str(self.ports["fake"]),
            ("smsbox", "sendsms-port"): str(self.ports["sendsms"]),
            ("smsbox", "log-file"): f'"{self.workdir / "smsbox.log"}"',
            ("sendsms-user", "username"): self.username,
            ("sendsms-user", "password"): self.password,
            ("sms-service", "get-url"): f'"{self.get_url}"',
        }

    def _spawn(self, name: str, argv: list[str], **streams) -> None:
        log = open(self.workdir / f"{name}.out", "wb")  # noqa: SIM115 (closed with the process)
        streams.setdefault("stdout", log)
        streams.setdefault("stderr", log)
        self._procs[name] = subprocess.Popen(argv, cwd=self.workdir, start_new_session=True, **streams)
        self._procs[name].log = log  # type: ignore[attr-defined]

    def _all_online(self) -> bool:
        with contextlib.suppress(OSError):
            status = self.status()
            return "FAKE:" in status and "(online" in status and "smsbox:" in status and "(on-line" in status
        return False

    def _wait(self, ready: Callable[[], bool], deadline: float, what: str) -> None:
        while not ready():
            dead = [name for name, proc in self._procs.items() if proc.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(
                    f"Kannel: no {what} ({'exited: ' + ', '.join(dead) if dead else 'timeout'})\n{self.logs()}"
                )
            time.sleep(0.05)

    def logs(self, lines: int = 15) -> str:
        """The last lines of each program's log, for a failure message."""
        out = []
        for name in ("bearerbox.log", "smsbox.log", "fakesmsc.out"):
            path = self.workdir / name
            if path.exists():
                tail = path.read_bytes().decode("utf-8", "replace").splitlines()[-lines:]
                out.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(out)

    def stop(self) -> None:
        """Ends the three programs (those this harness started, by their process)."""
        for proc in self._procs.values():
            with contextlib.suppress(OSError):
                if proc.stdin:
                    proc.stdin.close()
                proc.terminate()
        deadline = time.monotonic() + 3
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
            proc.log.close()  # type: ignore[attr-defined]
        self._procs.clear()

    def __enter__(self) -> KannelHarness:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ messages

    def _read_fakesmsc(self) -> None:
        proc = self._procs["fakesmsc"]
        with open(self.workdir / "fakesmsc.out", "ab") as log:
            for raw in proc.stderr:  # type: ignore[union-attr]
                log.write(raw)
                log.flush()
                with self._changed:
                    if m := _MT_LINE.search(raw):
                        mt = parse_mt(m.group(1))
                        if mt is not None:
                            self.received.append(mt)
                    elif m := _MO_SENT.search(raw):
                        self._mo_sent = int(m.group(1))
                    self._changed.notify_all()

    def type_mo(self, from_: str, to: str, text: str, timeout: float = 5.0) -> None:
        """One incoming SMS, typed into fakesmsc; returns once fakesmsc has
        passed it to bearerbox (not once the get-url has it)."""
        line = mo_line(from_, to, text)
        proc = self._procs["fakesmsc"]
        with self._changed:
            expected = self._mo_sent + 1
            proc.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
            if not self._changed.wait_for(lambda: self._mo_sent >= expected, timeout):
                raise TimeoutError(f"fakesmsc did not send the MO line {line!r}\n{self.logs()}")

    def wait_for_mt(self, predicate: Callable[[MT], bool] | None = None, timeout: float = 10.0) -> MT:
        """The first MT received so far (or until `timeout`) that `predicate` accepts."""

        def match() -> MT | None:
            return next((mt for mt in self.received if predicate is None or predicate(mt)), None)

        with self._changed:
            if not self._changed.wait_for(lambda: match() is not None, timeout):
                raise TimeoutError(f"no matching MT within {timeout} s; received {self.received!r}")
            return match()  # type: ignore[return-value]


# ---------------------------------------------------------------- a tiny HTTP server


class Recorder:
    """An HTTP server on a free loopback port that answers `status` (200)
    to every GET and keeps each request's query, for a get-url or dlr-url
    to point at."""

    def __init__(self, status: int = 200):
        self.status = status  # what every request is answered with
        self.requests: list[dict[str, str]] = []
        self._changed = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                query = urlsplit(self.path).query
                with recorder._changed:
                    recorder.requests.append(dict(parse_qsl(query, keep_blank_values=True)))
                    recorder._changed.notify_all()
                self.send_response(recorder.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="recorder", daemon=True
        ).start()

    def wait_for(self, predicate: Callable[[dict[str, str]], bool], timeout: float = 10.0) -> dict[str, str]:
        def match():
            return next((r for r in self.requests if predicate(r)), None)

        with self._changed:
            if not self._changed.wait_for(lambda: match() is not None, timeout):
                raise TimeoutError(f"no matching request within {timeout} s; got {self.requests!r}")
            return match()  # type: ignore[return-value]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def kannel_get_url() -> str:
    """The sms-service get-url; override it in a test module."""
    return _NOWHERE


@pytest.fixture(scope="module")
def kannel(kannel_get_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KannelHarness]:
    with KannelHarness(tmp_path_factory.mktemp("kannel"), get_url=kannel_get_url) as harness:
        yield harness
