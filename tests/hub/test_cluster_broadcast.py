"""A broadcast to 1,000 workers spread over three node processes, one node killed during it."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.hub.conftest import PASSWORD, write_config
from tests.hub.test_instructions_crash import district, token
from tests.hub.test_lease_failures import NodeProcess
from tests.loadsim.workers import run_process

WORKERS = 1000
NODES = 3


async def receipts(url: str, headers: dict[str, str], iid: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as c:
        r = await c.get(f"/api/instructions/{iid}")
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.mark.timeout(400)
async def test_a_broadcast_reaches_every_worker_once_when_a_node_dies_during_it(
    tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    names = [f"w{i:04d}" for i in range(WORKERS)]
    storage = {"url": pg_url, "redis_url": redis_url, "redis_prefix": redis_prefix}
    users = district(names)  # hashed once: every node must hold the same password hash
    nodes: list[NodeProcess] = []
    for k in range(NODES):
        port = free_port()
        config = write_config(
            tmp_path / f"n{k}" / "hub.yaml",
            storage=storage,
            cameras=[],
            server={"public_url": f"http://127.0.0.1:{port}", "ice_addresses": ["127.0.0.1"]},
            **users,
        )
        nodes.append(NodeProcess(config, tmp_path / f"n{k}" / "data", port))
    ctx = mp.get_context("spawn")
    ready, status = ctx.Queue(), ctx.Queue()
    received = ctx.Value("i", 0)
    procs: list[Any] = []
    try:
        # One after the other: the first migrates the store, the others find it done.
        for n in nodes:
            n.start()
            await n.wait_ready()
        ports = [n.port for n in nodes]
        # A third of the workers on each node; when their node fails, a worker tries the next one
        # (as a load balancer would send it on).
        for k in range(NODES):
            shard = [(n, token(n)) for n in names[k::NODES]]
            failover = ports[k:] + ports[:k]
            procs.append(ctx.Process(target=run_process, args=(failover, shard, ready, status, 200.0, 1, received)))
        for p in procs:
            p.start()
        for _ in procs:
            await asyncio.to_thread(ready.get, True, 120)

        posting, doomed, other = nodes[0], nodes[2], nodes[1]
        async with httpx.AsyncClient(base_url=posting.url, timeout=30) as c:
            r = await c.post("/api/auth/login", json={"username": "coordinator", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await c.post(
                "/api/instructions",
                headers=headers,
                json={"text": "Evacuate the river bank", "priority": "emergency", "targets": {"nodes": ["g"]}},
            )
            assert r.status_code == 201, r.text
            iid = r.json()["instruction"]["id"]
            assert r.json()["instruction"]["recipients"] == WORKERS
        async with asyncio.timeout(60):
            while received.value < 50:  # noqa: ASYNC110  (a counter shared with other processes)
                await asyncio.sleep(0.005)
        killed_at = time.time()
        at_kill = received.value
        await asyncio.to_thread(doomed.kill)

        results: dict[str, Any] = {}
        for _ in procs:
            results.update(await asyncio.to_thread(status.get, True, 250))

        # What each surviving node tells a coordinator converges on every worker acknowledged.
        views: dict[str, dict[str, Any]] = {}
        async with asyncio.timeout(30):
            while True:
                views = {n.url: await receipts(n.url, headers, iid) for n in (posting, other)}
                if all(v["per_state"]["acknowledged"] == WORKERS for v in views.values()):
                    break
                await asyncio.sleep(0.2)
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        for n in nodes:
            n.kill()

    assert len(results) == WORKERS
    for name, r in results.items():
        # Counted as they came, before the client drops duplicates: the cluster sent it exactly once.
        assert r["deliveries"] == {iid: 1}, f"{name} was sent {r['deliveries']}"
        assert r["confirmed"].get(iid) == "acknowledged" and r["outbox"] == 0, (name, r)
    stayed = [n for n in names[2::NODES] if results[n]["connects"] < 2]
    assert not stayed, f"{len(stayed)} workers of the killed node never reconnected to another"
    for view in views.values():
        assert view["unacknowledged"] == []
        assert all(r["delivered_at"] is not None for r in view["receipts"])
    # During it: some acknowledgements were recorded only after the node had been killed.
    late = [r for r in views[posting.url]["receipts"] if r["done_at"] > killed_at]
    print(f"\n{at_kill} of {WORKERS} had the instruction when the node was killed; {len(late)} acks after")
    assert late, f"every acknowledgement was in before the kill ({at_kill} received then); it must land mid-way"
