"""Camera leases across hub nodes: each camera runs on exactly one live node, and moves when one stops."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiortc import RTCPeerConnection

from hub.calls.ice import pin_host_addresses
from hub.config import Settings
from tests.conftest import free_port, wait_until
from tests.hub.conftest import RunningHub, make_settings, serve

CAMERA_IDS = [f"cam{i}" for i in range(4)]
CAMERAS = [
    {"id": c, "url": "synthetic://street", "grid": "g1", "analysis": {"fps": 2, "width": 160, "height": 90}}
    for c in CAMERA_IDS
]


def node_settings(tmp: Path, storage: dict[str, Any], cameras: list[dict[str, Any]] = CAMERAS) -> tuple[Settings, int]:
    """A node's settings on a port chosen now, so the URL it publishes is the one it serves on."""
    port = free_port()
    server = {"public_url": f"http://127.0.0.1:{port}", "ice_addresses": ["127.0.0.1"]}
    return make_settings(tmp, storage=storage, cameras=cameras, server=server), port


def online_here(rh: RunningHub) -> set[str]:
    return {h["id"] for h in rh.hub.cameras.health_all() if h["state"] == "online"}


async def states(c: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    r = await c.get("/api/cameras")
    assert r.status_code == 200, r.text
    return {h["id"]: h for h in r.json()}


async def whep_offer() -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    offer = await pc.createOffer()
    pin_host_addresses(pc, ["127.0.0.1"])
    await pc.setLocalDescription(offer)
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


@pytest.fixture
def storage(pg_url: str, redis_url: str, redis_prefix: str) -> dict[str, Any]:
    # Short rounds keep the test quick; the rules are the same at the defaults (10 s, 3 s).
    return {
        "url": pg_url,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "camera_lease_ttl_s": 3.0,
        "camera_lease_renew_s": 0.5,
    }


async def test_two_nodes_share_the_cameras_and_one_takes_all_when_the_other_stops(
    tmp_path: Path, storage: dict[str, Any]
) -> None:
    settings_a, port_a = node_settings(tmp_path / "a", storage)
    settings_b, port_b = node_settings(tmp_path / "b", storage)
    async with serve(settings_a, port=port_a) as a:
        async with serve(settings_b, port=port_b) as b:
            # Every camera online on exactly one node, and the newcomer got its fair share.
            await wait_until(
                lambda: (
                    len(online_here(a)) == 2
                    and len(online_here(b)) == 2
                    and online_here(a) | online_here(b) == set(CAMERA_IDS)
                ),
                40,
                "the four cameras split two and two",
            )
            on_a, on_b = online_here(a), online_here(b)
            assert not on_a & on_b
            assert sorted(a.hub.analysis.running()) == sorted(on_a)
            assert sorted(b.hub.analysis.running()) == sorted(on_b)
            node_a, node_b = a.hub.redis.node, b.hub.redis.node
            expected = {cam: ("remote", node_b) for cam in on_b} | {cam: ("online", node_a) for cam in on_a}
            async with await a.client("dispatcher") as ca:
                # Not "offline": the dispatcher learns where each camera runs, at the latest a few
                # lease rounds (0.5 s here) after the node that took it has it online.
                deadline = asyncio.get_running_loop().time() + 5
                while True:
                    seen = {cam: (h["state"], h["owner"]) for cam, h in (await states(ca)).items()}
                    if seen == expected or asyncio.get_running_loop().time() > deadline:
                        break
                    await asyncio.sleep(0.1)
                assert seen == expected

            # Watching a camera B ingests, asked of A: 307 to B, where the same offer is answered.
            cam_b = sorted(on_b)[0]
            offer = await whep_offer()
            headers = {"Content-Type": "application/sdp"}
            async with await a.client("dispatcher") as ca:
                r = await ca.post(f"/whep/{cam_b}", content=offer, headers=headers)
                assert r.status_code == 307, r.text
                assert r.headers["location"] == f"{b.url}/whep/{cam_b}"
                assert node_b in r.json()["detail"]
                snap = await ca.get(f"/api/cameras/{cam_b}/snapshot.jpg")
                assert (
                    snap.status_code == 307 and snap.headers["location"] == f"{b.url}/api/cameras/{cam_b}/snapshot.jpg"
                )
                token = ca.headers["authorization"]
            async with httpx.AsyncClient(headers={"Authorization": token}, timeout=30) as c:
                r = await c.post(r.headers["location"], content=offer, headers=headers)
                assert r.status_code == 201, r.text
                assert r.headers["content-type"].startswith("application/sdp")
                session = r.headers["location"]
                assert (await c.delete(f"{b.url}{session}")).status_code == 204

        # B stopped: A runs all four, analysis included.
        await wait_until(lambda: online_here(a) == set(CAMERA_IDS), 20, "node A to run every camera")
        assert sorted(a.hub.analysis.running()) == CAMERA_IDS
        async with await a.client("dispatcher") as ca:
            assert {h["state"] for h in (await states(ca)).values()} == {"online"}


async def test_a_camera_nobody_holds_answers_503_and_a_taken_lease_stops_the_camera_here(
    tmp_path: Path, storage: dict[str, Any], redis_url: str, redis_prefix: str
) -> None:
    import redis.asyncio as aioredis

    settings_a, port_a = node_settings(tmp_path / "a", storage)
    client = aioredis.from_url(redis_url)
    try:
        # Another node (that never shows up in the registry) holds cam0 for a long time.
        await client.set(f"{redis_prefix}:camera:cam0", "ghost", px=60_000)
        async with serve(settings_a, port=port_a) as a:
            await wait_until(lambda: online_here(a) == {"cam1", "cam2", "cam3"}, 30, "the three free cameras")
            async with await a.client("dispatcher") as ca:
                r = await ca.post("/whep/cam0", content=await whep_offer(), headers={"Content-Type": "application/sdp"})
                assert r.status_code == 503 and "ghost" in r.json()["detail"]
                assert (await states(ca))["cam0"]["state"] == "remote"
            # The ghost lets go: A takes cam0. Then someone else takes cam1's lease: A stops cam1.
            await client.delete(f"{redis_prefix}:camera:cam0")
            await wait_until(lambda: "cam0" in online_here(a), 20, "cam0 taken once free")
            await client.set(f"{redis_prefix}:camera:cam1", "ghost", px=60_000)
            await wait_until(lambda: a.hub.cameras.get("cam1") is None, 10, "cam1 stopped on A")
            assert "cam1" not in a.hub.analysis.running()
            assert a.hub.leases.stats.lost == 1
        # A handed back what it held when it stopped, and nothing it did not hold.
        assert await client.get(f"{redis_prefix}:camera:cam0") is None
        assert await client.get(f"{redis_prefix}:camera:cam1") == b"ghost"
    finally:
        await client.aclose()


class CuttableProxy:
    """A TCP relay to Redis on loopback that can be cut (Redis unreachable) and restored."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.cut = False
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._conns |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._conns -= {writer, up_writer}

    def sever(self) -> None:
        """Drop every connection and refuse new ones."""
        self.cut = True
        for w in list(self._conns):
            w.transport.abort()

    async def aclose(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def test_while_redis_cannot_answer_a_node_keeps_its_cameras_and_takes_them_back_after(
    tmp_path: Path, storage: dict[str, Any], redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    import redis.asyncio as aioredis

    proxy = CuttableProxy(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    await proxy.start()
    through_proxy = f"redis://:not-a-real-secret@127.0.0.1:{proxy.port}/0"
    storage = {**storage, "redis_url": through_proxy, "camera_lease_ttl_s": 1.5}
    settings_a, port_a = node_settings(tmp_path / "a", storage)
    direct = aioredis.from_url(redis_url)
    caplog.set_level(logging.INFO, logger="hub.leases")
    try:
        async with serve(settings_a, port=port_a) as a:
            await wait_until(lambda: online_here(a) == set(CAMERA_IDS), 30, "every camera on the only node")
            proxy.sever()
            await wait_until(lambda: not a.hub.leases.available, 10, "the node to notice Redis is gone")
            # Its leases run out in Redis meanwhile; the cameras keep running here all the same.
            for _ in range(100):
                if not await direct.exists(*(f"{redis_prefix}:camera:{c}" for c in CAMERA_IDS)):
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the leases never expired")
            assert online_here(a) == set(CAMERA_IDS)
            proxy.cut = False
            await wait_until(lambda: a.hub.leases.available, 10, "the node to reach Redis again")
            owners = await direct.mget([f"{redis_prefix}:camera:{c}" for c in CAMERA_IDS])
            assert owners == [a.hub.redis.node.encode()] * 4  # re-taken, not restarted
            assert a.hub.leases.stats.lost == 0 and online_here(a) == set(CAMERA_IDS)
        gone = [r for r in caplog.records if "cannot answer" in r.getMessage()]
        assert len(gone) == 1  # logged once, not every round
        assert "not-a-real-secret" not in caplog.text and "redis://:***@127.0.0.1" in caplog.text
    finally:
        await direct.aclose()
        await proxy.aclose()


async def test_whep_answers_cors_to_the_other_nodes_pages_only(tmp_path: Path, storage: dict[str, Any]) -> None:
    cameras = [{"id": "cam0", "url": "synthetic://street", "grid": "g1", "analysis": {"enabled": False}}]
    settings_a, port_a = node_settings(tmp_path / "a", storage, cameras)
    settings_b, port_b = node_settings(tmp_path / "b", storage, cameras)
    async with serve(settings_a, port=port_a) as a, serve(settings_b, port=port_b) as b:
        await wait_until(lambda: b.url in a.hub.leases.node_urls.values(), 20, "node A to see node B")
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        async with httpx.AsyncClient(base_url=a.url, timeout=30) as c:
            # A page served by node B may send its offer (and later its DELETE) to node A; no token needed.
            for path in ("/whep/cam0", "/whep/cam0/some-session"):
                r = await c.options(path, headers={"Origin": b.url, **preflight})
                assert r.status_code == 204, r.text
                assert r.headers["access-control-allow-origin"] == b.url
                assert {"POST", "DELETE"} <= {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
                allow_headers = r.headers["access-control-allow-headers"].lower()
                assert "authorization" in allow_headers and "content-type" in allow_headers
            # The offer itself still needs a token; the refusal is readable by B's page all the same.
            r = await c.post("/whep/cam0", content="v=0", headers={"Origin": b.url, "Content-Type": "application/sdp"})
            assert r.status_code == 401
            assert r.headers["access-control-allow-origin"] == b.url
            assert "location" in r.headers["access-control-expose-headers"].lower()
            # Any other page gets no CORS at all: the browser keeps the answer from it.
            for origin in ("http://evil.example", f"http://127.0.0.1:{free_port()}"):
                r = await c.options("/whep/cam0", headers={"Origin": origin, **preflight})
                assert not [h for h in r.headers if h.startswith("access-control-")], r.headers
                r = await c.post("/whep/cam0", content="v=0", headers={"Origin": origin})
                assert r.status_code == 401 and "access-control-allow-origin" not in r.headers
        # The camera list tells where a camera ingested elsewhere can be watched.
        await wait_until(lambda: len(a.hub.cameras.running() + b.hub.cameras.running()) == 1, 30, "cam0 ingested")
        here, there = (a, b) if a.hub.cameras.running() else (b, a)
        async with await there.client("dispatcher") as c:
            await wait_until_async(lambda: _owner_url(c, "cam0"), here.url, 10)
            one = (await c.get("/api/cameras/cam0")).json()
            assert (one["state"], one["owner_url"]) == ("remote", here.url)
        async with await here.client("dispatcher") as c:
            assert (await c.get("/api/cameras/cam0")).json()["owner_url"] is None


async def _owner_url(c: httpx.AsyncClient, camera_id: str) -> Any:
    return (await states(c))[camera_id].get("owner_url")


async def wait_until_async(fn: Any, expected: Any, timeout_s: float) -> None:
    """Poll an async ``fn`` until it returns ``expected``."""
    value = None
    for _ in range(int(timeout_s * 10)):
        value = await fn()
        if value == expected:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"expected {expected!r}, last {value!r}")
