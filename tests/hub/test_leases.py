"""Camera leases across hub nodes: each camera runs on exactly one live node, and moves when one stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiortc import RTCPeerConnection

from hub.calls.ice import pin_host_addresses
from hub.config import Settings
from hub.store.bus import EventBus
from hub.store.eventlog import EventLog
from hub.store.leases import CameraLeases, Fenced
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


async def lease_rows(pg_url: str) -> dict[str, tuple[str | None, int, bool]]:
    """Each camera's lease as the store has it: (node, epoch, live by the database's clock)."""
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT camera, node, epoch, expires_at > extract(epoch from clock_timestamp()) FROM camera_leases"
        )
        return {str(c): (n, int(e), bool(live)) for c, n, e, live in await cur.fetchall()}


async def grant(pg_url: str, camera: str, node: str | None, ttl_s: float = 60.0) -> None:
    """Another node (``node``; None: handed back) is granted ``camera``'s lease, under a new epoch."""
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO camera_leases AS l (camera, node, epoch, expires_at)"
            " VALUES (%(c)s, %(n)s, 1, extract(epoch from clock_timestamp()) + %(t)s)"
            " ON CONFLICT (camera) DO UPDATE SET node = excluded.node, epoch = l.epoch + 1,"
            " expires_at = excluded.expires_at",
            {"c": camera, "n": node, "t": ttl_s if node is not None else -1.0},
        )


async def migrated(pg_url: str) -> None:
    """The store's tables made, as a node's first start makes them."""
    log = EventLog(pg_url, EventBus())
    await log.open()
    await log.aclose()


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
        # (A camera's analysis starts just after its ingest is online, once its stale alerts are ended.)
        await wait_until(
            lambda: online_here(a) == set(CAMERA_IDS) and sorted(a.hub.analysis.running()) == CAMERA_IDS,
            20,
            "node A to run and analyse every camera",
        )
        async with await a.client("dispatcher") as ca:
            assert {h["state"] for h in (await states(ca)).values()} == {"online"}


async def test_a_camera_nobody_holds_answers_503_and_a_taken_lease_stops_the_camera_here(
    tmp_path: Path, storage: dict[str, Any], pg_url: str
) -> None:
    settings_a, port_a = node_settings(tmp_path / "a", storage)
    await migrated(pg_url)
    # Another node (that never shows up in the registry) holds cam0 for a long time.
    await grant(pg_url, "cam0", "ghost")
    async with serve(settings_a, port=port_a) as a:
        await wait_until(lambda: online_here(a) == {"cam1", "cam2", "cam3"}, 30, "the three free cameras")
        async with await a.client("dispatcher") as ca:
            r = await ca.post("/whep/cam0", content=await whep_offer(), headers={"Content-Type": "application/sdp"})
            assert r.status_code == 503 and "ghost" in r.json()["detail"]
            assert (await states(ca))["cam0"]["state"] == "remote"
        # The ghost lets go: A takes cam0. Then someone else is granted cam1: A stops cam1.
        await grant(pg_url, "cam0", None)
        await wait_until(lambda: "cam0" in online_here(a), 20, "cam0 taken once free")
        await grant(pg_url, "cam1", "ghost")
        await wait_until(lambda: a.hub.cameras.get("cam1") is None, 10, "cam1 stopped on A")
        assert "cam1" not in a.hub.analysis.running()
        assert a.hub.leases.stats.lost == 1
        node_a = a.hub.redis.node
        # What A says about cam1 from now on is refused by the store: its epoch is stale.
        before = a.hub.leases.stats.fenced
        await a.hub._camera_event("camera.online", "cam1", {"reason": "a stale word"})
        assert a.hub.leases.stats.fenced == before + 1
        rows = await lease_rows(pg_url)
    # A handed back what it held when it stopped, and nothing it did not hold.
    after = await lease_rows(pg_url)
    assert after["cam0"][0] is None and after["cam1"] == rows["cam1"]
    assert rows["cam1"][0] == "ghost" and rows["cam0"][0] == node_a
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT data FROM events WHERE subject = 'cam1' AND data LIKE '%%stale word%%'")
        assert await cur.fetchall() == []


async def test_the_store_refuses_a_camera_event_from_a_stale_epoch(pg_url: str) -> None:
    await migrated(pg_url)
    rec = Recorder()
    log = EventLog(pg_url, EventBus())
    await log.open()
    try:
        async with asyncio.TaskGroup() as tg:
            log.start(tg)
            async with leases_of(
                pg_url, ["cam0"], registry_of(["n1"]), rec, ttl_s=3, renew_s=0.5, margin_s=0.9
            ) as leases:
                await wait_until(lambda: len(rec.started) == 1, 10, "cam0 taken")
                epoch = leases.epochs["cam0"]
                ev = await log.append("camera.online", "cam0", data={"reason": "up"}, op=leases.fence("cam0"))
                assert ev.data["epoch"] == epoch
                fence = leases.fence("cam0")  # made before the lease passed on, as a paused node's would be
                await grant(pg_url, "cam0", "n2")
                with pytest.raises(Fenced, match="stale"):
                    await log.append("camera.offline", "cam0", data={"reason": "late"}, op=fence)
                await wait_until(lambda: rec.stopped == ["cam0"], 5, "cam0 stopped here")
                assert leases.stats.lost == 1
                # A camera the leases do not manage is not fenced.
                assert leases.fence("elsewhere") is None
            await log.aclose()
    finally:
        await log.aclose()
    assert (await lease_rows(pg_url))["cam0"][:2] == ("n2", epoch + 1)


class CuttableProxy:
    """A TCP relay on loopback (to Redis or PostgreSQL) that can be cut (unreachable) and restored."""

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


async def test_a_node_cut_off_from_the_store_stops_its_cameras_before_another_takes_them_and_takes_its_share_back(
    tmp_path: Path, storage: dict[str, Any], pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    proxy = CuttableProxy(5432)
    await proxy.start()
    # Only node A reaches the store through the proxy; node B and the test reach it directly.
    through_proxy = pg_url.replace("@127.0.0.1:5432/", f":not-a-real-secret@127.0.0.1:{proxy.port}/")
    # TTL 3 s, margin 1 s: a camera not renewed for 2 s stops on A, a second before its lease can pass on.
    settings_a, port_a = node_settings(tmp_path / "a", {**storage, "url": through_proxy, "camera_lease_margin_s": 1.0})
    settings_b, port_b = node_settings(tmp_path / "b", {**storage, "camera_lease_margin_s": 1.0})
    caplog.set_level(logging.INFO, logger="hub.store.leases")
    try:
        async with serve(settings_a, port=port_a) as a, serve(settings_b, port=port_b) as b:

            def split() -> bool:
                return len(online_here(a)) == 2 and len(online_here(b)) == 2

            await wait_until(split, 40, "the four cameras split two and two")
            node_a = a.hub.redis.node
            proxy.sever()
            cut_at = asyncio.get_running_loop().time()
            # Sampled every 100 ms: never one camera on both nodes, and A runs a camera only while
            # the store's lease on it is A's and live by the database's clock.
            both: list[str] = []
            stale: list[str] = []
            while online_here(b) != set(CAMERA_IDS):
                running_a = online_here(a)
                both += sorted(running_a & online_here(b))
                rows = await lease_rows(pg_url)
                stale += sorted(c for c in running_a if not (rows[c][0] == node_a and rows[c][2]))
                if asyncio.get_running_loop().time() - cut_at > 3.0 + 5:
                    pytest.fail(f"B runs {sorted(online_here(b))} {3.0 + 5:.0f} s after A was cut off")
                await asyncio.sleep(0.1)
            took = asyncio.get_running_loop().time() - cut_at
            print(f"\nB ran A's cameras {took:.1f} s after A was cut off from the store (lease TTL 3 s)")
            assert both == [] and stale == []
            assert online_here(a) == set() and a.hub.leases.stats.expired == 2 and not a.hub.leases.available
            proxy.cut = False
            # A answers again: it counts towards the share again, B hands cameras back, A takes them.
            await wait_until(split, 40, "A to take its share back")
            assert a.hub.leases.available and a.hub.leases.stats.lost == 0
        gone = [r for r in caplog.records if "cannot answer" in r.getMessage()]
        assert len(gone) == 1  # logged once, not every round
        assert "not-a-real-secret" not in caplog.text
    finally:
        await proxy.aclose()


async def test_while_redis_cannot_answer_no_camera_moves(
    tmp_path: Path, storage: dict[str, Any], redis_url: str, pg_url: str
) -> None:
    proxy = CuttableProxy(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    await proxy.start()
    storage = {**storage, "redis_url": f"redis://127.0.0.1:{proxy.port}/0", "camera_lease_margin_s": 1.0}
    settings_a, port_a = node_settings(tmp_path / "a", storage)
    try:
        async with serve(settings_a, port=port_a) as a:
            await wait_until(lambda: online_here(a) == set(CAMERA_IDS), 30, "every camera on the only node")
            epochs = dict(a.hub.leases.epochs)
            proxy.sever()
            # Three lease TTLs without Redis: renewals go on in the store, nothing stops or moves.
            for _ in range(90):
                assert online_here(a) == set(CAMERA_IDS)
                await asyncio.sleep(0.1)
            stats = a.hub.leases.stats
            assert (stats.expired, stats.lost, stats.released) == (0, 0, 0)
            assert a.hub.leases.epochs == epochs and a.hub.leases.available
            assert {c: e for c, (_n, e, _ok) in (await lease_rows(pg_url)).items()} == epochs
            proxy.cut = False
    finally:
        await proxy.aclose()


class Recorder:
    """The cameras a :class:`CameraLeases` starts and stops, with the loop time of each start."""

    def __init__(self, start_s: float = 0.0) -> None:
        self.start_s = start_s
        self.started: list[tuple[float, str]] = []
        self.stopped: list[str] = []
        self.rounds: list[int] = []
        """The round (counted by the registry reads) each start happened in."""
        self.round_now: Any = lambda: 0

    async def start(self, camera_id: str) -> None:
        self.rounds.append(self.round_now())
        await asyncio.sleep(self.start_s)
        self.started.append((asyncio.get_running_loop().time(), camera_id))

    async def stop(self, camera_id: str) -> None:
        self.stopped.append(camera_id)


def registry_of(names: list[str]) -> Any:
    """A node registry (the input :class:`CameraLeases` reads) the test changes at will."""
    entries = [{"node": n, "ingests": True} for n in names]
    reads = [0]

    async def nodes() -> list[dict[str, object]]:
        reads[0] += 1  # once per round, first thing
        return list(entries)

    nodes.entries = entries  # type: ignore[attr-defined]
    nodes.reads = reads  # type: ignore[attr-defined]
    return nodes


def rounds_of(rounds: list[int]) -> list[int]:
    """How many starts each round that started any made, in order."""
    sizes: dict[int, int] = {}
    for r in rounds:
        sizes[r] = sizes.get(r, 0) + 1
    return [sizes[r] for r in sorted(sizes)]


@asynccontextmanager
async def leases_of(
    pg_url: str, cameras: list[str], nodes: Any, rec: Recorder, **kw: Any
) -> AsyncIterator[CameraLeases]:
    await migrated(pg_url)
    rec.round_now = lambda: nodes.reads[0]
    leases = CameraLeases(pg_url, "n1", cameras, nodes, rec.start, rec.stop, lambda _o: None, **kw)
    leases.start()
    try:
        yield leases
    finally:
        await leases.stop()
        await leases.release()
        await leases.aclose()


async def test_a_node_alone_takes_at_most_the_cap_of_free_cameras_per_round(pg_url: str) -> None:
    cameras = [f"cam{i}" for i in range(10)]
    rec = Recorder()
    async with leases_of(
        pg_url, cameras, registry_of(["n1"]), rec, ttl_s=3, renew_s=0.4, margin_s=0.9, max_takes=4
    ) as leases:
        await wait_until(lambda: len(rec.started) == 10, 10, "all ten cameras taken")
        assert rounds_of(rec.rounds) == [4, 4, 2]
        assert leases.stats.acquired == 10 and leases.stats.held_off == 0


@pytest.mark.parametrize(
    ("before", "sudden"),
    [(["n1", "n2", "n3", "n4"], True), (["n1", "n2"], False)],
    ids=["4-to-1-holds-off", "2-to-1-takes-at-once"],
)
async def test_a_registry_that_shrinks_suddenly_holds_off_takes_for_one_node_ttl(
    pg_url: str, before: list[str], sudden: bool
) -> None:
    cameras = [f"cam{i}" for i in range(8)]
    share = len(cameras) // len(before)
    nodes = registry_of(before)
    rec = Recorder()
    settle_s, renew_s = 2.0, 0.3
    async with leases_of(
        pg_url, cameras, nodes, rec, ttl_s=3, renew_s=renew_s, margin_s=0.9, settle_s=settle_s
    ) as leases:
        await wait_until(lambda: len(rec.started) == share, 10, "the fair share taken")
        seen = nodes.reads[0]
        await wait_until(lambda: nodes.reads[0] >= seen + 3, 10, "three more rounds")
        assert len(rec.started) == share  # no more than the share while the others live
        nodes.entries[:] = [e for e in nodes.entries if e["node"] == "n1"]  # the others vanish at once
        shrunk_at, shrunk_round = asyncio.get_running_loop().time(), nodes.reads[0]
        await wait_until(lambda: len(rec.started) == len(cameras), 15, "every camera taken in the end")
        if sudden:  # nothing taken for one node TTL
            assert rec.started[share][0] - shrunk_at >= settle_s
            assert leases.stats.held_off == 1
        else:  # taken by the next round (or the one under way)
            assert rec.rounds[share] <= shrunk_round + 1
            assert leases.stats.held_off == 0
        rest = len(cameras) - share
        assert rounds_of(rec.rounds[share:]) == ([4, rest - 4] if rest > 4 else [rest])


async def test_renewal_runs_on_its_own_schedule_while_a_round_is_slow_to_start_cameras(pg_url: str) -> None:
    cameras = [f"cam{i}" for i in range(6)]
    rec = Recorder(start_s=1.0)  # four starts in one round: 4 s, longer than the 3 s TTL
    async with leases_of(pg_url, cameras, registry_of(["n1"]), rec, ttl_s=3, renew_s=0.5, margin_s=0.9) as leases:
        await wait_until(lambda: len(rec.started) == 6, 20, "the six cameras started")
        await asyncio.sleep(2)
        assert (leases.stats.expired, leases.stats.lost) == (0, 0)
        assert rec.stopped == []
        rows = await lease_rows(pg_url)
        assert {c: (n, ok) for c, (n, _e, ok) in rows.items()} == {c: ("n1", True) for c in cameras}


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
