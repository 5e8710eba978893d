"""The start page in Chromium: log in, and the camera tiles play live video over WHEP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.hub.conftest import make_settings, serve
from tests.web.conftest import open_wall

CAMERAS = [
    {"id": "cam-street", "name": "Street", "url": "synthetic://street", "grid": "g1", "analysis": {"enabled": False}},
    {"id": "cam-plaza", "name": "Plaza", "url": "synthetic://plaza", "grid": "g3", "analysis": {"enabled": False}},
]

FRAMES_JS = """async (id) => {
  const t = window.skyhubTiles && window.skyhubTiles.get(id);
  if (!t || !t.player) return 0;
  let n = 0;
  (await t.player.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") n += s.framesDecoded || 0;
  });
  return n;
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


async def test_tiles_decode_live_video(tmp_path: Path, browser: Any) -> None:
    # Consent runs out after 10 s here (30 s by default): the closed page's viewers go sooner.
    calls = {"consent_expiry_s": 10.0}
    settings = make_settings(tmp_path, cameras=CAMERAS, server={"ice_addresses": ["127.0.0.1"]}, calls=calls)
    async with serve(settings) as rh:
        page = await open_wall(browser, rh.url)
        for cam in ("cam-street", "cam-plaza"):
            first = await poll(lambda c=cam: page.evaluate(FRAMES_JS, c), lambda n: n > 0, 60, f"{cam} to decode")
            # Frames keep coming: it is live, not one picture.
            await poll(lambda c=cam: page.evaluate(FRAMES_JS, c), lambda n, f=first: n >= f + 10, 30, f"{cam} live")
        assert rh.hub.calls.sessions.count("whep") == 2
        await page.close()
        # The browser is gone without a DELETE: its viewers are released when their ICE consent runs
        # out (10 s without an answer, checked in rounds: at most 20 s), subscriptions too.
        await poll(
            lambda: asyncio.sleep(0, rh.hub.calls.sessions.count("whep")), lambda n: n == 0, 30, "viewers released"
        )
        for cam in ("cam-street", "cam-plaza"):
            assert rh.hub.cameras.get(cam).relay.subscribers == []


PLAYER_JS = """(id) => {
  const t = window.skyhubTiles && window.skyhubTiles.get(id);
  return t && t.player ? {location: t.player.location, state: t.player.pc.connectionState} : null;
}"""


async def test_tile_recovers_when_its_camera_restarts(tmp_path: Path, browser: Any) -> None:
    """The camera stops: the hub closes its viewers, the tile lets go; it comes back: the tile plays again."""
    settings = make_settings(tmp_path, cameras=CAMERAS[:1], server={"ice_addresses": ["127.0.0.1"]})
    async with serve(settings) as rh:
        sessions = rh.hub.calls.sessions
        page = await open_wall(browser, rh.url)
        await poll(lambda: page.evaluate(FRAMES_JS, "cam-street"), lambda n: n > 0, 60, "the tile to decode")
        first = await page.evaluate(PLAYER_JS, "cam-street")
        await rh.hub.cameras.stop_camera("cam-street")
        # The hub ends the viewer at once, and the page sees its connection end and drops the player.
        await poll(lambda: asyncio.sleep(0, sessions.count("whep")), lambda n: n == 0, 5, "the viewer closed")
        await poll(
            lambda: page.evaluate(PLAYER_JS, "cam-street"),
            lambda p: p is None or p["location"] != first["location"],
            10,
            "the tile to let go of the dead session",
        )
        await rh.hub.cameras.start_camera("cam-street")
        after = await poll(
            lambda: page.evaluate(PLAYER_JS, "cam-street"),
            lambda p: p is not None and p["location"] != first["location"] and p["state"] == "connected",
            60,
            "the tile to play the restarted camera",
        )
        await poll(lambda: page.evaluate(FRAMES_JS, "cam-street"), lambda n: n > 10, 60, "frames after the restart")
        # One viewer for one tile: the dead session does not linger beside the new one.
        assert sessions.count("whep") == 1
        assert sessions.get(after["location"].rsplit("/", 1)[1]) is not None
        await page.close()
