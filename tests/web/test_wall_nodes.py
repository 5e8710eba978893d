"""The wall across hub nodes, in Chromium: a page loaded from one node plays the cameras another ingests."""

from __future__ import annotations

import asyncio
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


TILE_JS = """(cam) => {
  const t = document.querySelector(`.wall-tile[data-camera="${cam}"]`);
  return t ? `${JSON.stringify({ ...t.dataset })} ${t.innerText.replace(/\\s+/g, " ")}` : "no tile";
}"""


async def seen(wall: Any, cam: str) -> tuple[int, str]:
    """The tile's decoded frames, and (for a failure's message) what it shows."""
    return await wall.frames(cam), str(await wall.page.evaluate(TILE_JS, cam))


async def test_a_node_killed_its_cameras_run_on_the_others_and_the_wall_follows_them(
    tmp_path: Path, new_page: Any, console: Any, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    import json

    import psycopg

    from hub.store.redislink import NODE_TTL_MS
    from tests.hub.conftest import write_config
    from tests.hub.test_lease_failures import NodeProcess
    from tests.hub.test_leases import online_here
    from tests.web.test_desk_wall import WallPage

    ttl_s = 10.0  # the default; the registry forgets a dead node after the same 10 s
    storage = {
        "url": pg_url,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "camera_lease_ttl_s": ttl_s,
        "camera_lease_renew_s": 1.0,
    }
    cameras = [
        {"id": f"cam{i:02d}", "url": "synthetic://street", "grid": "g1", "analysis": {"enabled": False}}
        for i in range(12)
    ]
    # Node B is a process of its own, to be killed; A and C run here.
    port_b = free_port()
    config_b = write_config(
        tmp_path / "b" / "hub.yaml",
        storage=storage,
        cameras=cameras,
        server={"public_url": f"http://127.0.0.1:{port_b}", "ice_addresses": ["127.0.0.1"]},
    )
    b = NodeProcess(config_b, tmp_path / "b" / "data", port_b)
    # The tiles playing from B find it gone (their DELETE, their next offers) until they learn
    # where each camera runs now.
    console.allow(rf"ERR_CONNECTION_REFUSED \(http://127\.0\.0\.1:{port_b}/whep/")
    b.start()
    try:
        await b.wait_ready()
        nodes = []
        for name in ("a", "c"):
            port = free_port()
            server = {"public_url": f"http://127.0.0.1:{port}", "ice_addresses": ["127.0.0.1"]}
            nodes.append((make_settings(tmp_path / name, storage=storage, cameras=cameras, server=server), port))
        (settings_a, port_a), (settings_c, port_c) = nodes
        async with serve(settings_a, port=port_a) as a, serve(settings_c, port=port_c) as c:

            def on_b() -> set[str]:
                mine = {a.hub.redis.node, c.hub.redis.node, None}
                return {cam for cam, owner in a.hub.leases.owners.items() if owner not in mine}

            await wait_until(
                lambda: len(online_here(a)) == 4 and len(online_here(c)) == 4 and len(on_b()) == 4,
                90,
                "the twelve cameras split four, four and four",
            )
            moved = sorted(on_b())
            page = await new_page(viewport={"width": 1600, "height": 1000})
            wall = await WallPage.open(page, a.url)
            await wall.press("6")  # sixteen tiles: all twelve cameras
            for cam in moved:  # played from B, by B's URL
                try:
                    await poll(lambda cam=cam: seen(wall, cam), lambda s: s[0] > 0, 60, f"{cam} (on B) to decode")
                except BaseException:  # pytest.fail's exception: what node B logged says why
                    print(f"node B's log:\n{b.log.read_text()[-4000:]}")
                    raise

            b.kill()
            killed_at = asyncio.get_running_loop().time()
            # B's cameras run on A and C within the TTL (and the registry forgetting B) + 5 s.
            everything = {cam["id"] for cam in cameras}
            await wait_until(
                lambda: online_here(a) | online_here(c) == everything and not online_here(a) & online_here(c),
                max(ttl_s, NODE_TTL_MS / 1000) + 5,
                "A and C to run all twelve",
            )
            took = asyncio.get_running_loop().time() - killed_at
            print(f"\nthe killed node's cameras ran on the other two after {took:.1f} s (lease TTL {ttl_s:.0f} s)")
            # The wall follows each moved camera to its new node: its tile plays again.
            for cam in moved:
                before = await wall.frames(cam)
                await poll(lambda cam=cam: wall.frames(cam), lambda n, f=before: n >= f + 10, 60, f"{cam} again")
            await page.close()
        # The log has no gap and no event twice.
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            rows = await (await conn.execute("SELECT id, type, subject, data FROM events ORDER BY id")).fetchall()
        ids = [r[0] for r in rows]
        assert ids == list(range(1, len(ids) + 1))
        started = [(r[2], json.loads(r[3]).get("epoch")) for r in rows if r[1] == "camera.online"]
        assert len(started) == len(set(started)), "a camera went online twice under one lease"
    finally:
        b.kill()
