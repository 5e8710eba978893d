"""H.265 GB channels on the wall, in Chromium: one plays live as the hub's H.264 transcode and says
so; past gb28181.max_transcodes the other shows pictures and says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.calls.conftest import poll
from tests.gb28181 import conftest as gb
from tests.gb28181.conftest import PASSWORD, gb_settings
from tests.web.conftest import ConsoleWatch, NewPage, axe_violations, hub_and_pages, require_axe, screenshot
from tests.web.test_desk_wall import DESKTOP, WallPage

gb_device = gb.gb_device
"""The simulated GB/T 28181 device fixture, used here too."""


async def test_an_h265_channel_plays_transcoded_and_past_the_limit_another_shows_pictures_and_why(
    tmp_path: Path, new_page: NewPage, console: ConsoleWatch, gb_device: Any, monkeypatch: Any
) -> None:
    require_axe()
    console.allow(r"status of 415")  # the second tile's offer, refused for the limit
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path, max_transcodes=1, substream=False)
    async with hub_and_pages(settings, new_page) as (rh, new_page):
        await gb_device(settings, "--channels", "2", "--h265", "--h265-seconds", "4")
        async with await rh.client("dispatcher") as api:

            async def online() -> Any:
                cams = [c for c in (await api.get("/api/cameras")).json() if c["id"].startswith("gb-")]
                return cams if len(cams) == 2 and all(c["state"] == "online" for c in cams) else None

            cams = await poll(online, 60, "two H.265 channels online")
        assert {c["codec"] for c in cams} == {"hevc"}
        page = await new_page(viewport=DESKTOP)
        wall = await WallPage.open(page, rh.url)
        live = page.locator('.wall-tile:has(.tile-status[data-health="transcoded"])')
        pictures = page.locator('.wall-tile:has(.tile-status[data-health="snapshots"])')

        # Both tiles try live video at first (the list promised a transcode to each); the second offer
        # is refused, and its tile turns to pictures.
        async def settled() -> bool:
            return await live.count() == 1 and await pictures.count() == 1

        await poll(settled, 30, "one tile live (transcoded), the other pictures")
        played = str(await live.get_attribute("data-camera"))
        await poll(lambda: wall.frames(played), 30, "the transcoded channel playing in Chromium")
        assert "Transcoded to H.264" in await live.locator(".tile-status").inner_text()
        # The other: pictures, with the reason (once the camera list says it, within its refresh).
        await pictures.locator(".tile-reason", has_text="max_transcodes").wait_for(timeout=15_000)
        assert await pictures.get_attribute("data-camera") != played
        await pictures.locator("img").first.wait_for()
        assert "Snapshots · HEVC" in await pictures.locator(".tile-health").inner_text()
        assert await axe_violations(page) == []
        await screenshot(page, "wall-h265-en-desktop")
