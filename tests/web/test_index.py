"""The start page in a real browser: log in, see the live event feed fill in."""

from __future__ import annotations

from typing import Any

from tests.hub.conftest import PASSWORD, RunningHub


async def test_login_and_live_events(running: RunningHub, browser: Any) -> None:
    page = await browser.new_page()
    await page.goto(running.url + "/web/index.html")
    await page.fill("input[name=username]", "dispatcher")
    await page.fill("input[name=password]", "wrong")
    await page.click("button[type=submit]")
    await page.wait_for_selector("#login-error:has-text('Wrong username or password')")

    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#desk:not([hidden])")
    assert "dispatcher (dispatcher)" in await page.inner_text("#who")
    await page.wait_for_selector("#events li:has-text('hub.started')")
    await page.wait_for_selector("#feed-state:has-text('live')")

    async with await running.client("coordinator") as c:
        r = await c.post("/api/journal", json={"text": "water main burst on Pier 7"})
        assert r.status_code == 201
    await page.wait_for_selector("#events li:has-text('water main burst on Pier 7')", timeout=10_000)
    await page.close()
