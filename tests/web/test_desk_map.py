"""The desk's district map in Chromium against a real hub: the district's outlines and cameras from
the config, a camera's live view on a click, workers' positions and open incidents placed and
followed live, an alert lighting its camera up, the drill-down from the district to a grid and back,
keyboard use, axe, and screenshots in both languages at desktop and phone size."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, free_port
from tests.hub.conftest import BASE_CONFIG, RunningHub, make_settings
from tests.web.conftest import PHONE, NewPage, axe_violations, hub_and_pages, require_axe, screenshot, wait_focus
from tests.web.pages import log_in_to_desk

# The test district, every node outlined ([lon, lat] points): two streets side by side, a
# community in each, grids 1 and 2 in the west, grid 3 in the east, property 1 in grid 1.
AREAS = {
    "d": [[121.40, 31.20], [121.50, 31.20], [121.50, 31.30], [121.40, 31.30]],
    "s1": [[121.402, 31.202], [121.448, 31.202], [121.448, 31.298], [121.402, 31.298]],
    "c1": [[121.406, 31.206], [121.444, 31.206], [121.444, 31.294], [121.406, 31.294]],
    "g1": [[121.41, 31.25], [121.44, 31.25], [121.44, 31.29], [121.41, 31.29]],
    "g2": [[121.41, 31.21], [121.44, 31.21], [121.44, 31.245], [121.41, 31.245]],
    "p1": [[121.414, 31.275], [121.424, 31.275], [121.424, 31.285], [121.414, 31.285]],
    "s2": [[121.452, 31.202], [121.498, 31.202], [121.498, 31.298], [121.452, 31.298]],
    "c2": [[121.456, 31.206], [121.494, 31.206], [121.494, 31.294], [121.456, 31.294]],
    "g3": [[121.46, 31.21], [121.49, 31.21], [121.49, 31.29], [121.46, 31.29]],
}
GRIDS = {"g1", "g2", "g3"}
STREET = {"lat": 31.262, "lon": 121.433}
"""Where the street camera stands (in grid 1, away from the middles a test clicks)."""


def map_directory() -> dict[str, Any]:
    directory = copy.deepcopy(BASE_CONFIG["directory"])
    stack = [directory["root"]]
    while stack:
        node = stack.pop()
        node["area"] = AREAS[node["id"]]
        stack.extend(node.get("children", []))
    return directory


def camera(cid: str, name: str, url: str, grid: str, **extra: Any) -> dict[str, Any]:
    return {"id": cid, "name": name, "url": url, "grid": grid, "analysis": {"enabled": False}, **extra}


def map_settings(tmp_path: Path, cameras: list[dict[str, Any]] | None = None) -> Any:
    if cameras is None:  # two cameras that never start: drawn, not played
        cameras = [
            camera("cam-gate", "North Gate", "synthetic://street", "g1", enabled=False, location=STREET),
            camera("cam-yard", "Yard", "synthetic://plaza", "g3", enabled=False),
        ]
    return make_settings(tmp_path, directory=map_directory(), cameras=cameras, server={"ice_addresses": ["127.0.0.1"]})


async def poll(fn: Any, ok: Any, timeout_s: float, what: str) -> Any:
    t0 = time.monotonic()
    while True:
        value = await fn()
        if ok(value):
            return value
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {value!r})")
        await asyncio.sleep(0.2)


class MapPage:
    """``#/map``: the Leaflet map (``[data-map]``), its marks, the breadcrumb, the list, the live view."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.map = page.locator("[data-map]")
        self.outlines = self.map.locator("path[data-node]")
        self.grids = self.map.locator("path[data-level=grid]")
        self.regions = self.map.locator("path[data-role=region]")
        self.focus_outline = self.map.locator("path[data-role=focus]")
        self.cameras = self.map.locator(".map-marker-camera[data-camera]")
        self.people = self.map.locator(".map-marker-person[data-person]")
        self.incidents = self.map.locator(".map-marker-incident[data-incident]")
        self.breadcrumb = page.locator("nav.map-breadcrumb")
        self.here = self.breadcrumb.locator("[aria-current=location]")
        self.side = page.locator("aside.map-side")
        self.panel = page.locator(".map-panel")
        self.legend = page.locator(".map-legend")

    async def open(self, node: str | None = None, outlined: bool = True) -> MapPage:
        """Go to the map from the desk (the address keeps its ``?lang=``)."""
        await self.page.evaluate("(hash) => { location.hash = hash; }", "#/map" + (f"/{node}" if node else ""))
        await (self.outlines.first if outlined else self.page.locator(".map-canvas.leaflet-container")).wait_for()
        return self

    def region(self, node: str) -> Any:
        return self.map.locator(f"path[data-role=region][data-node={node}]")

    async def drill(self, node: str) -> None:
        """Click a region once the map is at rest, as a person clicks where they see it (while the
        map still zooms, the region is on its way elsewhere and the click lands beside it)."""
        await self.page.locator("[data-map]:not([data-moving])").wait_for()
        await self.region(node).click()

    def camera(self, cid: str) -> Any:
        return self.map.locator(f".map-marker-camera[data-camera={cid}]")

    def person(self, pid: str) -> Any:
        return self.map.locator(f".map-marker-person[data-person={pid}]")

    def incident(self, iid: int) -> Any:
        return self.map.locator(f".map-marker-incident[data-incident='{iid}']")

    def listed_camera(self, cid: str) -> Any:
        return self.side.locator(f"[data-list-camera={cid}]")

    def listed_incident(self, iid: int) -> Any:
        return self.side.locator(f"[data-list-incident='{iid}']")

    def listed_person(self, pid: str) -> Any:
        return self.side.locator(f"[data-list-person={pid}]")

    async def ids(self, locator: Any, attribute: str) -> set[str]:
        return {str(await el.get_attribute(attribute)) for el in await locator.all()}

    async def centre(self, locator: Any) -> tuple[float, float]:
        box = await locator.bounding_box()
        assert box is not None
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def words(text: str) -> str:
    return " ".join(text.split())


async def inside(page: MapPage, mark: Any, node: str) -> None:
    """Wait until a marker's point lies within a node's drawn outline (on the screen).

    Leaflet redraws outlines and markers at the end of a zoom or pan: read in the middle of one,
    an outline may have no box yet, or the two may be drawn for different zoom levels.
    """

    async def where() -> tuple[Any, Any]:
        return await page.map.locator(f"path[data-node={node}]").bounding_box(), await mark.bounding_box()

    def within(got: tuple[Any, Any]) -> bool:
        box, m = got
        if not box or not m:
            return False
        x, y = m["x"] + m["width"] / 2, m["y"] + m["height"] / 2
        return bool(box["x"] <= x <= box["x"] + box["width"] and box["y"] <= y <= box["y"] + box["height"])

    await poll(where, within, 10, f"the mark within {node}'s outline")


VIDEO_FRAMES_JS = """() => {
  const v = document.querySelector(".map-panel video");
  return v ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
}"""
SNAPSHOT_JS = """() => {
  const img = document.querySelector(".map-panel img");
  return img && img.complete ? img.naturalWidth : 0;
}"""


async def test_the_map_draws_the_district_and_opens_a_cameras_live_view(tmp_path: Path, new_page: NewPage) -> None:
    from tests.streams.conftest import make_video

    hevc = make_video(tmp_path / "hevc.mp4", codec="libx265", seconds=4)
    cameras = [
        camera("cam-street", "Street", "synthetic://street", "g1", location=STREET),
        # H.265: browsers cannot play it, so the live view is a refreshed snapshot. No location:
        # it stands in the middle of its grid.
        camera("cam-hevc", "Loading Bay", f"file://{hevc}", "g2"),
    ]
    async with hub_and_pages(map_settings(tmp_path, cameras), new_page) as (rh, new_page):
        page = await new_page(viewport={"width": 1600, "height": 900})
        await log_in_to_desk(page, rh.url)
        m = await MapPage(page).open()
        # Every grid of the config is outlined, the streets are what a click goes into, and
        # each camera has its marker.
        await poll(lambda: m.grids.count(), lambda n: n == len(GRIDS), 10, "the grids")
        assert await m.ids(m.grids, "data-node") == GRIDS
        assert await m.ids(m.regions, "data-node") == {"s1", "s2"}
        assert await m.ids(m.focus_outline, "data-node") == {"d"}
        assert await m.ids(m.cameras, "data-camera") == {"cam-street", "cam-hevc"}
        await inside(m, m.camera("cam-hevc"), "g2")  # placed by its grid's outline
        await inside(m, m.camera("cam-street"), "g1")
        await m.legend.get_by_text("Camera with an open alert").wait_for()

        # A click on a camera opens its live view: video that plays.
        await m.camera("cam-street").click()
        await m.panel.get_by_role("heading", name="Street").wait_for()
        assert await m.listed_camera("cam-street").get_attribute("aria-pressed") == "true"
        first = await poll(lambda: page.evaluate(VIDEO_FRAMES_JS), lambda n: n > 0, 60, "the first frame")
        await poll(lambda: page.evaluate(VIDEO_FRAMES_JS), lambda n: n >= first + 5, 30, "more frames")
        assert await axe_violations(page) == []
        await screenshot(page, "map-live-en-desktop")

        # The H.265 camera from the list, by keyboard: a snapshot picture instead of video.
        await m.listed_camera("cam-hevc").focus()
        await page.keyboard.press("Enter")
        await m.panel.get_by_role("heading", name="Loading Bay").wait_for()
        await poll(lambda: page.evaluate(SNAPSHOT_JS), lambda n: n > 0, 60, "a snapshot picture")
        assert await m.panel.locator(".camera-player").get_attribute("data-mode") == "snapshot"
        # The keyboard went to the live view; Escape closes it and gives the focus back.
        await page.keyboard.press("Escape")
        await m.panel.wait_for(state="detached")
        await wait_focus(page, "el.dataset.listCamera", "cam-hevc")
        await page.close()


async def test_workers_and_incidents_are_placed_and_follow_the_feed(tmp_path: Path, new_page: NewPage) -> None:
    async with hub_and_pages(map_settings(tmp_path), new_page) as (rh, new_page):
        async with await rh.client("worker1") as w1:
            r = await w1.post("/api/me/position", json={"lat": 31.258, "lon": 121.415, "accuracy_m": 12})
            assert r.status_code == 204
        async with await rh.client("dispatcher") as desk:
            # Placed by its node (the middle of grid 3), and by its own coordinates.
            r = await desk.post("/api/incidents", json={"category": "fire", "title": "Smoke seen", "node": "g3"})
            assert r.status_code == 201, r.text
            by_node = r.json()["incident"]["id"]

        page = await new_page(viewport={"width": 1600, "height": 900})
        await log_in_to_desk(page, rh.url)
        m = await MapPage(page).open()
        worker = m.person("worker1")
        await worker.wait_for()
        await inside(m, worker, "g1")
        await m.map.get_by_text("Worker One").wait_for()  # named on the map
        listed = m.listed_person("worker1")
        assert "Worker One" in await listed.inner_text()
        await m.incident(by_node).wait_for()
        await inside(m, m.incident(by_node), "g3")
        assert "Smoke seen" in await m.listed_incident(by_node).inner_text()

        # The worker walks south into grid 2 and reports again: the mark moves, live.
        before = await m.centre(worker)
        async with await rh.client("worker1") as w1:
            r = await w1.post("/api/me/position", json={"lat": 31.22, "lon": 121.43, "accuracy_m": 5})
            assert r.status_code == 204
        await page.wait_for_function("() => document.querySelector('[data-person=worker1]')?.dataset.lat === '31.22'")
        after = await m.centre(worker)
        assert after[1] > before[1] + 50, (before, after)  # further down the screen: south
        await inside(m, worker, "g2")

        # A new incident appears where it was reported; one dismissed leaves the map.
        async with await rh.client("dispatcher") as desk:
            r = await desk.post(
                "/api/incidents",
                json={"category": "road", "title": "Fallen tree", "severity": "P1", "lat": 31.23, "lon": 121.42},
            )
            exact = r.json()["incident"]["id"]
            await m.incident(exact).wait_for()
            await inside(m, m.incident(exact), "g2")
            assert await m.incident(exact).get_attribute("data-severity") == "P1"
            r = await desk.post(f"/api/incidents/{by_node}/transitions", json={"to": "dismissed", "version": 1})
            assert r.status_code == 200, r.text
        await m.incident(by_node).wait_for(state="detached")
        await m.listed_incident(by_node).wait_for(state="detached")

        # Its popup links to the incident.
        await m.incident(exact).click()
        link = m.map.locator(".leaflet-popup").get_by_role("link", name="Open the incident")
        await link.click()
        await page.wait_for_url(f"**/#/incidents/{exact}")
        await page.close()


async def test_an_alert_lights_its_camera_up(tmp_path: Path, new_page: NewPage) -> None:
    analysed = camera("cam-street", "Street", "synthetic://street", "g1", location=STREET)
    analysed["analysis"] = {"fps": 4, "width": 160, "height": 90}
    async with hub_and_pages(map_settings(tmp_path, [analysed]), new_page) as (rh, new_page):
        page = await new_page(viewport={"width": 1600, "height": 900})
        await log_in_to_desk(page, rh.url)
        m = await MapPage(page).open()
        lit = m.map.locator(".map-marker-camera.is-alert[data-alert=true][data-camera=cam-street]")
        calm = m.map.locator(".map-marker-camera[data-alert=false][data-camera=cam-street]")
        # Motion in the street scene raises an alert within seconds: the marker turns red.
        await lit.wait_for(timeout=60_000)
        colour = await lit.locator(".map-pin").evaluate("(el) => getComputedStyle(el).backgroundColor")
        assert colour == "rgb(255, 123, 123)", colour
        await m.listed_camera("cam-street").filter(has_text="Alert").wait_for()
        # It ends, and the next one starts: the marker follows, live.
        await calm.wait_for(timeout=60_000)
        await lit.wait_for(timeout=60_000)
        await page.close()

        # A desk opened while the alert is still open shows it at once.
        page = await new_page(viewport={"width": 1600, "height": 900})
        await log_in_to_desk(page, rh.url)
        m = await MapPage(page).open()
        await m.camera("cam-street").wait_for()
        if await rh.hub.open_alerts.list():
            await m.map.locator(".map-marker-camera.is-alert[data-camera=cam-street]").wait_for(timeout=5_000)
        await page.close()


async def test_drill_down_by_clicking_regions_and_back_by_the_breadcrumb(tmp_path: Path, new_page: NewPage) -> None:
    async with hub_and_pages(map_settings(tmp_path), new_page) as (rh, new_page):
        page = await new_page(viewport={"width": 1600, "height": 900})
        await log_in_to_desk(page, rh.url)
        m = await MapPage(page).open()
        assert words(await m.here.inner_text()) == "District District"
        width_at_district = (await m.map.locator("path[data-node=g1]").bounding_box())["width"]

        await m.drill("s1")
        await page.wait_for_url("**/#/map/s1")
        await m.focus_outline.and_(m.map.locator("[data-node=s1]")).wait_for()
        assert await m.ids(m.regions, "data-node") == {"c1"}
        assert words(await m.here.inner_text()) == "Street Street 1"
        await m.drill("c1")
        await m.focus_outline.and_(m.map.locator("[data-node=c1]")).wait_for()
        assert await m.ids(m.regions, "data-node") == {"g1", "g2"}
        await m.drill("g1")
        await m.focus_outline.and_(m.map.locator("[data-node=g1]")).wait_for()
        # A grid shows its properties, and the map has zoomed in on it.
        assert await m.ids(m.regions, "data-node") == {"p1"}
        await poll(
            lambda: m.focus_outline.bounding_box(), lambda b: b and b["width"] > 2 * width_at_district, 10, "the zoom"
        )
        crumbs = [words(c) for c in await m.breadcrumb.locator("li").all_inner_texts()]
        assert crumbs == ["District District", "Street Street 1", "Community Community 1", "Grid Grid 1"]
        # The list beside the map holds what is in grid 1 only.
        assert await m.side.locator("[data-list-camera]").count() == 1

        # Back up by the breadcrumb, straight to the district.
        await m.breadcrumb.get_by_role("link", name="District District").click()
        await page.wait_for_url("**/#/map")
        await m.focus_outline.and_(m.map.locator("[data-node=d]")).wait_for()
        assert await m.ids(m.regions, "data-node") == {"s1", "s2"}

        # By keyboard: the areas are links in the list; the map itself zooms with +.
        await m.side.locator("[data-area=s2]").focus()
        await page.keyboard.press("Enter")
        await m.focus_outline.and_(m.map.locator("[data-node=s2]")).wait_for()
        await page.go_back()
        await m.focus_outline.and_(m.map.locator("[data-node=d]")).wait_for()
        before = (await m.map.locator("path[data-node=g1]").bounding_box())["width"]
        await m.map.focus()
        await page.keyboard.press("+")
        await poll(
            lambda: m.map.locator("path[data-node=g1]").bounding_box(),
            lambda b: b and b["width"] > before * 1.2,
            10,
            "the map to zoom in",
        )
        await page.close()


async def test_a_district_with_its_own_tiles_and_no_outlines(tmp_path: Path, new_page: NewPage) -> None:
    # The hub's own copy of a Leaflet picture stands in for the district's tile server.
    port = free_port()
    leaflet = json.loads((REPO / "web/node_modules/leaflet/package.json").read_text())["version"]
    tiles = f"http://127.0.0.1:{port}/web/vendor/leaflet@{leaflet}/dist/images/layers.png?z={{z}}&x={{x}}&y={{y}}"
    gate = camera("cam-gate", "North Gate", "synthetic://street", "g1", enabled=False, location=STREET)
    settings = make_settings(
        tmp_path, cameras=[gate], map={"tile_url": tiles, "attribution": "District GIS", "max_zoom": 18}
    )
    async with hub_and_pages(settings, new_page, port=port) as (rh, new_page):
        page = await new_page(viewport={"width": 1600, "height": 900})
        await log_in_to_desk(page, rh.url)
        m = await MapPage(page).open(outlined=False)
        await m.map.locator("img.leaflet-tile-loaded").first.wait_for()
        await m.map.locator(".leaflet-control-attribution").filter(has_text="District GIS").wait_for()
        # No outlines in the config: the map says so and shows where the cameras are.
        await page.get_by_text("No outlines are set for this district").wait_for()
        assert await m.outlines.count() == 0
        box, mark = await m.map.bounding_box(), await m.camera("cam-gate").bounding_box()
        assert box and mark and box["x"] < mark["x"] < box["x"] + box["width"] - mark["width"]
        assert box["y"] < mark["y"] < box["y"] + box["height"] - mark["height"]
        assert await axe_violations(page) == []
        await page.close()


TITLE = {"en": "Map", "zh": "地图"}
LABEL_JS = """(pid) => {
  const body = document.querySelector(`[data-map] [data-label-for="${pid}"]`);
  const label = body.closest(".leaflet-tooltip");
  const r = label.getBoundingClientRect();
  const overlap = (b) => Math.max(0, Math.min(r.right, b.right) - Math.max(r.left, b.left)) *
    Math.max(0, Math.min(r.bottom, b.bottom) - Math.max(r.top, b.top));
  const map = document.querySelector("[data-map]").getBoundingClientRect();
  const marks = [...document.querySelectorAll("[data-map] .leaflet-marker-icon")];
  return {
    text: label.innerText,
    ago: body.querySelector(".map-person-ago").textContent,
    outside_px: r.width * r.height - overlap(map),
    under: marks.filter((m) => overlap(m.getBoundingClientRect()) > 0)
      .map((m) => m.dataset.camera ?? `incident ${m.dataset.incident ?? m.dataset.person}`),
  };
}"""
"""What a worker's label on the map shows, how much of it lies outside the map, and the marks
drawn over it (labels are under the marks)."""
SIZES = {"desktop": {"width": 1600, "height": 900}, "phone": PHONE}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_map_screens(tmp_path: Path, new_page: NewPage, lang: str, size: str) -> None:
    require_axe()
    async with hub_and_pages(map_settings(tmp_path), new_page) as (rh, new_page):
        await seed(rh)
        page = await new_page(viewport=SIZES[size])
        desk = await log_in_to_desk(page, rh.url, lang=lang)
        m = await MapPage(page).open()
        await desk.shows(TITLE[lang])
        await m.person("worker1").wait_for()
        await m.incidents.first.wait_for()
        await m.cameras.first.wait_for()
        await page.wait_for_selector(".feed-status[data-status=live]")
        # The worker's label can be read whole: inside the map, not under a camera or an incident.
        label = await page.evaluate(LABEL_JS, "worker1")
        assert label["text"].splitlines() == ["Worker One", label["ago"]] and label["ago"], label
        assert label["outside_px"] < 1 and label["under"] == [], label
        assert await axe_violations(page) == []
        await screenshot(page, f"map-{lang}-{size}")
        # A popup open and a camera's panel open: still clean.
        await m.incidents.first.click()
        await popup_shown(m)
        await m.listed_camera("cam-gate").click()
        await m.panel.wait_for()
        assert await axe_violations(page) == []
        await m.map.get_by_role("button", name="Close popup").click()
        await m.drill("s1")
        await m.focus_outline.and_(m.map.locator("[data-node=s1]")).wait_for()
        assert await axe_violations(page) == []
        await screenshot(page, f"map-street-{lang}-{size}")
        await page.close()


async def popup_shown(m: MapPage) -> None:
    """Wait for a popup to have faded in (axe measures contrast as it is on the screen)."""
    await m.map.locator(".leaflet-popup").wait_for()
    await m.page.wait_for_function("() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")


async def seed(rh: RunningHub) -> None:
    """A worker in the field and two open incidents, for the screens."""
    async with await rh.client("worker1") as w1:
        await w1.post("/api/me/position", json={"lat": 31.258, "lon": 121.415, "accuracy_m": 12})
    async with await rh.client("dispatcher") as desk:
        for body in (
            {"category": "fire", "title": "Smoke from a kitchen vent", "node": "g3", "severity": "P2"},
            {"category": "road", "title": "Fallen tree blocks the lane", "severity": "P1", "lat": 31.23, "lon": 121.42},
        ):
            assert (await desk.post("/api/incidents", json=body)).status_code == 201


async def test_the_demo_districts_map(tmp_path: Path, new_page: NewPage) -> None:
    # The district `skyhub demo` runs (hub/demo.yaml), with its cameras drawn but not ingested.
    from hub.demo import prepare_demo

    demo, _, _ = prepare_demo(tmp_path / "data")
    data = demo.model_dump(mode="python", exclude={"auth": {"secret"}})
    base = make_settings(tmp_path)  # the test password for every login
    data["users"] = [u.model_dump(mode="python") for u in base.users]
    data["directory"]["people"] += [p.model_dump(mode="python") for p in base.directory.people if p.id == "viewer"]
    data["cameras"] = [{**c, "enabled": False} for c in data["cameras"]]
    settings = type(demo).model_validate(data)
    async with hub_and_pages(settings, new_page) as (rh, new_page):
        page = await new_page(viewport={"width": 1600, "height": 900})
        await log_in_to_desk(page, rh.url)
        m = await MapPage(page).open()
        assert await m.ids(m.regions, "data-node") == {"harbour-st", "market-st"}
        cameras = {c["id"] for c in data["cameras"]}
        assert {"ferry-square", "school-gate"} <= cameras
        assert await m.ids(m.cameras, "data-camera") == cameras
        await m.drill("harbour-st")
        await m.drill("dock-community")
        await m.here.filter(has_text="Dock Community").wait_for()
        assert await m.ids(m.grids, "data-node") >= {"grid-d1", "grid-d2"}
        await inside(m, m.camera("ferry-square"), "grid-d1")
