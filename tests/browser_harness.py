"""A real headless Chromium for the console's tests: Debian's `chromium`
(installed by the test setup when missing and this may, see
tests/debian_packages.py), driven by Playwright with the system browser as
its executable, so nothing is downloaded.

    from tests import browser_harness
    chromium = browser_harness.chromium  # the fixture (an import would trip ruff's F811)

`chromium` (session scope) is a Playwright Browser; a test opens its own
contexts (`phone_context(browser, base_url)`: 360 px wide, like the phones
supervisors use)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import debian_packages

PACKAGES = ("chromium", "chromium-driver")
PHONE = {"width": 360, "height": 780}


def _chromium() -> str | None:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return found if Path(found).exists() else None


def ensure_chromium() -> str:
    return debian_packages.ensure(PACKAGES, _chromium, "Chromium")


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    executable = ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def phone_context(browser, base_url: str):
    """A new browser context (its own cookies) at phone width."""
    context = browser.new_context(base_url=base_url, viewport=PHONE, device_scale_factor=2, locale="vi-VN")
    context.set_default_timeout(15_000)
    return context
