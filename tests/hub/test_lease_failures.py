"""Camera leases when a shared service or a node fails for real: Redis restarted empty, a node killed."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hub.store.redislink import NODE_TTL_MS
from tests.conftest import REPO, free_port, require, wait_until
from tests.hub.conftest import SECRET, make_settings, serve, write_config
from tests.hub.test_leases import CAMERA_IDS, CAMERAS, node_settings, online_here


class OwnRedis:
    """A ``redis-server`` of the test's own on a free loopback port, without persistence: a restart
    comes back empty, as a Redis restarted without RDB or AOF does."""

    def __init__(self, workdir: Path, aof: bool = False) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.aof = aof
        """With an append-only file (fsync every write): a restart comes back with the keys."""
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else ["--appendonly", "no"]
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence]
        self.proc = subprocess.Popen(
            [*args, "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    async def start(self) -> None:
        """Start it and wait until it answers PING."""
        self.spawn()
        async with asyncio.timeout(10):
            while True:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.write(b"PING\r\n")
                    pong = await reader.readline()
                    writer.close()
                    if pong.startswith(b"+PONG"):
                        return
                except OSError:
                    pass
                await asyncio.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: every key is gone with it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture(params=["empty", "aof"])
async def own_redis(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[OwnRedis]:
    """A Redis of the test's own: restarted, it comes back empty, or (``aof``) with its keys."""
    require(shutil.which("redis-server") is not None, "redis-server")
    r = OwnRedis(tmp_path / "redis", aof=request.param == "aof")
    await r.start()
    try:
        yield r
    finally:
        r.kill()


async def test_redis_restarted_during_a_burst_moves_no_camera_and_loses_nothing(
    tmp_path: Path, pg_url: str, own_redis: OwnRedis
) -> None:
    storage = {
        "url": pg_url,
        "redis_url": own_redis.url,
        "camera_lease_ttl_s": 3.0,
        "camera_lease_renew_s": 0.5,
    }
    # Incidents nobody assigns climb the tree every second: deadlines due on both nodes throughout.
    deadlines = {
        p: {"assign_s": 1.0, "ack_s": 600, "arrive_s": 600, "resolve_s": 3600} for p in ("P1", "P2", "P3", "P4")
    }
    nodes = []
    for name in ("a", "b"):
        port = free_port()
        server = {"public_url": f"http://127.0.0.1:{port}", "ice_addresses": ["127.0.0.1"]}
        incidents = {"deadlines": deadlines}
        settings = make_settings(tmp_path / name, storage=storage, cameras=CAMERAS, server=server, incidents=incidents)
        nodes.append((settings, port))
    (settings_a, port_a), (settings_b, port_b) = nodes
    async with serve(settings_a, port=port_a) as a, serve(settings_b, port=port_b) as b:
        await wait_until(
            lambda: len(online_here(a)) == 2 and online_here(a) | online_here(b) == set(CAMERA_IDS),
            40,
            "the four cameras split two and two",
        )
        placed = (online_here(a), online_here(b))
        before = {n.port: asdict(n.hub.leases.stats) for n in (a, b)}

        # A burst of incidents opened on both nodes (as an alert storm opens them) while Redis restarts.
        opened: list[int] = []

        async def burst(node: Any) -> None:
            async with await node.client("dispatcher") as c:
                for i in range(30):
                    r = await c.post("/api/incidents", json={"category": "crowd", "title": f"storm {i}", "node": "g1"})
                    assert r.status_code == 201, r.text
                    opened.append(r.json()["incident"]["id"])
                    await asyncio.sleep(0.1)

        storm = [asyncio.create_task(burst(n)) for n in (a, b)]
        await asyncio.sleep(1.0)
        own_redis.kill()
        await own_redis.start()
        restarted_at = asyncio.get_running_loop().time()
        # Sampled every 100 ms until the nodes have re-registered and renewed many times over.
        moves: list[tuple[set[str], set[str]]] = []
        while asyncio.get_running_loop().time() - restarted_at < NODE_TTL_MS / 1000 + 4:
            now = (online_here(a), online_here(b))
            if now != placed:
                moves.append(now)
            await asyncio.sleep(0.1)
        await asyncio.gather(*storm)
        assert moves == [], f"cameras moved after Redis restarted: {moves[:3]}"

        for n in (a, b):
            stats = asdict(n.hub.leases.stats)
            # Nothing taken, handed back, lost or stopped: the leases live in the store, which
            # Redis' restart did not touch.
            for counter in ("acquired", "released", "lost", "expired", "fenced"):
                assert stats[counter] == before[n.port][counter], (counter, stats, before[n.port])
        want = {c: a.hub.redis.node for c in placed[0]} | {c: b.hub.redis.node for c in placed[1]}
        assert a.hub.leases.owners == want and b.hub.leases.owners == want

    # The log: no id missing or twice, every incident opened, each deadline fired once.
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        ids = [r[0] for r in await (await conn.execute("SELECT id FROM events ORDER BY id")).fetchall()]
        rows = await (await conn.execute("SELECT data FROM events WHERE type = 'incident.escalated'")).fetchall()
    assert ids == list(range(1, len(ids) + 1))
    assert len(opened) == len(set(opened)) == 60
    fired = [json.loads(d)["deadline_id"] for (d,) in rows]
    assert fired and len(fired) == len(set(fired)), "a deadline fired twice"


class NodeProcess:
    """``python -m hub run`` as a real process, to be killed with SIGKILL."""

    def __init__(self, config: Path, data: Path, port: int) -> None:
        self.config, self.data, self.port = config, data, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = data.parent / "node-stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--config", str(self.config), "--port", str(self.port), "--data", str(self.data)]
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub", "run", *args, "--log-level", "warning"],
                cwd=REPO,
                env={**os.environ, "SKYHUB_SECRET": SECRET},
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as c, asyncio.timeout(60):
            while True:
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await c.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


async def test_a_killed_nodes_cameras_run_on_the_survivor_within_the_lease_ttl(
    tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    ttl_s = 10.0  # the default; the registry forgets a dead node after the same 10 s
    storage: dict[str, Any] = {
        "url": pg_url,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "camera_lease_ttl_s": ttl_s,
        "camera_lease_renew_s": 1.0,
    }
    port_b = free_port()
    config_b = write_config(
        tmp_path / "b" / "hub.yaml",
        storage=storage,
        cameras=CAMERAS,
        server={"public_url": f"http://127.0.0.1:{port_b}", "ice_addresses": ["127.0.0.1"]},
    )
    b = NodeProcess(config_b, tmp_path / "b" / "data", port_b)
    b.start()
    try:
        await b.wait_ready()
        settings_a, port_a = node_settings(tmp_path / "a", storage)
        async with serve(settings_a, port=port_a) as a:
            node_b = None

            def split() -> bool:
                nonlocal node_b
                others = {o for o in a.hub.leases.owners.values() if o not in (None, a.hub.redis.node)}
                node_b = next(iter(others), None)
                return len(online_here(a)) == 2 and list(a.hub.leases.owners.values()).count(node_b) == 2

            await wait_until(split, 60, "the four cameras split between A and the process B")
            b.kill()
            took = await wait_until(lambda: online_here(a) == set(CAMERA_IDS), ttl_s + 5, "A to run all four")
            print(f"\nkilled node's cameras online on the survivor after {took:.1f} s (lease TTL {ttl_s:.0f} s)")
            assert a.hub.leases.stats.held_off == 0  # one node of two dying is no sudden shrink
    finally:
        b.kill()


async def test_a_frozen_node_is_fenced_out_of_its_cameras_and_rejoins(
    tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    import json

    import psycopg

    from tests.hub.test_leases import lease_rows

    ttl_s = 4.0
    storage: dict[str, Any] = {
        "url": pg_url,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "camera_lease_ttl_s": ttl_s,
        "camera_lease_renew_s": 1.0,
    }
    port_b = free_port()
    config_b = write_config(
        tmp_path / "b" / "hub.yaml",
        storage=storage,
        cameras=CAMERAS,
        server={"public_url": f"http://127.0.0.1:{port_b}", "ice_addresses": ["127.0.0.1"]},
    )
    b = NodeProcess(config_b, tmp_path / "b" / "data", port_b)
    b.start()
    try:
        await b.wait_ready()
        settings_a, port_a = node_settings(tmp_path / "a", storage)
        async with serve(settings_a, port=port_a) as a:
            node_a = a.hub.redis.node

            def node_b() -> str | None:
                return next((o for o in a.hub.leases.owners.values() if o not in (None, node_a)), None)

            def split() -> bool:
                nb = node_b()
                return len(online_here(a)) == 2 and list(a.hub.leases.owners.values()).count(nb) == 2

            await wait_until(split, 60, "the four cameras split between A and the process B")
            frozen_node = node_b()
            before = await lease_rows(pg_url)
            stale = {c: e for c, (n, e, _ok) in before.items() if n == frozen_node}
            assert len(stale) == 2

            # B busy appending (duty-log entries) when it is frozen, so it may hold the append lock.
            token = await a.token("dispatcher")
            stop_writing = asyncio.Event()

            async def keep_writing() -> None:
                async with httpx.AsyncClient(base_url=b.url, headers={"Authorization": f"Bearer {token}"}) as c:
                    while not stop_writing.is_set():
                        try:
                            await c.post("/api/journal", json={"text": "on B"}, timeout=1.0)
                        except httpx.HTTPError:
                            pass

            writer = asyncio.create_task(keep_writing())
            await asyncio.sleep(0.5)
            assert b.proc is not None
            b.proc.send_signal(signal.SIGSTOP)
            stop_writing.set()
            try:
                # A keeps appending: a frozen node holds the append lock at most until the server
                # ends its idle transaction (4 s).
                async with await a.client("dispatcher") as ca:
                    t0 = asyncio.get_running_loop().time()
                    r = await ca.post("/api/journal", json={"text": "on A, B frozen"})
                    took = asyncio.get_running_loop().time() - t0
                    assert r.status_code == 201, r.text
                print(f"\nan append on A while B is frozen answered in {took:.2f} s")
                # B's cameras run on A once its leases ended and the registry forgot B (10 s), under
                # new epochs.
                wait_s = max(ttl_s, NODE_TTL_MS / 1000) + 5
                await wait_until(lambda: online_here(a) == set(CAMERA_IDS), wait_s, "A to run all four")
                moved = await lease_rows(pg_url)
                assert all(moved[c][0] == node_a and moved[c][1] > e for c, e in stale.items())
            finally:
                b.proc.send_signal(signal.SIGCONT)
                await asyncio.gather(writer, return_exceptions=True)

            # B wakes up: it finds its leases gone, stops what it ran and takes its share again.
            await wait_until(split, 60, "B back with two cameras")
            async with httpx.AsyncClient(base_url=b.url, headers={"Authorization": f"Bearer {token}"}) as c:
                r = await c.get("/metrics")
                assert r.status_code == 200, r.text
                metrics = r.text
            stopped = [
                line
                for line in metrics.splitlines()
                if line.startswith(("skyhub_camera_leases_lost", "skyhub_camera_leases_expired"))
            ]
            assert sum(float(line.split()[-1]) for line in stopped) >= 2, stopped
            # Fenced: after A was granted a camera, nothing B wrote about it carries B's old epoch.
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
                cur = await conn.execute(
                    "SELECT id, subject, data FROM events WHERE subject = ANY(%s) ORDER BY id", (list(stale),)
                )
                rows = [(i, s, json.loads(d)) for i, s, d in await cur.fetchall()]
            for camera, epoch in stale.items():
                first_on_a = min(i for i, s, d in rows if s == camera and d.get("node") == node_a and d.get("epoch"))
                late = [(i, d) for i, s, d in rows if s == camera and i > first_on_a and d.get("epoch") == epoch]
                assert late == [], f"{camera}: written with the stale epoch {epoch} after A took it: {late}"
    finally:
        b.kill()
