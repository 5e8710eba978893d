"""PTZ on the wall's enlarged tile, in Chromium against a real hub and a simulated GB/T 28181 device:
the tile wakes a channel on standby, holding an arrow turns the camera (renewed while held) and
letting go stops it, a key held on a button does the same, presets go to the device; the controls
are accessible and readable in English and Chinese, on a desk and on a phone."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from streams.gb28181.ptz import LEFT, PRESET_GOTO, PRESET_SET, ZOOM_IN
from tests.calls.conftest import poll
from tests.gb28181 import conftest as gb
from tests.gb28181.conftest import PASSWORD, gb_settings
from tests.web.conftest import PHONE, NewPage, axe_violations, hub_and_pages, require_axe, screenshot
from tests.web.test_desk_wall import DESKTOP, WallPage

gb_device = gb.gb_device
"""The simulated GB/T 28181 device fixture, used here too."""

LABELS = {
    "en": {"left": "Pan left", "zoomIn": "Zoom in", "goto": "Go to preset 3", "set": "Save view as preset 3"},
    "zh": {"left": "向左", "zoomIn": "放大", "goto": "调用预置位 3", "set": "设置预置位 3"},
}


class PtzPanel:
    """The PTZ controls beside the enlarged camera."""

    def __init__(self, page: Any, lang: str) -> None:
        self.page = page
        self.labels = LABELS[lang]
        self.panel = page.locator(".wall-single .ptz-controls")
        self.status = self.panel.locator(".ptz-status")
        self.preset = self.panel.locator("input[name=preset]")

    def button(self, what: str) -> Any:
        return self.panel.get_by_role("button", name=self.labels[what], exact=True)


def ptz_posts(page: Any) -> list[tuple[float, dict[str, Any]]]:
    """Every PTZ request the page sends from now on: (time sent, JSON body)."""
    sent: list[tuple[float, dict[str, Any]]] = []

    def note(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/ptz"):
            sent.append((time.time(), request.post_data_json))

    page.on("request", note)
    return sent


async def enlarged_wall(new_page: NewPage, url: str, camera_id: str, lang: str, viewport: dict[str, int]) -> Any:
    """The wall with ``camera_id`` playing in its tile, then enlarged."""
    page = await new_page(viewport=viewport, locale="zh-CN" if lang == "zh" else "en-US")
    wall = await WallPage.open(page, url, lang=lang)
    await poll(lambda: wall.frames(camera_id), 60, "the GB channel playing in its tile")
    await wall.tile(camera_id).focus()
    await wall.press("Enter")
    await wall.single.wait_for()
    return page, wall


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_holding_an_arrow_turns_the_camera_and_letting_go_stops_it(
    tmp_path: Path, new_page: NewPage, gb_device: Any, monkeypatch: Any, lang: str
) -> None:
    require_axe()
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    # Not analysed: the channel is on standby until the wall's tile wants it.
    settings = gb_settings(tmp_path, analysis=False, ptz_timeout_s=1.0)
    async with hub_and_pages(settings, new_page) as (rh, new_page):
        dev = await gb_device(settings, "--channels", "1")
        async with await rh.client("dispatcher") as api:

            async def listed() -> Any:
                cams = [c for c in (await api.get("/api/cameras")).json() if c["id"].startswith("gb-")]
                return cams[0] if cams and cams[0]["state"] == "standby" else None

            cam = await poll(listed, 30, "the GB channel on standby")
        camera_id, channel = cam["id"], cam["id"].removeprefix("gb-")
        assert cam["ptz"] is True and not dev.seen("invite")

        page, wall = await enlarged_wall(new_page, rh.url, camera_id, lang, DESKTOP)
        assert len(dev.seen("invite")) == 1  # the tile woke it
        ptz = PtzPanel(page, lang)
        await ptz.panel.wait_for()
        sent = ptz_posts(page)

        # Press and hold "pan left": the move reaches the device, renewed while held (the hub would
        # stop it after 1 s otherwise), and nothing stops it meanwhile.
        await ptz.button("left").hover()
        await page.mouse.down()
        await poll(lambda: len(dev.seen("ptz", channel=channel, code=LEFT)) >= 4, 10, "the move renewed while held")
        assert not dev.seen("ptz", code=0)
        assert await ptz.button("left").get_attribute("data-held") == ""
        assert LABELS[lang]["left"] in await ptz.status.inner_text()
        released = time.time()
        await page.mouse.up()
        halt = {"pan": 0, "tilt": 0, "zoom": 0}
        await poll(lambda: [t for t, body in sent if body == halt], 10, "the page sending the stop")
        (stop,) = await poll(lambda: dev.seen("ptz", channel=channel, code=0), 10, "the stop at the device")
        assert stop["t"] >= released  # (one stop: the hub's timer never had to step in, see the count below)
        moved = [body for _, body in sent if body != halt]
        assert len(moved) >= 4 and all(body == {"pan": -0.5} for body in moved)  # the move and its renewals

        # The keyboard: Space held on "zoom in", then let go.
        await ptz.button("zoomIn").focus()
        await page.keyboard.down("Space")
        await poll(lambda: dev.seen("ptz", channel=channel, code=ZOOM_IN), 10, "zoom in at the device")
        await page.keyboard.up("Space")
        await poll(lambda: len(dev.seen("ptz", channel=channel, code=0)) == 2, 10, "the zoom stopped")

        # Presets: go to 3, then store the view as 3.
        await ptz.preset.fill("3")
        await ptz.button("goto").click()
        (goto,) = await poll(lambda: dev.seen("ptz", channel=channel, code=PRESET_GOTO), 10, "go to preset 3")
        assert goto["tilt_speed"] == 3
        await ptz.status.filter(has_text="3").wait_for()
        await ptz.button("set").click()
        (stored,) = await poll(lambda: dev.seen("ptz", channel=channel, code=PRESET_SET), 10, "store preset 3")
        assert stored["tilt_speed"] == 3
        await ptz.status.filter(has_text="3").wait_for()
        assert await axe_violations(page) == []
        await screenshot(page, f"wall-ptz-{lang}-desktop")
        # Leaving the enlarged view leaves nothing turning: every move had its stop.
        moves = [e for e in dev.seen("ptz", channel=channel) if e["code"] in (LEFT, ZOOM_IN)]
        assert moves and len(dev.seen("ptz", channel=channel, code=0)) == 2

        # A phone: the controls below the picture, every one on screen and large enough to press.
        phone, _ = await enlarged_wall(new_page, rh.url, camera_id, lang, PHONE)
        small = PtzPanel(phone, lang)
        await small.panel.wait_for()
        picture = await phone.locator(".wall-single .wall-tile").bounding_box()
        box = await small.panel.bounding_box()
        assert box["y"] >= picture["y"] + picture["height"] - 1 and box["x"] + box["width"] <= PHONE["width"]
        arrow = await small.button("left").bounding_box()
        assert arrow["width"] >= 44 and arrow["height"] >= 44
        assert await axe_violations(phone) == []
        await screenshot(phone, f"wall-ptz-{lang}-phone")
