"""The camera players in Chromium against a real hub: WHEP plays live video and DELETEs its session
when unmounted, snapshots refresh as blob URLs and let the old ones go, and a failing player
reports a typed error and is retried with a growing delay."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.hub.conftest import make_settings
from tests.web.conftest import ConsoleWatch, NewPage, hub_and_pages
from tests.web.pages import log_in_to_desk

CAMERAS = [
    {"id": "cam-street", "name": "Street", "url": "synthetic://street", "grid": "g1", "analysis": {"enabled": False}},
]

MOUNT_JS = """async ({ camera, props }) => {
  const { html, render } = await import("htm/preact");
  const { CameraPlayer } = await import("/web/components/player/camera-player.js");
  const { api } = await import("/web/api/client.js");
  const known = (await api("/api/cameras")).find((c) => c.id === camera);
  const cam = { ...(known ?? { id: camera, name: camera, state: "online", browser_playable: true }), ...props };
  let box = document.getElementById("player-test");
  if (!box) {
    box = document.createElement("div");
    box.id = "player-test";
    document.body.prepend(box);
  }
  render(html`<${CameraPlayer} camera=${cam} />`, box);
}"""

UNMOUNT_JS = """async () => {
  const { render } = await import("htm/preact");
  render(null, document.getElementById("player-test"));
}"""

FRAMES_JS = """() => {
  const v = document.querySelector("#player-test video");
  return v ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
}"""


async def poll(fn: Any, ok: Any, timeout_s: float, what: str) -> Any:
    t0 = time.monotonic()
    while True:
        value = await fn()
        if ok(value):
            return value
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {value!r})")
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("remote", [False, True])
async def test_whep_plays_and_deletes_its_session(tmp_path: Path, new_page: NewPage, remote: bool) -> None:
    settings = make_settings(tmp_path, cameras=CAMERAS, server={"ice_addresses": ["127.0.0.1"]})
    async with hub_and_pages(settings, new_page) as (rh, new_page):
        page = await new_page()
        # Opened away from the wall, whose tiles would play the camera too: only the player under
        # test offers. (Leaving the wall instead races its tiles: one can still be offering.)
        await log_in_to_desk(page, rh.url, view="#/incidents")
        assert await page.locator(".wall-body").count() == 0
        assert rh.hub.calls.sessions.count("whep") == 0
        offers: list[str] = []
        page.on("request", lambda r: offers.append(r.url) if r.method == "POST" and "/whep/" in r.url else None)
        # A camera another node ingests is played from its owner_url (here: this node, by its URL).
        props = {"state": "remote", "owner_url": rh.url, "browser_playable": None} if remote else {}
        await page.evaluate(MOUNT_JS, {"camera": "cam-street", "props": props})
        assert await page.get_attribute("#player-test .camera-player", "data-mode") == "whep"
        first = await poll(lambda: page.evaluate(FRAMES_JS), lambda n: n > 0, 60, "the first frame")
        await poll(lambda: page.evaluate(FRAMES_JS), lambda n: n >= first + 10, 30, "more frames")
        assert offers == [rh.url + "/whep/cam-street"]
        assert await page.get_attribute("#player-test video", "aria-label") == "Camera Street"
        sessions = rh.hub.calls.sessions
        assert sessions.count("whep") == 1
        await page.evaluate(UNMOUNT_JS)
        # Unmounting DELETEs the session at once (not after the hub's silence timeout).
        await poll(lambda: asyncio.sleep(0, sessions.count("whep")), lambda n: n == 0, 2, "the session deleted")


async def test_snapshots_refresh_and_let_old_pictures_go(
    tmp_path: Path, new_page: NewPage, console: ConsoleWatch
) -> None:
    console.allow(r"ERR_FILE_NOT_FOUND \(blob:")  # this test's own look at the revoked pictures
    settings = make_settings(tmp_path, cameras=CAMERAS)
    async with hub_and_pages(settings, new_page) as (rh, new_page):
        page = await new_page()
        await log_in_to_desk(page, rh.url)
        # As for an H.265 or MJPEG camera: browsers cannot play it, so pictures instead.
        await page.evaluate(MOUNT_JS, {"camera": "cam-street", "props": {"browser_playable": False}})
        assert await page.get_attribute("#player-test .camera-player", "data-mode") == "snapshot"

        async def src() -> str:
            return str(await page.get_attribute("#player-test img", "src") or "")

        first = await poll(src, lambda s: s.startswith("blob:"), 30, "the first picture")
        assert await page.evaluate("() => document.querySelector('#player-test img').naturalWidth") > 0
        second = await poll(src, lambda s: s.startswith("blob:") and s != first, 10, "a newer picture")
        await poll(src, lambda s: s not in ("", first, second), 10, "a third picture")
        # The pictures shown before are revoked: their blob URLs no longer load.
        gone = "(u) => fetch(u).then(() => false, () => true)"
        assert await page.evaluate(gone, first)
        assert await page.evaluate(gone, second)
        await page.evaluate(UNMOUNT_JS)


async def test_a_failing_player_reports_and_retries_with_backoff(
    tmp_path: Path, new_page: NewPage, console: ConsoleWatch
) -> None:
    console.allow(r"status of 404")  # the camera that does not exist, each try
    settings = make_settings(tmp_path, cameras=CAMERAS)
    async with hub_and_pages(settings, new_page) as (rh, new_page):
        page = await new_page()
        await log_in_to_desk(page, rh.url)
        # The WHEP player alone: one typed error through its callback.
        error = await page.evaluate(
            """async () => {
          const { html, render } = await import("htm/preact");
          const { WhepPlayer } = await import("/web/components/player/whep-player.js");
          const box = document.createElement("div");
          document.body.append(box);
          const e = await new Promise((resolve) =>
            render(html`<${WhepPlayer} camera="no-such" label="x" onError=${resolve} />`, box));
          render(null, box);
          return e;
        }"""
        )
        assert error["kind"] == "startup" and error["status"] == 404
        # Inside CameraPlayer: each failure waits longer before the next try (1 s, 2 s, 4 s…).
        offers: list[float] = []
        page.on("request", lambda r: offers.append(time.monotonic()) if "/whep/no-such" in r.url else None)
        await page.evaluate(MOUNT_JS, {"camera": "no-such", "props": {"name": "Nowhere"}})
        await page.locator("#player-test .player-status").filter(has_text="Reconnecting…").wait_for()
        await poll(lambda: asyncio.sleep(0, len(offers)), lambda n: n >= 4, 20, "four tries")
        gaps = [b - a for a, b in zip(offers, offers[1:], strict=False)]
        assert gaps[1] > gaps[0] * 1.5 and gaps[2] > gaps[1] * 1.5, gaps
        assert await page.get_attribute("#player-test .camera-player", "data-error") == "startup"
        await page.evaluate(UNMOUNT_JS)


MOUNT_BOTH_JS = """async ({ camera }) => {
  const { html, render } = await import("htm/preact");
  const { CameraPlayer } = await import("/web/components/player/camera-player.js");
  const { api } = await import("/web/api/client.js");
  const cam = (await api("/api/cameras")).find((c) => c.id === camera);
  const box = document.createElement("div");
  box.id = "player-test";
  document.body.prepend(box);
  render(html`<div class="live"><${CameraPlayer} camera=${cam} /></div>
    <div class="still"><${CameraPlayer} camera=${cam} still=${true} stillIntervalS=${1} stillWidth=${160} /></div>`,
    box);
}"""


async def test_live_video_goes_first_and_pictures_still_come(tmp_path: Path, new_page: NewPage) -> None:
    settings = make_settings(tmp_path, cameras=CAMERAS, server={"ice_addresses": ["127.0.0.1"]})
    async with hub_and_pages(settings, new_page) as (rh, new_page):
        page = await new_page()
        await log_in_to_desk(page, rh.url, view="#/incidents")  # no wall tile offering too
        assert rh.hub.calls.sessions.count("whep") == 0
        # The hub is slow to answer the offer (held here until released).
        held: list[Any] = []
        await page.route("**/whep/cam-street", lambda route: held.append(route))
        sent: list[str] = []

        def note(r: Any) -> None:
            if "/whep/" in r.url and r.method == "POST":
                sent.append("offer")
            elif "/snapshot.jpg" in r.url:
                sent.append("picture")

        page.on("request", note)
        await page.evaluate(MOUNT_BOTH_JS, {"camera": "cam-street"})
        live = page.locator("#player-test .live .camera-player")
        still = page.locator("#player-test .still .camera-player")
        assert await live.get_attribute("data-mode") == "whep"
        # A still player shows pictures of a camera the browser could play live.
        assert await still.get_attribute("data-mode") == "snapshot"
        # The picture waits for the live player to start, not for ever: it shows while the offer hangs.
        await still.locator("img").wait_for(timeout=10_000)
        assert sent[:2] == ["offer", "picture"], sent
        assert len(held) == 1
        await held[0].continue_()
        await poll(lambda: page.evaluate(FRAMES_JS), lambda n: n > 0, 60, "the live player's first frame")
        first = await still.locator("img").get_attribute("src")
        await poll(lambda: still.locator("img").get_attribute("src"), lambda s: s != first, 10, "a newer picture")
        await page.unroute("**/whep/cam-street")
        await page.evaluate(UNMOUNT_JS)


async def test_an_offer_the_hub_never_answers_is_given_up_and_tried_again(tmp_path: Path, new_page: NewPage) -> None:
    settings = make_settings(tmp_path, cameras=CAMERAS, server={"ice_addresses": ["127.0.0.1"]})
    async with hub_and_pages(settings, new_page) as (rh, new_page):
        page = await new_page()
        await log_in_to_desk(page, rh.url, view="#/incidents")  # no wall tile offering too
        # The first offer gets no answer at all (a hub node stuck, a connection lost on the way);
        # the ones after it go through.
        held: list[Any] = []

        async def first_held(route: Any) -> None:
            if route.request.method == "POST" and not held:
                held.append(route)
            else:
                await route.continue_()

        await page.route("**/whep/cam-street", first_held)
        offers: list[float] = []
        is_offer = lambda r: r.method == "POST" and "/whep/" in r.url  # noqa: E731
        page.on("request", lambda r: offers.append(time.monotonic()) if is_offer(r) else None)
        await page.evaluate(MOUNT_JS, {"camera": "cam-street", "props": {}})
        player = page.locator("#player-test .camera-player")
        # Not a black tile for ever: the player gives up after its startup time (15 s) and says so.
        await poll(lambda: player.get_attribute("data-error"), lambda e: e == "startup", 25, "the startup error")
        assert await page.locator("#player-test .player-status").filter(has_text="Reconnecting…").count() == 1
        await poll(lambda: page.evaluate(FRAMES_JS), lambda n: n > 0, 60, "the next try's first frame")
        assert len(held) == 1 and len(offers) == 2, offers
        assert 14 < offers[1] - offers[0] < 25, offers
        assert await player.get_attribute("data-error") is None
        await page.unroute("**/whep/cam-street")
        await page.evaluate(UNMOUNT_JS)
