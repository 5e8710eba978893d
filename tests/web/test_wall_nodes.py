"""The wall across hub nodes, in Chromium: a page loaded from one node plays the cameras another ingests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import free_port, wait_until
from tests.hub.conftest import make_settings, serve
from tests.web.conftest import open_wall
from tests.web.test_wall import FRAMES_JS, poll

CAMERAS = [
    {"id": f"cam{i}", "url": "synthetic://street", "grid": "g1", "analysis": {"enabled": False}} for i in range(2)
]


async def test_the_wall_of_one_node_plays_a_camera_another_node_ingests(
    tmp_path: Path, browser: Any, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    storage = {
        "url": pg_url,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "camera_lease_ttl_s": 3.0,
        "camera_lease_renew_s": 0.5,
    }
    nodes = []
    for name in ("a", "b"):
        port = free_port()
        server = {"public_url": f"http://127.0.0.1:{port}", "ice_addresses": ["127.0.0.1"]}
        nodes.append((make_settings(tmp_path / name, storage=storage, cameras=CAMERAS, server=server), port))
    (settings_a, port_a), (settings_b, port_b) = nodes
    async with serve(settings_a, port=port_a) as a, serve(settings_b, port=port_b) as b:
        await wait_until(
            lambda: len(a.hub.cameras.running()) == 1 and len(b.hub.cameras.running()) == 1,
            40,
            "each node to ingest one camera",
        )
        (cam_b,) = b.hub.cameras.running()
        page = await open_wall(browser, a.url)
        first = await poll(lambda: page.evaluate(FRAMES_JS, cam_b), lambda n: n > 0, 60, f"{cam_b} (on B) to decode")
        await poll(lambda: page.evaluate(FRAMES_JS, cam_b), lambda n: n >= first + 10, 30, f"{cam_b} live")
        # The viewer is node B's, and the page will hang up there.
        assert b.hub.calls.sessions.count("whep") == 1
        location = await page.evaluate("(id) => window.skyhubTiles.get(id).player.location", cam_b)
        assert location.startswith(b.url + "/whep/" + cam_b + "/")
        session_id = location.rsplit("/", 1)[1]
        assert b.hub.calls.sessions.get(session_id) is not None
        await page.evaluate("(id) => window.skyhubTiles.get(id).player.stop()", cam_b)
        await wait_until(lambda: b.hub.calls.sessions.get(session_id) is None, 10, "the DELETE to reach node B")
        await page.close()
