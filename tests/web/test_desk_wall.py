"""The desk's video wall in Chromium against a real hub: live tiles decode video, the layout follows
the keys and buttons, a saved layout comes back on another machine, an alert shows on its tile
within a second and moves it to the alarm lane with its zone outlined, a camera the browser cannot
play shows pictures, an offline camera says why and since when, a patrol tour cycles and pauses,
and the wall is accessible and readable in English and Chinese, on a desk and on a phone."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from streams.synthetic import ensure_scene
from tests.hub.conftest import RunningHub, make_settings
from tests.streams.conftest import make_video
from tests.web.conftest import (
    PHONE,
    ConsoleWatch,
    NewPage,
    axe_violations,
    hub_and_pages,
    require_axe,
    screenshot,
    wait_focus,
)
from tests.web.pages import DeskPage, log_in_to_desk

DESKTOP = {"width": 1600, "height": 900}
NO_ANALYSIS = {"enabled": False}
ROAD = {"id": "road", "kind": "intrusion", "polygon": [[0.0, 0.75], [1.0, 0.75], [1.0, 1.0], [0.0, 1.0]]}
"""The bottom quarter of the street scene, where people walk along the road."""


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The generated street and plaza scenes (rendered once for the module) as camera URLs."""
    folder = tmp_path_factory.mktemp("wall-scenes")
    urls = {name: f"file://{ensure_scene(name, folder)}" for name in ("street", "plaza")}
    urls["hevc"] = f"file://{make_video(folder / 'hevc.mp4', codec='libx265', seconds=4)}"
    return urls


def camera(cid: str, name: str, url: str, grid: str = "g1", **more: Any) -> dict[str, Any]:
    return {"id": cid, "name": name, "url": url, "grid": grid, "analysis": NO_ANALYSIS, **more}


def hub_settings(tmp_path: Path, cameras: list[dict[str, Any]]) -> Any:
    return make_settings(tmp_path, cameras=cameras, server={"ice_addresses": ["127.0.0.1"]})


async def poll(fn: Any, ok: Any, timeout_s: float, what: str, period_s: float = 0.1) -> Any:
    """Call ``fn`` (async) until ``ok(value)``; the value, or the test fails after ``timeout_s``."""
    t0 = time.monotonic()
    while True:
        value = await fn()
        if ok(value):
            return value
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {value!r})")
        await asyncio.sleep(period_s)


async def raise_alert(rh: RunningHub, cam: str, alert_id: str, kind: str = "intrusion", zone: str = "road") -> None:
    """An alert on ``cam`` as the analysis raises one (the same path into the log and the feed)."""
    data = {"camera": cam, "kind": kind, "zone": zone, "score": 0.8, "alert_id": alert_id, "ts": time.time()}
    await rh.hub._camera_event("alert.started", cam, data)


async def end_alert(rh: RunningHub, cam: str, alert_id: str, kind: str = "intrusion", zone: str = "road") -> None:
    data = {"camera": cam, "kind": kind, "zone": zone, "score": 0.8, "alert_id": alert_id, "ts": time.time()}
    await rh.hub._camera_event("alert.ended", cam, data)


FRAMES_JS = """(cam) => {
  const v = document.querySelector(`.wall-tile[data-camera="${cam}"] video`);
  return v ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
}"""

BADGE_WATCH_JS = """() => {
  // When each alert's badge first appears on a tile (wall-clock ms), noted as the DOM changes.
  window.wallBadges = [];
  const seen = new Set();
  const note = () => {
    for (const tile of document.querySelectorAll(".wall-tile[data-alert]")) {
      const badge = tile.querySelector(".alert-badge");
      const id = badge && badge.dataset.alertId;
      if (!id || seen.has(id)) continue;
      seen.add(id);
      window.wallBadges.push({ id, camera: tile.dataset.camera, kind: tile.dataset.alert,
        at: performance.timeOrigin + performance.now(), lane: Boolean(tile.closest(".wall-lane")) });
    }
  };
  note();
  new MutationObserver(note).observe(document.body,
    { subtree: true, childList: true, attributes: true, attributeFilter: ["data-alert", "data-alert-id"] });
}"""


class WallPage:
    """The wall view of the desk: locators for tiles, the lane, the toolbar, menus and dialogs."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.grid = page.locator(".wall-grid")
        self.grid_tiles = page.locator(".wall-grid > .wall-tile")
        self.lane = page.locator(".wall-lane")
        self.lane_tiles = page.locator(".wall-lane .wall-tile")
        self.single = page.locator(".wall-single .wall-tile")
        self.overview_tiles = page.locator(".wall-overview .wall-tile")
        self.layouts_menu = page.locator("details.layouts-menu")
        self.tour_menu = page.locator("details.tour-menu")
        self.tour_status = page.locator(".tour-status")
        self.picker = page.locator(".camera-picker")
        self.help = page.locator("dialog.key-help")

    @classmethod
    async def open(cls, page: Any, url: str, lang: str | None = None) -> WallPage:
        desk = await log_in_to_desk(page, url, lang=lang)
        await desk.feed.locator(".feed-dot").wait_for()
        wall = cls(page)
        await wall.grid.wait_for()
        return wall

    def tile(self, cam: str) -> Any:
        return self.page.locator(f'.wall-tile[data-camera="{cam}"]')

    def layout_button(self, size: int) -> Any:
        return self.page.locator(f'.layout-button[data-size="{size}"]')

    async def size(self) -> int:
        return int(await self.grid.get_attribute("data-size"))

    async def grid_cameras(self) -> list[str | None]:
        js = "(tiles) => tiles.map((t) => t.dataset.camera ?? t.dataset.moved ?? null)"
        return list(await self.grid_tiles.evaluate_all(js))

    async def frames(self, cam: str) -> int:
        return int(await self.page.evaluate(FRAMES_JS, cam))

    async def open_menu(self, menu: Any) -> None:
        if not await menu.evaluate("(d) => d.open"):
            await menu.locator("summary").click()

    async def press(self, key: str) -> None:
        await self.page.keyboard.press(key)


async def test_four_live_tiles_decode_and_the_layout_follows_keys_and_buttons(
    tmp_path: Path, new_page: NewPage, scenes: dict[str, str]
) -> None:
    cams = [
        camera("cam-a", "Gate A", scenes["street"]),
        camera("cam-b", "Plaza B", scenes["plaza"]),
        camera("cam-c", "Market C", scenes["plaza"], grid="g2"),
        camera("cam-d", "Bridge D", scenes["street"], grid="g3"),
    ]
    async with hub_and_pages(hub_settings(tmp_path, cams), new_page) as (rh, new_page):
        page = await new_page(viewport=DESKTOP)
        wall = await WallPage.open(page, rh.url)
        # A first visit: four tiles, the first four cameras, each playing live video over WHEP.
        assert await wall.size() == 4
        assert await wall.grid_cameras() == ["cam-a", "cam-b", "cam-c", "cam-d"]
        for cam in ("cam-a", "cam-b", "cam-c", "cam-d"):
            first = await poll(lambda c=cam: wall.frames(c), lambda n: n > 0, 60, f"{cam}'s first frame")
            await poll(lambda c=cam: wall.frames(c), lambda n, f=first: n >= f + 10, 30, f"{cam} still playing")
        sessions = rh.hub.calls.sessions
        assert sessions.count("whep") == 4
        assert await wall.layout_button(4).get_attribute("aria-pressed") == "true"

        # Number keys: 9, 1, and 6 for 16; a smaller layout stops the hidden tiles' cameras (their
        # connections are parked, kept for the next switch), and a larger one plays them again on
        # those same connections (no new offer).
        await wall.press("9")
        await poll(wall.size, lambda n: n == 9, 5, "nine tiles")
        assert await wall.grid_tiles.count() == 9
        assert await page.locator(".wall-grid > .tile-empty").count() == 5
        await wall.press("1")
        await poll(wall.size, lambda n: n == 1, 5, "one tile")
        assert await wall.grid_cameras() == ["cam-a"]

        def watched() -> list[str]:
            return sorted(s.subject for s in sessions.all() if s.kind == "whep")

        await poll(lambda: asyncio.sleep(0, watched()), lambda w: w == ["", "", "", "cam-a"], 10, "three parked")
        await wall.press("6")
        await poll(wall.size, lambda n: n == 16, 5, "sixteen tiles")
        assert await wall.grid_tiles.count() == 16
        for cam in ("cam-b", "cam-c", "cam-d"):
            first = await poll(lambda c=cam: wall.frames(c), lambda n: n > 0, 30, f"{cam} playing again")
            await poll(lambda c=cam: wall.frames(c), lambda n, f=first: n >= f + 5, 30, f"{cam} still playing")
        assert watched() == ["cam-a", "cam-b", "cam-c", "cam-d"]  # the same four connections
        assert await wall.layout_button(16).get_attribute("aria-pressed") == "true"
        # The buttons do the same.
        await wall.layout_button(4).click()
        await poll(wall.size, lambda n: n == 4, 5, "four tiles again")
        assert await wall.layout_button(16).get_attribute("aria-pressed") == "false"

        # Arrows move between tiles (two columns), Enter enlarges the one in focus, Esc goes back.
        await wall.tile("cam-a").focus()
        await wall.press("ArrowRight")
        await wait_focus(page, "el.dataset.camera", "cam-b")
        await wall.press("ArrowDown")
        await wait_focus(page, "el.dataset.camera", "cam-d")
        await wall.press("Enter")
        await wall.single.wait_for()
        assert await wall.single.get_attribute("data-camera") == "cam-d"
        assert await wall.grid.count() == 0
        await poll(lambda: wall.frames("cam-d"), lambda n: n > 0, 30, "the enlarged camera playing")
        await wall.press("Escape")
        await wall.grid.wait_for()
        await wait_focus(page, "el.dataset.camera", "cam-d")
        # "?" shows the keys; Escape closes them.
        await wall.press("?")
        await wall.help.wait_for()
        assert "Enlarge" in await wall.help.inner_text()
        await wall.press("Escape")
        await wall.help.wait_for(state="detached")


async def test_a_saved_layout_comes_back_on_another_machine(
    tmp_path: Path, new_page: NewPage, scenes: dict[str, str]
) -> None:
    cams = [
        camera("cam-a", "Gate A", scenes["street"]),
        camera("cam-b", "Plaza B", scenes["plaza"]),
        camera("cam-c", "Canal C", scenes["plaza"], grid="g3"),
    ]
    async with hub_and_pages(hub_settings(tmp_path, cams), new_page) as (rh, new_page):
        page = await new_page(viewport=DESKTOP)
        wall = await WallPage.open(page, rh.url)
        await wall.press("9")
        await poll(wall.size, lambda n: n == 9, 5, "nine tiles")
        # Tile 1 gets Canal C, found by searching the camera list; Gate A trades places with it.
        await page.locator(".picker-toggle").click()
        await wall.picker.wait_for()
        assert "tile 1" in (await wall.picker.locator(".picker-target").inner_text()).lower()
        # The district tree lists every camera under its place.
        tree = wall.picker.locator(".picker-tree")
        assert await tree.locator("summary", has_text="Grid 3").count() == 1
        await wall.picker.get_by_label("Search").fill("canal")
        await wall.picker.get_by_role("button", name="Canal C").click()
        await poll(wall.grid_cameras, lambda c: c[:3] == ["cam-c", "cam-b", "cam-a"], 5, "Canal C in tile 1")
        await wall.picker.get_by_role("button", name="Close the camera list").click()
        # Save it under a name.
        await wall.open_menu(wall.layouts_menu)
        await wall.layouts_menu.get_by_label("Name of this layout").fill("Night shift")
        await wall.layouts_menu.get_by_role("button", name="Save", exact=True).click()
        await wall.layouts_menu.get_by_text("Saved “Night shift”.").wait_for()
        await wall.layouts_menu.locator("summary").click()
        # Then a single camera: the wall as it is is saved by itself.
        await wall.press("1")
        async with await rh.client("dispatcher") as c:

            async def stored() -> Any:
                return (await c.get("/api/me/prefs")).json().get("wall.layouts", {})

            saved = await poll(stored, lambda v: v.get("current", {}).get("size") == 1, 10, "the wall saved")
        assert [s["name"] for s in saved["saved"]] == ["Night shift"]
        assert saved["saved"][0]["size"] == 9 and saved["saved"][0]["slots"][:3] == ["cam-c", "cam-b", "cam-a"]

        # Another machine (a fresh browser context): the same wall, and the named layout.
        other = await new_page(viewport=DESKTOP)
        there = await WallPage.open(other, rh.url)
        await poll(there.size, lambda n: n == 1, 10, "the saved single camera")
        assert await there.grid_cameras() == ["cam-c"]
        await there.open_menu(there.layouts_menu)
        await there.layouts_menu.get_by_role("button", name="Load layout Night shift").click()
        try:
            await poll(there.size, lambda n: n == 9, 5, "the named layout")
        except BaseException:
            # Once in a loaded CI run the wall showed 4 tiles here: say what the page held.
            held = await other.evaluate(
                "async () => { const m = await import('/web/hooks/use-prefs.js');"
                " return {prefs: m.prefs.value, loaded: m.prefsLoaded.value, hash: location.hash}; }"
            )
            print("page state when the named layout did not show:", held)
            raise
        assert (await there.grid_cameras())[:3] == ["cam-c", "cam-b", "cam-a"]
        assert await other.locator(".wall-grid > .tile-empty").count() == 6
        # Deleted there, it is gone for the user everywhere.
        await there.open_menu(there.layouts_menu)
        await there.layouts_menu.get_by_role("button", name="Delete layout Night shift").click()
        await there.layouts_menu.get_by_text("No saved layouts yet.").wait_for()
        async with await rh.client("dispatcher") as c:
            assert (await c.get("/api/me/prefs")).json()["wall.layouts"]["saved"] == []


async def test_an_alert_shows_on_its_tile_within_a_second_and_moves_it_to_the_alarm_lane(
    tmp_path: Path, new_page: NewPage, scenes: dict[str, str]
) -> None:
    # The street scene raises an intrusion alert in its road zone every loop (24 s): a real alert
    # from the camera's analysis, through the log and the feed, to the tile.
    street = camera("cam-street", "Street", scenes["street"], analysis={"fps": 4, "width": 160, "height": 90})
    cams = [street | {"zones": [ROAD]}, camera("cam-plaza", "Plaza", scenes["plaza"])]
    async with (
        hub_and_pages(hub_settings(tmp_path, cams), new_page) as (rh, new_page),
        await rh.client("dispatcher") as api,
    ):
        page = await new_page(viewport=DESKTOP)
        wall = await WallPage.open(page, rh.url)
        await page.wait_for_selector(".feed-status[data-status=live]")
        head = (await api.get("/api/events", params={"limit": 1})).json()["head_id"]
        await page.evaluate(BADGE_WATCH_JS)

        async def started_since() -> list[dict[str, Any]]:
            r = await api.get("/api/events", params={"since": head, "type": "alert.started", "limit": 100})
            return list(r.json()["events"])

        (event,) = (await poll(started_since, lambda evs: len(evs) >= 1, 60, "a new alert", period_s=0.3))[:1]
        alert_id = event["data"]["alert_id"]

        async def badge() -> Any:
            found = await page.evaluate("(id) => window.wallBadges.find((b) => b.id === id) ?? null", alert_id)
            return found

        shown = await poll(badge, lambda b: b is not None, 5, "the badge of the new alert")
        logged_ms = datetime.fromisoformat(event["ts"]).timestamp() * 1000
        delay_ms = shown["at"] - logged_ms
        assert delay_ms <= 1000, f"the badge showed {delay_ms:.0f} ms after the event"
        assert shown["camera"] == "cam-street" and shown["kind"] == "intrusion" and shown["lane"]

        # In the alarm lane, live, with the badge and the road zone drawn over the picture; its tile
        # on the wall says where it went.
        tile = wall.lane.locator('.wall-tile[data-camera="cam-street"]')
        assert await tile.get_attribute("data-alert") == "intrusion"
        badge_el = tile.locator(".alert-badge")
        assert "Intrusion" in await badge_el.inner_text()
        assert await badge_el.get_attribute("data-event-id") == str(event["id"])
        # The badge leads to the incident the alert opened (or folded into), where its grid is reached.
        async with await rh.client("dispatcher") as desk:
            (incident,) = (await desk.get("/api/incidents", params={"source": "camera"})).json()
        await badge_el.locator(f'a[href="#/incidents/{incident["id"]}"]').wait_for()
        zone = tile.locator('svg.zone-overlay polygon[data-zone="road"]')
        assert await zone.is_visible()
        box, pic = await zone.bounding_box(), await tile.locator(".tile-frame").bounding_box()
        assert box["y"] > pic["y"] + pic["height"] * 0.6, (box, pic)  # the bottom quarter of the picture
        assert await page.locator('.wall-grid > .tile-moved[data-moved="cam-street"]').count() == 1
        assert await wall.tile("cam-street").count() == 1  # one tile, one player per camera
        await poll(lambda: wall.frames("cam-street"), lambda n: n > 0, 30, "the lane tile playing")

        # The alert ends: the tile stays in the lane a while, dimmed, without data-alert.
        async def ended() -> list[dict[str, Any]]:
            r = await api.get("/api/events", params={"since": event["id"], "type": "alert.ended"})
            return [e for e in r.json()["events"] if e["data"]["alert_id"] == alert_id]

        await poll(ended, bool, 60, "the alert to end", period_s=0.5)
        await page.wait_for_selector('.wall-lane .wall-tile[data-camera="cam-street"][data-alert-ended]', timeout=5000)
        assert await tile.get_attribute("data-alert") is None
        assert "Ended" in await tile.locator(".alert-badge").inner_text()


async def test_alerts_open_before_the_page_are_on_the_wall_when_it_opens(
    tmp_path: Path, new_page: NewPage, scenes: dict[str, str]
) -> None:
    cams = [camera("cam-plaza", "Plaza", scenes["plaza"], zones=[ROAD]), camera("cam-b", "Bay", scenes["plaza"])]
    async with hub_and_pages(hub_settings(tmp_path, cams), new_page) as (rh, new_page):
        await raise_alert(rh, "cam-plaza", "before", kind="loitering")
        # Far more events since than the feed replays when a page starts: only GET /api/alerts/open
        # can tell the page about this alert.
        for i in range(150):
            await rh.hub.log.append("journal.entry", "desk", "dispatcher", {"text": f"note {i}"})
        page = await new_page(viewport=DESKTOP)
        wall = await WallPage.open(page, rh.url)
        tile = wall.lane.locator('.wall-tile[data-camera="cam-plaza"]')
        await tile.wait_for()
        assert await tile.get_attribute("data-alert") == "loitering"
        assert "Loitering" in await tile.locator(".alert-badge").inner_text()
        assert await wall.lane.locator(".lane-count").inner_text() == "1 open"
        # Its end comes over the feed.
        await end_alert(rh, "cam-plaza", "before", kind="loitering")
        await page.wait_for_selector('.wall-lane .wall-tile[data-camera="cam-plaza"][data-alert-ended]')
        assert await wall.lane.locator(".lane-count").inner_text() == "0 open"


async def test_from_an_alert_one_click_calls_the_grid_or_addresses_it(
    tmp_path: Path, new_page: NewPage, console: ConsoleWatch, scenes: dict[str, str]
) -> None:
    # Nobody answers on worker1's phone here: the hub refuses the call (409), and the panel says so.
    # A call that connects is tested from an incident's page (tests/web/test_desk_incidents.py).
    console.allow(r"status of 409")
    cams = [camera("cam-plaza", "Plaza", scenes["plaza"], zones=[ROAD])]
    async with hub_and_pages(hub_settings(tmp_path, cams), new_page) as (rh, new_page):
        page = await new_page(viewport=DESKTOP)
        wall = await WallPage.open(page, rh.url)
        await raise_alert(rh, "cam-plaza", "reach", kind="intrusion")
        tile = wall.lane.locator('.wall-tile[data-camera="cam-plaza"]')
        reach = tile.locator(".alert-reach")
        # grid 1's on-duty worker, straight from the alert: the desk calls them.
        async with page.expect_request(lambda r: r.url.endswith("/api/calls") and r.method == "POST") as asked:
            await reach.locator(".reach-call[data-person=worker1]").click()
        assert (await asked.value).post_data_json == {"to": "worker1"}
        await page.locator(".call-panel").filter(has_text="Worker One").wait_for()
        # An instruction already addressed to the grid.
        await reach.locator(".reach-instruction").click()
        dialog = page.locator("dialog[open]")
        await dialog.wait_for()
        assert "Intrusion at Plaza" in await dialog.locator("textarea").input_value()
        assert "Grid 1" in await dialog.inner_text()  # the place by its name, not its id


async def test_a_broken_saved_wall_still_opens(running: RunningHub, new_page: NewPage) -> None:
    # Preferences are any JSON: one written by hand, or by an older page, must not break the wall.
    async with await running.client("dispatcher") as c:
        junk = {"current": {"size": 7, "slots": [1, "cam-gone", None], "overview": "yes"}, "saved": [{"name": ""}, 5]}
        assert (await c.put("/api/me/prefs/wall.layouts", json=junk)).status_code == 204
        assert (await c.put("/api/me/prefs/wall.tours", json={"not": "a list"})).status_code == 204
    page = await new_page(viewport=DESKTOP)
    wall = await WallPage.open(page, running.url)
    await poll(wall.size, lambda n: n == 9, 10, "the nearest layout to 7 tiles")
    assert await page.locator('.wall-grid > .tile-missing[data-slot="1"]').count() == 1
    assert await page.locator(".wall-grid > .tile-empty").count() == 8
    await page.get_by_text("No cameras to show yet.").wait_for()
    await wall.open_menu(wall.layouts_menu)
    await wall.layouts_menu.get_by_text("No saved layouts yet.").wait_for()


async def test_a_camera_the_browser_cannot_play_shows_pictures(
    tmp_path: Path, new_page: NewPage, console: ConsoleWatch, scenes: dict[str, str]
) -> None:
    console.allow(r"status of 415")  # the first WHEP offer, before the hub knew the codec
    cams = [camera("cam-hevc", "Dock H265", scenes["hevc"]), camera("cam-plaza", "Plaza", scenes["plaza"])]
    async with hub_and_pages(hub_settings(tmp_path, cams), new_page) as (rh, new_page):
        page = await new_page(viewport=DESKTOP)
        wall = await WallPage.open(page, rh.url)
        tile = wall.tile("cam-hevc")
        await tile.locator(".tile-media[data-mode=snapshot]").wait_for(timeout=30_000)

        async def src() -> str:
            img = tile.locator("img")
            return str(await img.get_attribute("src") or "") if await img.count() else ""

        first = await poll(src, lambda s: s.startswith("blob:"), 30, "the first picture")
        await poll(src, lambda s: s.startswith("blob:") and s != first, 15, "a newer picture")
        # A real picture, never a black tile or a video that cannot play.
        assert await tile.locator("img").evaluate("(img) => img.complete && img.naturalWidth") > 0
        assert await tile.locator("video").count() == 0
        assert await tile.locator(".tile-status").inner_text() == "Snapshots · HEVC"
        # The camera beside it plays live.
        await poll(lambda: wall.frames("cam-plaza"), lambda n: n > 0, 30, "the H.264 camera playing")


async def test_an_offline_camera_says_why_and_since_when(
    tmp_path: Path, new_page: NewPage, console: ConsoleWatch, scenes: dict[str, str]
) -> None:
    console.allow(r"status of 503")  # the offline camera's WHEP offer, if made before its state is known
    dead = camera("cam-dead", "North bridge", "rtsp://127.0.0.1:9/x", connect_timeout_s=1)
    async with hub_and_pages(
        hub_settings(tmp_path, [dead, camera("cam-plaza", "Plaza", scenes["plaza"])]), new_page
    ) as (rh, new_page):
        page = await new_page(viewport=DESKTOP)
        wall = await WallPage.open(page, rh.url)
        tile = wall.tile("cam-dead")
        await page.wait_for_selector('.wall-tile[data-camera="cam-dead"][data-health=offline]', timeout=30_000)
        status = tile.locator(".tile-status[data-health=offline]")
        await status.wait_for()
        text = await status.inner_text()
        assert text.startswith("Offline · since "), text
        assert "ago" in text or "now" in text, text
        assert "connection refused" in text
        assert await tile.locator("video, img").count() == 0
        assert await status.locator("time").get_attribute("datetime")


async def test_a_refused_tile_says_so_and_plays_once_it_may(
    tmp_path: Path, new_page: NewPage, console: ConsoleWatch, scenes: dict[str, str]
) -> None:
    console.allow(r"status of 503")  # the hub refusing the second viewer, each try
    cams = [camera("cam-plaza", "Plaza", scenes["plaza"])]
    settings = make_settings(
        tmp_path, cameras=cams, server={"ice_addresses": ["127.0.0.1"]}, calls={"max_viewers_per_camera": 1}
    )
    async with hub_and_pages(settings, new_page) as (rh, new_page):
        first = await new_page(viewport=DESKTOP)
        one = await WallPage.open(first, rh.url)
        await poll(lambda: one.frames("cam-plaza"), lambda n: n > 0, 60, "the first desk playing")
        # A second desk: the hub allows one viewer of this camera, so its tile is refused (503 with
        # Retry-After) and says it will try again, counting down.
        second = await new_page(viewport=DESKTOP)
        two = await WallPage.open(second, rh.url)
        status = two.tile("cam-plaza").locator(".tile-status[data-health=retrying]")
        await status.wait_for(timeout=30_000)
        text = await status.inner_text()
        assert text.startswith("Reconnecting in ") and "(503)" in text, text
        assert await two.tile("cam-plaza").locator(".tile-media").get_attribute("data-error") == "startup"
        # The first desk lets go: the second one plays at its next try.
        await first.close()
        await poll(lambda: two.frames("cam-plaza"), lambda n: n > 0, 40, "the second desk playing")
        assert await status.count() == 0


async def test_a_patrol_tour_cycles_and_pauses_on_space_and_on_an_alert(
    tmp_path: Path, new_page: NewPage, scenes: dict[str, str]
) -> None:
    cams = [
        camera("cam-a", "Gate A", scenes["street"]),
        camera("cam-b", "Plaza B", scenes["plaza"]),
        camera("cam-c", "Canal C", scenes["plaza"]),
    ]
    async with hub_and_pages(hub_settings(tmp_path, cams), new_page) as (rh, new_page):
        page = await new_page(viewport=DESKTOP)
        wall = await WallPage.open(page, rh.url)
        await wall.press("1")
        await poll(wall.size, lambda n: n == 1, 5, "one tile")
        # A new tour: every camera, 3 s each.
        await wall.open_menu(wall.tour_menu)
        await wall.tour_menu.get_by_role("button", name="New patrol tour…").click()
        editor = page.locator("dialog.tour-editor")
        await editor.get_by_label("Name").fill("Night round")
        await editor.get_by_label("Seconds per view").fill("3")
        await editor.get_by_role("button", name="Save tour").click()
        await editor.wait_for(state="detached")
        async with await rh.client("dispatcher") as c:
            tours = (await c.get("/api/me/prefs")).json()["wall.tours"]
        assert tours == [{"name": "Night round", "interval_s": 3, "cameras": ["cam-a", "cam-b", "cam-c"]}]
        await wall.open_menu(wall.tour_menu)
        await wall.tour_menu.get_by_role("button", name="Start patrol Night round").click()
        await wall.tour_status.wait_for()
        assert "Patrol: Night round" in await wall.tour_status.inner_text()

        # It shows each camera in turn, about 3 s each, round again.
        seen: list[tuple[str, float]] = []

        async def shown() -> list[tuple[str, float]]:
            cam = (await wall.grid_cameras())[0] or ""
            if not seen or seen[-1][0] != cam:
                seen.append((cam, time.monotonic()))
            return seen

        await poll(shown, lambda s: len(s) >= 4, 20, "the tour to go round", period_s=0.05)
        assert [c for c, _ in seen[:4]] == ["cam-a", "cam-b", "cam-c", "cam-a"]
        gaps = [b - a for (_, a), (_, b) in zip(seen[1:], seen[2:4], strict=False)]
        assert all(2.5 < g < 4.5 for g in gaps), gaps

        # Space pauses: the camera stays past its time, and the bar says so.
        await wall.grid_tiles.first.focus()
        await wall.press(" ")
        await page.wait_for_selector(".tour-status[data-paused=user]")
        held = (await wall.grid_cameras())[0]
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4.5:  # longer than the tour's 3 s: it would have moved on
            assert (await wall.grid_cameras())[0] == held
            await asyncio.sleep(0.2)
        assert "Paused" in await wall.tour_status.inner_text()
        # Space again: on it goes.
        await wall.press(" ")
        await poll(lambda: wall.grid_cameras(), lambda c: c[0] != held, 5, "the tour to move on")

        # A new alert pauses it by itself, naming the camera.
        await raise_alert(rh, "cam-b", "a-tour")
        await page.wait_for_selector(".tour-status[data-paused=alert]", timeout=3000)
        assert "alert on Plaza B" in await wall.tour_status.inner_text()
        await end_alert(rh, "cam-b", "a-tour")
        await wall.tour_status.get_by_role("button", name="Stop").click()
        await wall.tour_status.wait_for(state="detached")


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_wall_screens_are_accessible_in_both_languages_on_a_desk_and_a_phone(
    tmp_path: Path, new_page: NewPage, console: ConsoleWatch, scenes: dict[str, str], lang: str
) -> None:
    require_axe()
    console.allow(r"status of (415|503)")  # the H.265 camera's first offer; the offline camera's
    crossing = {"id": "crossing", "kind": "intrusion", "polygon": [[0.05, 0.55], [0.6, 0.5], [0.7, 0.95], [0.02, 0.98]]}
    cams = [
        camera("cam-gate", "Gate street", scenes["street"], zones=[crossing]),
        camera("cam-plaza", "Fountain plaza", scenes["plaza"]),
        camera("cam-market", "Market east", scenes["plaza"], grid="g2"),
        camera("cam-dead", "North bridge", "rtsp://127.0.0.1:9/x", grid="g3", connect_timeout_s=1),
        camera("cam-dock", "Dock (H.265)", scenes["hevc"], grid="g3"),
        camera("cam-school", "School gate", scenes["street"], grid="g2"),
    ]
    async with hub_and_pages(hub_settings(tmp_path, cams), new_page) as (rh, new_page):
        page = await new_page(viewport=DESKTOP)
        wall = await WallPage.open(page, rh.url, lang=lang)
        assert await DeskPage(page, rh.url).view_title.inner_text() == {"en": "Video wall", "zh": "视频墙"}[lang]
        await page.locator(".overview-toggle").click()
        await raise_alert(rh, "cam-gate", "a-screens", zone="crossing")
        await wall.lane_tiles.first.wait_for()
        await page.wait_for_selector('.wall-tile[data-camera="cam-dead"][data-health=offline]', timeout=30_000)
        for cam in ("cam-gate", "cam-plaza", "cam-market"):
            await poll(lambda c=cam: wall.frames(c), lambda n: n > 0, 60, f"{cam} playing")
        await poll(lambda: wall.overview_tiles.locator("img").count(), lambda n: n == 2, 30, "the overview's pictures")
        assert await wall.overview_tiles.locator("video").count() == 0  # pictures, not more live video
        assert await axe_violations(page) == []
        await screenshot(page, f"wall-{lang}-desktop")

        # The camera picker and the keys' help, also clean.
        await page.locator(".picker-toggle").click()
        await wall.picker.wait_for()
        assert await axe_violations(page) == []
        await screenshot(page, f"wall-picker-{lang}-desktop")
        await wall.picker.locator(".picker-head button").click()
        await wall.press("?")
        await wall.help.wait_for()
        assert await axe_violations(page) == []
        await wall.press("Escape")
        await wall.open_menu(wall.tour_menu)
        assert await axe_violations(page) == []

        # A phone: one column, the same wall (its layout follows the user).
        phone = await new_page(viewport=PHONE)
        small = await WallPage.open(phone, rh.url, lang=lang)
        await small.lane_tiles.first.wait_for()
        await small.overview_tiles.first.wait_for()
        widths = await small.grid_tiles.evaluate_all("(tiles) => tiles.map((t) => t.getBoundingClientRect().width)")
        assert min(widths) > PHONE["width"] * 0.8, widths  # one tile a row
        await poll(lambda: small.frames("cam-gate"), lambda n: n > 0, 60, "the lane tile playing on the phone")
        assert await axe_violations(phone) == []
        await screenshot(phone, f"wall-{lang}-phone")
        await end_alert(rh, "cam-gate", "a-screens", zone="crossing")
