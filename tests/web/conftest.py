"""A real Chromium (Debian's), driven by Playwright; never a downloaded browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import require_chromium
from tests.hub.conftest import PASSWORD, pg_url, redis_prefix, redis_url, running  # noqa: F401  (hub fixtures, shared)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
    # WebRTC: fake camera and microphone, no permission prompts, media plays without a click.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def log_in(page: Any, url: str, username: str, ready: str) -> None:
    """Open ``url`` in ``page``, log in as ``username`` and wait for the ``ready`` selector."""
    await page.goto(url)
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector(ready)


async def open_wall(browser: Any, base_url: str, username: str = "dispatcher") -> Any:
    """A new page with the video wall of the hub at ``base_url``, logged in."""
    page = await browser.new_page()
    await log_in(page, base_url + "/", username, "#desk:not([hidden])")
    return page
