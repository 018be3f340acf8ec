"""A real headless Chromium, driven by selenium through the system's chromedriver, for the web page tests;
and helpers for the hub's page in it.

The browser is found as `$OZCHAT_CHROMIUM` and `$OZCHAT_CHROMEDRIVER`, else `chromium` and
`chromedriver` on PATH (Debian's `chromium` and `chromium-driver` packages). Without them the
tests skip, saying so, unless `$OZCHAT_REQUIRE_BROWSER` is set (CI sets it): then they fail.
selenium is given both paths, so its selenium-manager never downloads a browser or a driver.

Selenium blocks: every call goes through `asyncio.to_thread`, so the hub and Python clients the
test runs on its event loop keep running while the browser waits on them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ozchat.hub import Hub
from ozchat.hub.avatars import UploadStore

T = TypeVar("T")

WAIT_SECONDS = 10.0  # for a DOM condition; a test's own timeout ends a real hang sooner or later
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,800",
]


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    chromium = os.environ.get("OZCHAT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("OZCHAT_CHROMEDRIVER") or shutil.which("chromedriver")
    if chromium and driver and os.access(chromium, os.X_OK) and os.access(driver, os.X_OK):
        return chromium, driver
    return None


def browser_or_skip() -> tuple[str, str]:
    found = find_browser()
    if found is not None:
        return found
    why = (
        "no headless Chromium: install Debian's chromium and chromium-driver, or set "
        "OZCHAT_CHROMIUM and OZCHAT_CHROMEDRIVER"
    )
    if os.environ.get("OZCHAT_REQUIRE_BROWSER"):
        pytest.fail(why + " (OZCHAT_REQUIRE_BROWSER is set)")
    pytest.skip(why)


class Page:
    """One browser window; the `*_now` methods block, the others run them off the event loop."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

    async def open(self, url: str) -> None:
        await self.run(self.driver.get, url)

    async def script(self, source: str, *args: Any) -> Any:
        return await self.run(self.driver.execute_script, source, *args)

    async def wait_for(self, condition: Callable[[Any], T], what: str) -> T:
        """Wait until `condition(driver)` is truthy (a DOM sentinel), and return it."""
        from selenium.webdriver.support.ui import WebDriverWait

        wait = WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.05)
        return await self.run(wait.until, condition, f"waited {WAIT_SECONDS} s for {what}")

    async def wait_for_script(self, source: str, what: str, *args: Any) -> Any:
        """Wait until the script returns something truthy, and return that."""
        return await self.wait_for(lambda driver: driver.execute_script(source, *args), what)

    async def type_into(self, element_id: str, text: str) -> None:
        def _type() -> None:
            from selenium.webdriver.common.by import By

            field = self.driver.find_element(By.ID, element_id)
            field.clear()
            field.send_keys(text)

        await self.run(_type)

    async def click(self, css: str) -> None:
        def _click() -> None:
            from selenium.webdriver.common.by import By

            self.driver.find_element(By.CSS_SELECTOR, css).click()

        await self.run(_click)


@asynccontextmanager
async def chromium() -> AsyncIterator[Page]:
    """A fresh headless Chromium (its own profile directory), quit with its driver afterwards."""
    chromium_path, driver_path = browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="ozchat-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium_path
        for flag in [*FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        service = Service(executable_path=driver_path)
        driver = await asyncio.to_thread(webdriver.Chrome, service=service, options=options)
        try:
            yield Page(driver)
        finally:
            await asyncio.to_thread(driver.quit)


# ---- the hub's web page ---------------------------------------------------------------------


@asynccontextmanager
async def started_web_hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """A hub on a free loopback port that keeps uploads, with a short keepalive as the suite's hubs have."""
    async with Hub(
        "127.0.0.1", 0, uploads=UploadStore(tmp_path / "uploads"), ping_interval=0.5, ping_timeout=0.5, grace=1.0
    ) as running:
        yield running


def page_url(hub_port: int, path: str = "/") -> str:
    return f"http://127.0.0.1:{hub_port}{path}"


async def join_from_page(page: Page, url: str, nickname: str, avatar: str = "fox") -> str:
    """Open the page, join as `nickname` with a bundled avatar, and return the page's phone number."""
    await page.open(url)
    await page.wait_for_script("return !document.getElementById('join-button').disabled", "the page to start")
    await page.type_into("nickname", nickname)
    await page.click(f"input[name=avatar][value={avatar}]")
    await page.click("#join-button")
    return await page.wait_for_script(
        "const me = document.querySelector('#roster li.me'); return me && me.dataset.phoneNumber",
        "the page to be granted access",
    )


# The src of the avatar the page's list shows for a phone number, once the picture has loaded.
ROSTER_AVATAR = """
const item = document.querySelector(`#roster li[data-phone-number="${arguments[0]}"]`);
const img = item && item.querySelector('img.avatar');
return img && img.complete && img.naturalWidth > 0 ? img.getAttribute('src') : null;
"""


async def log_line_with(page: Page, text: str) -> str:
    """Wait for a line of the page's chat containing `text`, and return that line's whole text."""
    return await page.wait_for_script(
        "return [...document.querySelectorAll('#log li')].map((li) => li.textContent)"
        ".find((line) => line.includes(arguments[0])) || null",
        f"{text!r} in the page's chat",
        text,
    )
