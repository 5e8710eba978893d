"""The desk left open through a hub restart: it comes back by itself, feed, wall and incidents."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.conftest import free_port
from tests.hub.conftest import make_settings, serve
from tests.web.conftest import ConsoleWatch, NewPage
from tests.web.pages import log_in_to_desk

CAMERA = {
    "id": "cam-street",
    "name": "Street",
    "url": "synthetic://street",
    "grid": "g1",
    "analysis": {"enabled": False},
}

FRAMES_JS = """() => {
  const v = document.querySelector('[data-camera="cam-street"] video');
  return v ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
}"""


async def frames_grow(page: Any, timeout_s: float = 30) -> None:
    """Wait until the camera's tile decodes new frames (its video element may be a new one)."""
    first = await page.evaluate(FRAMES_JS)
    async with asyncio.timeout(timeout_s):
        while (await page.evaluate(FRAMES_JS)) <= first + 5:  # noqa: ASYNC110  (polling the page)
            await asyncio.sleep(0.2)
            first = min(first, await page.evaluate(FRAMES_JS))  # a new player starts from 0


async def test_the_open_desk_recovers_by_itself_after_a_hub_restart(
    tmp_path: Path, new_page: NewPage, console: ConsoleWatch
) -> None:
    # While the hub is down, the page's requests and sockets fail: expected, and retried.
    console.allow(r"WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|Failed to load resource")
    settings = make_settings(tmp_path, cameras=[CAMERA])
    port = free_port()
    page = await new_page()
    async with serve(settings, port=port) as rh:
        desk = await log_in_to_desk(page, rh.url)
        await desk.feed.filter(has_text="Live").wait_for(timeout=30_000)
        await frames_grow(page)
    await desk.feed.filter(has_text="Reconnecting…").wait_for(timeout=30_000)
    async with serve(settings, port=port) as rh:
        # Nobody touches the page: the feed comes back, the tile plays again.
        await desk.feed.filter(has_text="Live").wait_for(timeout=30_000)
        await frames_grow(page, timeout_s=60)
        # And the incident desk shows what happened while it was away, without a reload.
        async with await rh.client("dispatcher") as c:
            r = await c.post("/api/incidents", json={"category": "flood", "title": "water after restart", "node": "g1"})
            assert r.status_code == 201
            incident = r.json()["incident"]["id"]
        await desk.tab("Incidents").click()
        await page.locator(f'[data-incident="{incident}"]').wait_for(timeout=15_000)
        await page.context.close()  # before the hub stops: its polls would fail against it
