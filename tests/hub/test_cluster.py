"""`skyhub cluster`: N node processes from one command, on the real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import REPO, free_port, wait_until
from tests.hub.conftest import PASSWORD, SECRET, make_settings, serve, write_config
from tests.hub.test_leases import CuttableProxy, lease_rows

CAMERAS = [
    {"id": f"cam{i}", "url": "synthetic://street", "grid": "g1", "analysis": {"fps": 2, "width": 160, "height": 90}}
    for i in range(4)
]


def free_ports(n: int) -> int:
    """The first of ``n`` consecutive unused loopback ports."""
    for _ in range(100):
        first = free_port()
        if first + n > 65535:
            continue
        socks = []
        try:
            for port in range(first, first + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports")


class ClusterProcess:
    """`python -m hub cluster` as a real process; its output collected line by line."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub",
            "cluster",
            *self.args,
            "--log-level",
            "warning",
            cwd=REPO,
            env={**os.environ, "SKYHUB_SECRET": SECRET},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    async def wait_line(self, pred: Callable[[str], bool], timeout_s: float, what: str) -> str:
        async with asyncio.timeout(timeout_s):
            while True:
                for line in self.lines:
                    if pred(line):
                        return line
                assert self.proc is not None
                if self.proc.returncode is not None:
                    pytest.fail(f"cluster exited ({self.proc.returncode}) before {what}:\n{self.output()[-4000:]}")
                await asyncio.sleep(0.1)

    async def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        async with asyncio.timeout(timeout_s):
            rc = await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return rc

    async def aclose(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()


@pytest.fixture
async def cluster_of_two(tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[Any]:
    storage = {
        "url": pg_url,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "camera_lease_ttl_s": 3.0,
        "camera_lease_renew_s": 0.5,
    }
    config = write_config(
        tmp_path / "cluster.yaml", storage=storage, cameras=CAMERAS, server={"ice_addresses": ["127.0.0.1"]}
    )
    base = free_ports(2)
    args = ["--nodes", "2", "--config", str(config), "--host", "127.0.0.1", "--base-port", str(base)]
    cluster = ClusterProcess([*args, "--data", str(tmp_path / "data")])
    cluster.urls = [f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 1}"]  # type: ignore[attr-defined]
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.aclose()


async def login(c: httpx.AsyncClient) -> None:
    r = await c.post("/api/auth/login", json={"username": "dispatcher", "password": PASSWORD})
    r.raise_for_status()
    c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"


async def hub_events(pg_url: str, type: str) -> int:
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM events WHERE type = %s", (type,))
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


async def test_two_nodes_from_one_command_are_ready_share_the_cameras_and_stop_on_sigterm(
    cluster_of_two: Any, tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    cluster, urls = cluster_of_two, cluster_of_two.urls
    await cluster.wait_line(lambda s: "all 2 nodes ready" in s, 120, "both nodes ready")
    for i, url in enumerate(urls, 1):  # each node's own URL, printed
        assert any(f"node-{i} {url} (pid" in line for line in cluster.lines), cluster.output()
        assert (tmp_path / "data" / f"node-{i}").is_dir()

    async with httpx.AsyncClient(base_url=urls[0], timeout=10) as c1, httpx.AsyncClient(base_url=urls[1]) as c2:
        ready = [await c.get("/readyz") for c in (c1, c2)]
        assert [r.status_code for r in ready] == [200, 200]
        assert [r.json()["status"] for r in ready] == ["ready", "ready"]
        assert ready[0].json()["node"] != ready[1].json()["node"]
        await login(c1)
        await login(c2)
        # Spread: each node ingests two cameras and sends a viewer of the other two to the other node.
        seen: dict[str, Any] = {}

        async def spread() -> bool:
            for name, c, other in (("1", c1, urls[1]), ("2", c2, urls[0])):
                cams = (await c.get("/api/cameras")).json()
                here = [h["id"] for h in cams if h["state"] == "online"]
                there = [h["id"] for h in cams if h["state"] == "remote" and h.get("owner_url") == other]
                seen[name] = (sorted(here), sorted(there))
            # Two online on each (one node's two alone, the other's still starting, is not it).
            return len(seen["1"][0]) == len(seen["2"][0]) == 2 and seen["1"] == (seen["2"][1], seen["2"][0])

        for _ in range(300):
            if await spread():
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail(f"cameras not spread two and two: {seen}")
        on_two = seen["2"][0][0]
        r = await c1.get(f"/api/cameras/{on_two}/snapshot.jpg")
        assert r.status_code == 307 and r.headers["location"] == f"{urls[1]}/api/cameras/{on_two}/snapshot.jpg"

    assert cluster.proc is not None
    cluster.proc.send_signal(signal.SIGTERM)
    assert await cluster.wait(90) == 0, cluster.output()[-4000:]
    assert all(refused(int(u.rsplit(":", 1)[1])) for u in urls)
    assert any("SIGTERM: stopping 2 nodes" in line for line in cluster.lines)
    # Stopped cleanly: each node logged its stop and handed its camera leases back.
    assert await hub_events(pg_url, "hub.stopped") == 2
    rows = await lease_rows(pg_url)
    assert rows and {node for node, _e, _live in rows.values()} == {None}


async def test_a_node_that_dies_is_reported_and_the_others_are_stopped_not_restarted(
    cluster_of_two: Any, pg_url: str
) -> None:
    cluster, urls = cluster_of_two, cluster_of_two.urls
    await cluster.wait_line(lambda s: "all 2 nodes ready" in s, 120, "both nodes ready")
    line = await cluster.wait_line(lambda s: s.startswith("skyhub cluster: node-2 "), 1, "node-2's line")
    pid = int(re.search(r"\(pid (\d+)", line).group(1))  # type: ignore[union-attr]
    os.kill(pid, signal.SIGKILL)
    assert await cluster.wait(90) == 1, cluster.output()[-4000:]
    assert any("node-2" in s and "exited by itself with code -9" in s for s in cluster.lines), cluster.output()
    await wait_until(lambda: refused(int(urls[0].rsplit(":", 1)[1])), 5, "node-1 stopped")
    assert await hub_events(pg_url, "hub.stopped") == 1  # node-1 stopped cleanly; node-2 never logged one


@pytest.mark.parametrize(
    ("storage", "says"),
    [
        ({}, "set storage.url to a PostgreSQL URL"),
        ({"url": "postgresql://postgres@127.0.0.1:5432/unused"}, "set storage.redis_url"),
    ],
    ids=["no-postgresql", "no-redis"],
)
def test_a_config_without_postgresql_or_redis_is_refused(tmp_path: Path, storage: dict[str, Any], says: str) -> None:
    config = write_config(tmp_path / "one.yaml", storage=storage, cameras=CAMERAS)
    env = {k: v for k, v in os.environ.items() if k not in ("SKYHUB_STORAGE_URL", "SKYHUB_REDIS_URL")}
    r = subprocess.run(
        [sys.executable, "-m", "hub", "cluster", "--nodes", "2", "--config", str(config)],
        cwd=REPO,
        env={**env, "SKYHUB_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert says in r.stderr and str(config) in r.stderr, r.stderr
    assert "node-1" not in r.stdout  # nothing started


async def test_readyz_says_503_with_the_reason_while_the_store_cannot_answer_and_healthz_does_not(
    tmp_path: Path, pg_url: str
) -> None:
    proxy = CuttableProxy(5432)
    await proxy.start()
    through_proxy = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    try:
        async with serve(make_settings(tmp_path, storage={"url": through_proxy})) as rh:
            async with httpx.AsyncClient(base_url=rh.url, timeout=10) as c:
                r = await c.get("/readyz")
                assert r.status_code == 200 and r.json() == {"status": "ready", "node": "local"}
                proxy.sever()
                await asyncio.sleep(1.1)  # past the cached outcome of the last probe
                r = await c.get("/readyz")
                assert r.status_code == 503 and r.headers["retry-after"] == "1"
                assert r.json()["status"] == "not ready" and "the store" in r.json()["reason"], r.json()
                assert "postgres" not in r.text  # the reason names no URL
                assert (await c.get("/healthz")).status_code == 200  # alive all the same: not restarted
                proxy.cut = False
                for _ in range(50):
                    if (r := await c.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.2)
                assert r.status_code == 200, r.text
    finally:
        await proxy.aclose()
