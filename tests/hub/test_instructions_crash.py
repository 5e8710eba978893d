"""SIGKILL the hub in the middle of a broadcast to 1,000 connected workers (real processes)."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml

from tests.hub.conftest import PASSWORD, SECRET, TEST_HASHER
from tests.hub.test_crash import HubProcess
from tests.loadsim.workers import run_process

WORKERS = 1000
PROCS = 4


def token(username: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": username, "iat": now, "exp": now + 3600}, SECRET, algorithm="HS256")


def district(names: list[str]) -> dict[str, Any]:
    """One grid holding every worker in ``names``, and a coordinator (the config's users and directory)."""
    return {
        "users": [{"username": "coordinator", "roles": ["coordinator"], "password_hash": TEST_HASHER.hash(PASSWORD)}]
        + [{"username": n, "roles": ["worker"]} for n in names],
        "directory": {
            "root": {
                "id": "d",
                "name": "D",
                "children": [
                    {
                        "id": "s",
                        "name": "S",
                        "children": [{"id": "c", "name": "C", "children": [{"id": "g", "name": "G"}]}],
                    }
                ],
            },
            "people": [{"id": "coordinator", "name": "C", "roles": ["coordinator"]}]
            + [{"id": n, "name": n, "roles": ["worker"], "grids": ["g"]} for n in names],
        },
    }


@pytest.fixture
def hub_process(tmp_path: Path) -> Iterator[HubProcess]:
    cfg = district([f"w{i:04d}" for i in range(WORKERS)])
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(cfg))
    hp = HubProcess(path, tmp_path / "data")
    yield hp
    hp.kill()


@pytest.mark.timeout(300)
async def test_sigkill_mid_broadcast(hub_process: HubProcess) -> None:
    hub_process.start()
    await hub_process.wait_ready()
    ctx = mp.get_context("spawn")
    ready, status = ctx.Queue(), ctx.Queue()
    received = ctx.Value("i", 0)
    names = [f"w{i:04d}" for i in range(WORKERS)]
    shards = [[(n, token(n)) for n in names[k::PROCS]] for k in range(PROCS)]
    procs = [
        ctx.Process(target=run_process, args=(hub_process.port, shard, ready, status, 150.0, 1, received))
        for shard in shards
    ]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            await asyncio.to_thread(ready.get, True, 120)
        async with httpx.AsyncClient(base_url=hub_process.url, timeout=30) as c:
            r = await c.post("/api/auth/login", json={"username": "coordinator", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await c.post(
                "/api/instructions",
                headers=headers,
                json={
                    "text": "Flood warning: move to high ground",
                    "priority": "emergency",
                    "targets": {"nodes": ["g"]},
                },
            )
            assert r.status_code == 201
            iid = r.json()["instruction"]["id"]
            assert r.json()["instruction"]["recipients"] == WORKERS
        async with asyncio.timeout(60):
            while received.value < 50:  # noqa: ASYNC110  (a counter shared with other processes)
                await asyncio.sleep(0.005)
        killed_at = time.time()
        at_kill = received.value
        hub_process.kill_now()
        await asyncio.to_thread(hub_process.kill)  # reap it
        hub_process.start()
        await hub_process.wait_ready()
        results: dict[str, Any] = {}
        for _ in procs:
            results.update(await asyncio.to_thread(status.get, True, 200))
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    assert len(results) == WORKERS
    for name, r in results.items():
        # Counted as they came, before the client drops duplicates: the hub sent it exactly once.
        assert r["deliveries"] == {iid: 1}, f"{name} was sent {r['deliveries']}"
        assert r["confirmed"].get(iid) == "acknowledged" and r["outbox"] == 0, (name, r)
    assert sum(r["connects"] for r in results.values()) >= 2 * WORKERS  # everyone had to reconnect
    async with httpx.AsyncClient(base_url=hub_process.url, timeout=30, headers=headers) as c:
        body = (await c.get(f"/api/instructions/{iid}")).json()
    assert body["per_state"]["acknowledged"] == WORKERS and body["unacknowledged"] == []
    assert all(r["delivered_at"] is not None for r in body["receipts"])
    # Mid-way means acknowledgements were still in flight: some only the restarted hub recorded.
    # (What the workers had received says less: their kernel buffers may hold the whole broadcast.)
    late = [r for r in body["receipts"] if r["done_at"] > killed_at]
    assert late, f"every acknowledgement was in before the kill ({at_kill} received then); it must land mid-way"
