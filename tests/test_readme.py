"""The README's walkthrough runs as written: the referral loop with the demo
phones, the USSD menu and the admin API, against a fresh local database and
a real `hen serve`."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _walkthrough() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->", 1)[0]
    return block.split("```sh", 1)[1].rsplit("```", 1)[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def local_service(tmp_path):
    """`make run` in miniature: migrate, load demo data, serve."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SMS_GATEWAY")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'hen.db'}", QUIET_HOURS="")
    for args in (["db", "upgrade"], ["demo"]):
        subprocess.run([str(BIN / "hen"), *args], env=env, cwd=REPO, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "hen"), "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise AssertionError("hen serve did not start")
            time.sleep(0.2)
        yield env, port
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_the_readme_walkthrough_runs_as_written(local_service):
    env, port = local_service
    script = _walkthrough().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = run.stdout
    assert run.returncode == 0, f"walkthrough failed:\n{out}\n{run.stderr}"

    code = re.search(r"\d{4}-\d{4}", out).group(0)
    # 1. the worker and the client both got the code
    assert re.search(rf"-> \+84900000001 .*\n .*{code}", out)
    assert re.search(rf"-> \+84912345678 .*\n .*{code}", out)
    # 3. redemption: the worker is told, without the client's number
    after_red = out.split(f"<- 0900000002: XN {code}", 1)[1].split("<- ", 1)[0]
    worker_note = re.search(r"-> \+84900000001 .*\n   (.*)", after_red).group(1)
    assert code in worker_note and "0912345678" not in worker_note and "+84912345678" not in worker_note
    # ... and the client gets the demo VCT's three peer coupons, one SMS each, to pass on
    coupons = re.findall(r"-> \+84912345678 .*\n   (.*)", after_red)
    assert len(coupons) == 3 and all(re.search(r"\d{4}-\d{4}", text) for text in coupons)
    # 5. USSD: the code check answers with an END screen naming the code
    assert re.search(rf"END .*{code}", out)
    # 6. the API shows the appointment reminders and one redemption for the worker
    payloads = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    reminders, stats, indicators = payloads[-3], payloads[-2], payloads[-1]
    kinds = {item["kind"] for item in reminders["items"]}
    assert {"appointment_day_before", "appointment_soon"} <= kinds
    # the code and its three coupons (the worker's chain): each coupon not yet passed on is one person
    rows = stats["items"]
    assert sum(r["issued"] for r in rows) == 4 and sum(r["redeemed"] for r in rows) == 1
    assert indicators["people_referred"] == 4
    assert indicators["referred_to_vct"] == 4 and indicators["went_to_vct"] == 1
    assert indicators["reached_through_peers"] == 0
    # 7. the console account signs in and sees the month's code
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as browser:
        form = browser.get("/console/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        signed = browser.post(
            "/console/login",
            data={"email": "po@example.org", "password": "a long enough secret", "csrf": csrf},
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/console/"
        overview = browser.get("/console/").text
        assert re.search(r'data-indicator="codes_issued">[^<]*<b>4</b>', overview)


def test_the_readme_keyword_table_is_the_alias_table():
    from app.channels.keywords import ALIASES

    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- keywords:start -->", 1)[1].split("<!-- keywords:end -->", 1)[0]
    shown = {}
    for line in block.splitlines()[3:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2:
            keyword = cells[0].strip("`")
            shown[keyword] = {a.strip().strip("`") for a in cells[1].split(",") if a.strip()} | {keyword}
    assert shown == {k: set(v) for k, v in ALIASES.items()}
