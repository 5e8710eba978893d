"""The worker app over HTTPS the way a phone gets it: the hub's own CA (``skyhub demo --https``)
trusted in the browser's certificate store, verified, never ignored."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.cli import with_local_https
from hub.edge.tls import local_ca
from tests.calls.conftest import poll
from tests.conftest import require_chromium
from tests.hub.conftest import RunningHub, make_settings, serve
from tests.web.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    ConsoleWatch,
    WatchedContexts,
    require_certutil,
    trusting_home,
)
from tests.web.test_worker_app import RECORD_ALARMS, _is, counts, instruction, open_app, send


@pytest.fixture
async def https_hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    """A hub serving HTTPS with the certificate ``--https`` makes (its own CA, under the data directory)."""
    settings = with_local_https(make_settings(tmp_path), "127.0.0.1")
    async with serve(settings) as rh:
        yield rh


async def _phone_in(browser: Any, watched: WatchedContexts) -> Any:
    context = await browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2)
    await context.add_init_script(RECORD_ALARMS)
    return await watched.page(context)


async def test_the_phone_trusts_the_hubs_ca_and_acknowledges_over_https(
    https_hub: RunningHub, tmp_path: Path, console: ConsoleWatch
) -> None:
    require_chromium()
    certutil = require_certutil()
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    assert https_hub.url.startswith("https://")
    # The CA as a phone gets it: downloaded from the hub's /ca.crt page, then trusted.
    async with await https_hub.client() as c:
        r = await c.get("/ca.crt")
    assert r.status_code == 200
    downloaded = tmp_path / "downloaded-ca.crt"
    downloaded.write_bytes(r.content)
    assert downloaded.read_bytes() == local_ca(https_hub.hub.settings.data_dir).ca_cert.read_bytes()

    home = await asyncio.to_thread(trusting_home, tmp_path / "home", downloaded, certutil)

    async with async_playwright() as pw:
        # Without the CA, the browser refuses the hub: the certificate really is checked.
        stranger = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env={**os.environ, "HOME": str(tmp_path)}
        )
        try:
            page = await (await stranger.new_context()).new_page()
            with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
                await page.goto(f"{https_hub.url}/worker")
        finally:
            await stranger.close()

        trusting = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env={**os.environ, "HOME": str(home)}
        )
        watched = WatchedContexts(console)
        try:
            page = await _phone_in(trusting, watched)
            await open_app(page, https_hub.url)
            assert await page.evaluate("window.isSecureContext") is True
            iid = await send(https_hub, "Gas leak: clear block 4", priority="emergency")
            takeover = page.locator(".takeover.emergency")
            await takeover.locator(f"{instruction(iid)}:has-text('Gas leak: clear block 4')").wait_for()
            await takeover.locator(f"{instruction(iid)} button.ack").tap()
            await poll(lambda: _is(counts(https_hub, iid), "acknowledged", 1), 10, "the coordinator's count")
            # The service worker (offline start) registers only on a secure page: it did.
            await poll(
                lambda: page.evaluate("navigator.serviceWorker.getRegistration().then((r) => !!r)"),
                10,
                "the service worker registered",
            )
        finally:
            await watched.close()
            await trusting.close()
