"""The desk shell in Chromium: header, tabs as in-page routes, the live feed's state, the one
redirect on a refused token, and the token's refresh."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import jwt

from hub.access.auth import TOKEN_ALGORITHM
from tests.conftest import free_port, wait_until
from tests.hub.conftest import SECRET, RunningHub, make_settings, serve
from tests.web.conftest import ConsoleWatch, NewPage
from tests.web.pages import DeskPage, log_in_to_desk

FEED_EVENTS_JS = """async (prefix) => {
  const { eventsOf } = await import("/web/api/feed.js");
  return eventsOf(prefix).value.map((e) => [e.id, e.data.text]);
}"""


async def feed_holds(page: Any, prefix: str, n: int, timeout_s: float = 15) -> None:
    """Wait until the page's feed signal for ``prefix`` holds ``n`` events."""
    t0 = time.monotonic()
    while len(await page.evaluate(FEED_EVENTS_JS, prefix)) < n:
        assert time.monotonic() - t0 < timeout_s, f"the feed did not get {n} {prefix} events"
        await asyncio.sleep(0.1)


async def test_header_and_tabs(running: RunningHub, new_page: NewPage) -> None:
    page = await new_page()
    desk = await log_in_to_desk(page, running.url)
    assert await desk.brand.inner_text() == "skyhub"
    assert "dispatcher" in await desk.user.inner_text()
    await desk.feed.filter(has_text="Live").wait_for()
    assert await desk.current_tab() == "Wall"
    assert await desk.view_title.inner_text() == "Video wall"
    await desk.tab("Incidents").click()
    await page.wait_for_url("**/#/incidents")
    await desk.shows("Incidents")
    assert await desk.current_tab() == "Incidents"
    await desk.tab("Map").click()
    await desk.shows("Map")
    # Back goes back through the routes, as with pages.
    await page.go_back()
    await page.wait_for_url("**/#/incidents")
    await desk.shows("Incidents")
    assert await desk.current_tab() == "Incidents"
    # An unknown route lands on the wall.
    await page.goto(running.url + "/#/nowhere")
    await page.wait_for_url("**/#/wall")
    # Keyboard: the tabs are links in the tab order, with a visible focus ring.
    await desk.tab("Incidents").focus()
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.textContent") == "Map"
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/#/map")


async def test_logout_goes_to_the_login(running: RunningHub, new_page: NewPage) -> None:
    page = await new_page()
    desk = await log_in_to_desk(page, running.url)
    await desk.tab("Incidents").click()
    token = await page.evaluate("sessionStorage.getItem('skyhub.token')")
    await desk.logout.click()
    await page.wait_for_url("**/login?**")
    # The token is gone: the desk sends us back to the login.
    await page.goto(running.url + "/")
    await page.wait_for_url("**/login?**")
    # And the session ended on the hub: a copy of the token kept elsewhere is worth nothing.
    async with await running.client() as c:

        async def refused() -> bool:
            r = await c.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            return r.status_code == 401

        deadline = time.monotonic() + 5
        while not await refused():
            assert time.monotonic() < deadline, "the logged-out session's token still works"
            await asyncio.sleep(0.05)


async def test_the_feed_reconnects_and_resumes_after_a_hub_restart(
    tmp_path: Path, new_page: NewPage, console: ConsoleWatch
) -> None:
    # While the hub is down, the page's socket and cursor check fail to connect: expected.
    console.allow(r"WebSocket connection to .* failed|ERR_CONNECTION_REFUSED")
    settings = make_settings(tmp_path)
    port = free_port()
    page = await new_page()
    async with serve(settings, port=port) as rh:
        desk = await log_in_to_desk(page, rh.url)
        await desk.feed.filter(has_text="Live").wait_for()
        async with await rh.client("coordinator") as c:
            assert (await c.post("/api/journal", json={"text": "before"})).status_code == 201
        await feed_holds(page, "journal.", 1)
    await desk.feed.filter(has_text="Reconnecting…").wait_for()
    async with serve(settings, port=port) as rh:
        # Written before the page is back: it must still arrive, once.
        async with await rh.client("coordinator") as c:
            assert (await c.post("/api/journal", json={"text": "while away"})).status_code == 201
        await desk.feed.filter(has_text="Live").wait_for(timeout=30_000)
        async with await rh.client("coordinator") as c:
            assert (await c.post("/api/journal", json={"text": "after"})).status_code == 201
        await feed_holds(page, "journal.", 3)
        events = await page.evaluate(FEED_EVENTS_JS, "journal.")
        assert [text for _, text in events] == ["before", "while away", "after"]
        ids = [i for i, _ in events]
        assert ids == sorted(set(ids))


async def test_many_refused_requests_make_one_redirect(
    running: RunningHub, new_page: NewPage, console: ConsoleWatch
) -> None:
    console.allow(r"status of 401")
    page = await new_page()
    await log_in_to_desk(page, running.url)
    await page.goto(running.url + "/#/incidents/7")
    await DeskPage(page, running.url).wait_ready()
    logins: list[str] = []
    page.on("request", lambda r: logins.append(r.url) if r.resource_type == "document" and "/login" in r.url else None)
    # The hub no longer takes the token (a forged signature): ten requests are refused at once.
    await page.evaluate(
        """async () => {
      const client = await import("/web/api/client.js");
      const [head, body] = client.getToken().split(".");
      client.setToken(`${head}.${body}.forged`);
      for (let i = 0; i < 10; i++) client.api("/api/incidents").catch(() => {});
    }"""
    )
    await page.wait_for_url("**/login?**")
    assert len(logins) == 1, logins
    assert "next=%2F%23%2Fincidents%2F7" in logins[0]


async def test_the_token_is_refreshed_at_three_quarters_of_its_life(running: RunningHub, new_page: NewPage) -> None:
    # A token three quarters through its (shortest allowed) life: the page swaps it at once.
    now = int(time.time())
    claims = {"sub": "dispatcher", "roles": ["dispatcher"], "iat": now - 50, "exp": now + 10}
    old = jwt.encode(claims, SECRET, algorithm=TOKEN_ALGORITHM)
    page = await new_page()
    refreshed: list[Any] = []
    page.on("request", lambda r: refreshed.append(r) if r.url.endswith("/api/auth/refresh") else None)
    await page.add_init_script(f"sessionStorage.setItem('skyhub.token', {old!r})")
    await page.goto(running.url + "/")
    desk = await DeskPage(page, running.url).wait_ready()
    await wait_until(lambda: bool(refreshed), 10, "the refresh")
    new = await page.wait_for_function(
        f"() => {{ const t = sessionStorage.getItem('skyhub.token'); return t && t !== {old!r} && t; }}"
    )
    claims = jwt.decode(await new.json_value(), SECRET, algorithms=[TOKEN_ALGORITHM])
    assert claims["exp"] > now + 3600
    assert len(refreshed) == 1
    await desk.feed.filter(has_text="Live").wait_for()
    assert "/login" not in page.url
