"""The grid worker's phone app (/worker) in a real Chromium at phone size: instructions that take
over the screen, calls and briefings, the outbox through a dead spot, my incidents, reports with
photos and position, going live; every screen in both languages, axe-clean."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from hub.events import EventFilter
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


def big_photo(tmp_path: Path) -> Path:
    """A phone camera's picture: 3000×2000 JPEG, larger than the app sends."""
    img = np.zeros((2000, 3000, 3), np.uint8)
    img[:, :, 1] = np.linspace(0, 255, 3000, dtype=np.uint8)[None, :]
    cv2.rectangle(img, (800, 600), (2200, 1400), (0, 0, 255), -1)
    path = tmp_path / "pothole.jpg"
    cv2.imwrite(str(path), img)
    return path


async def events_of(rh: RunningHub, kind: str, subject: str) -> int:
    found = await rh.hub.log.read(0, 10_000, EventFilter(type_prefixes=(kind,)))
    return sum(1 for ev in found if ev.subject == subject)


async def test_a_dead_spot_loses_nothing_and_doubles_nothing(
    running: RunningHub, phone: Phone, console: ConsoleWatch, tmp_path: Path
) -> None:
    console.allow("ERR_INTERNET_DISCONNECTED")  # what the browser logs of requests made offline
    page = await phone()
    await open_app(page, running.url)
    iid = await send(running, "Count the sandbags at the pier")
    await page.locator(f"{instruction(iid)} button.ack").wait_for()
    # The app shell is kept by the service worker once it has taken over.
    await page.wait_for_function("async () => (await caches.keys()).length > 0 && !!navigator.serviceWorker.controller")
    await page.wait_for_function(
        "async () => !!(await (await caches.open('skyhub-worker-v1')).match('/web/views/worker/worker-app.js'))"
    )

    await page.context.set_offline(True)
    await page.locator("#link-state.link-offline").wait_for(timeout=30_000)
    await page.locator(f"{instruction(iid)} button.ack").tap()
    await page.locator(f"{instruction(iid)}:has-text('waiting to be sent')").wait_for()
    await page.locator(".tab-report").tap()
    await page.select_option("#report-category", "road_damage")
    await page.fill("#report-text", "Pothole at the pier entrance")
    await page.set_input_files("#report-photos", str(big_photo(tmp_path)))
    await page.locator(".file-button:has-text('1 taken')").wait_for()
    await page.locator(".report-send").tap()
    await page.locator(".outbox-bar[data-waiting='2']").wait_for()

    # Closed and opened again in the dead spot: the app opens from the service worker, with its
    # inbox as last seen and both actions still waiting.
    await page.reload()
    await page.locator(".outbox-bar[data-waiting='2']").wait_for()
    await page.locator(".tab-inbox").tap()
    await page.locator(f"{instruction(iid)}:has-text('waiting to be sent')").wait_for()
    async with await running.client("coordinator") as c:
        assert (await c.get(f"/api/instructions/{iid}")).json()["per_state"]["acknowledged"] == 0

    await page.context.set_offline(False)
    await page.locator(".outbox-bar").wait_for(state="detached", timeout=60_000)
    await page.locator(f"{instruction(iid)}[data-state=acknowledged]").wait_for(timeout=30_000)
    async with await running.client("dispatcher") as c:
        reports = [i for i in (await c.get("/api/incidents", params={"source": "worker"})).json()]
        assert [i["title"] for i in reports] == ["Pothole at the pier entrance"]
        detail = (await c.get(f"/api/incidents/{reports[0]['id']}")).json()
        photos = [e for e in detail["evidence"] if e["kind"] == "photo"]
        assert len(photos) == 1
        r = await c.get(f"/api/incidents/{reports[0]['id']}/evidence/{photos[0]['id']}")
        img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and max(img.shape[:2]) == 1600  # shrunk on the phone
        assert (reports[0]["lat"], reports[0]["lon"]) == (HERE["latitude"], HERE["longitude"])
    assert await events_of(running, "instruction.acknowledged", f"instruction:{iid}") == 1


async def test_the_position_on_duty_reaches_the_map(running: RunningHub, phone: Phone) -> None:
    page = await phone()
    await open_app(page, running.url)

    async def on_map() -> list[dict[str, Any]]:
        async with await running.client("dispatcher") as c:
            return [p for p in (await c.get("/api/map")).json()["people"] if p["person"] == "worker1"]

    people = await poll(on_map, 20, "worker1 on the desk's map")
    assert (people[0]["lat"], people[0]["lon"]) == (HERE["latitude"], HERE["longitude"])
    await page.locator(".worker-menu > summary").tap()
    await page.locator(".duty-state:has-text('Your position was sent')").wait_for()


async def test_a_refused_location_picks_the_grid(running: RunningHub, phone: Phone) -> None:
    page = await phone(geolocation=False)
    await open_app(page, running.url)
    await page.locator(".tab-report").tap()
    await page.locator("#report-grid").wait_for()
    await page.fill("#report-text", "Broken street light")
    await page.locator(".report-send").tap()

    async def reported() -> list[dict[str, Any]]:
        async with await running.client("dispatcher") as c:
            return list((await c.get("/api/incidents", params={"source": "worker"})).json())

    found = await poll(reported, 20, "the report")
    assert found[0]["grid"] == "g1" and found[0]["lat"] is None
