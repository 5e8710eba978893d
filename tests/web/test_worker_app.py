"""The grid worker's phone app (/worker) in a real Chromium at phone size: instructions that take
over the screen, calls and briefings, the outbox through a dead spot, my incidents, reports with
photos and position, going live; every screen in both languages, axe-clean."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.calls.conftest import poll
from tests.hub.conftest import PASSWORD, RunningHub
from tests.web.conftest import PHONE, ConsoleWatch, axe_violations, require_axe, screenshot

HERE = {"latitude": 31.2304, "longitude": 121.4737}
"""Where the test phone says it is."""

RECORD_ALARMS = """
window.alarms = [];
Object.defineProperty(navigator, "vibrate", { value: (pattern) => { window.alarms.push(pattern); return true; } });
"""
"""Init script: the app's vibrations are counted instead of felt."""

Phone = Callable[..., Awaitable[Any]]


@pytest.fixture
async def phone(browser: Any, console: ConsoleWatch) -> AsyncIterator[Phone]:
    """A factory of phones (390×844, touch, fake camera and microphone, location granted at
    :data:`HERE`), each its own browser context, watched for console errors."""
    contexts: list[Any] = []

    async def make(locale: str = "en-US", geolocation: bool = True) -> Any:
        context = await browser.new_context(
            viewport=PHONE,
            has_touch=True,
            is_mobile=True,
            device_scale_factor=2,
            locale=locale,
            geolocation=HERE if geolocation else None,
            permissions=["geolocation"] if geolocation else [],
        )
        await context.add_init_script(RECORD_ALARMS)
        contexts.append(context)
        page = await context.new_page()
        console.attach(page)
        return page

    yield make
    for context in contexts:
        await context.close()
    unexpected = console.unexpected()
    if unexpected:
        pytest.fail("console errors in the page:\n" + "\n".join(unexpected))


async def open_app(page: Any, url: str, user: str = "worker1", lang: str | None = None) -> None:
    """Log in through the login form (fields ``username``/``password``) and land on the app, online."""
    query = f"?lang={lang}" if lang else ""
    await page.goto(f"{url}/worker{query}")
    await page.wait_for_url("**/login?**")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/worker**")
    await page.wait_for_selector("#link-state.link-live")


async def send(rh: RunningHub, text: str, to: str = "worker1", **body: Any) -> int:
    async with await rh.client("coordinator") as c:
        r = await c.post("/api/instructions", json={"text": text, "targets": {"people": [to]}, **body})
        assert r.status_code == 201, r.text
        return int(r.json()["instruction"]["id"])


async def counts(rh: RunningHub, iid: int) -> dict[str, int]:
    async with await rh.client("coordinator") as c:
        body = (await c.get(f"/api/instructions/{iid}")).json()
        return dict(body["per_state"])


def instruction(iid: int) -> str:
    return f"[data-instruction='{iid}']"


async def test_an_emergency_takes_the_screen_until_acknowledged_with_one_tap(running: RunningHub, phone: Phone) -> None:
    page = await phone()
    await open_app(page, running.url)
    iid = await send(running, "Gas leak: clear block 4", priority="emergency")
    takeover = page.locator(".takeover.emergency")
    await takeover.locator(f"{instruction(iid)}:has-text('Gas leak: clear block 4')").wait_for()
    assert await page.evaluate("window.alarms.length") >= 1  # it vibrates
    await poll(lambda: _is(counts(running, iid), "read", 1), 10, "the receipt read")
    assert (await counts(running, iid)).get("acknowledged", 0) == 0
    await takeover.locator(f"{instruction(iid)} button.ack").tap()
    await takeover.wait_for(state="detached")
    await poll(lambda: _is(counts(running, iid), "acknowledged", 1), 10, "the coordinator's count of acknowledged")
    await page.locator(f"{instruction(iid)}[data-state=acknowledged]").wait_for()
    assert await page.locator(f"{instruction(iid)} button.ack").count() == 0
    # A reload shows it acknowledged, and never takes the screen again.
    await page.reload()
    await page.wait_for_selector("#link-state.link-live")
    await page.locator(f"{instruction(iid)}[data-state=acknowledged]").wait_for()
    assert await page.locator(".takeover").count() == 0


async def _is(answer: Awaitable[dict[str, int]], state: str, n: int) -> bool:
    return (await answer).get(state, 0) == n


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_every_screen_in_both_languages(running: RunningHub, phone: Phone, lang: str) -> None:
    require_axe()
    page = await phone(locale="zh-CN" if lang == "zh" else "en-US")
    await open_app(page, running.url, lang=lang)
    assert await page.evaluate("() => document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
    await send(running, "Check the hydrant on Elm Street", reply_options=["On my way", "Cannot"])
    emergency = await send(running, "Flooding at the underpass: close it", priority="emergency")
    await page.locator(".takeover.emergency").wait_for()
    assert await axe_violations(page) == []
    await screenshot(page, f"worker-emergency-{lang}")
    await page.locator(f"{instruction(emergency)} button.ack").tap()
    await page.locator(".takeover").wait_for(state="detached")
    assert await axe_violations(page) == []
    await screenshot(page, f"worker-inbox-{lang}")
    for tab in ("incidents", "report", "live"):
        await page.locator(f".tab-{tab}").tap()
        await page.locator(f".tab-{tab}[aria-current=page]").wait_for()
        if tab == "report":
            await page.locator(".where-fix").wait_for()
        assert await axe_violations(page) == [], tab
        await screenshot(page, f"worker-{tab}-{lang}")
    await page.locator(".worker-menu > summary").tap()
    assert await axe_violations(page) == []
    await screenshot(page, f"worker-menu-{lang}")
