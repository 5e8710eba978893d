"""Benchmark: one instruction to thousands of connected workers, beside a bare-websockets floor.

Simulated workers (``tests/loadsim/workers.py``) run in separate processes, connect to
``/ws/worker``, and acknowledge every instruction on receipt. One instruction goes to all of
them. Printed: time to 100 % delivered, delivery latency p50/p99 (send -> received by the
worker), time to 100 % acknowledged in the coordinator's view (GET /api/instructions/{id}).
The floor, in the same run: a bare ``websockets`` server sending one message to the same
number of clients. Then the same broadcast with 10 % of the workers cut off during it and
reconnecting 1-10 s later: all of them must still get it, exactly once.

Run: .venv/bin/python scripts/bench_instructions.py [--workers 5000] [--procs 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from loadgen import PASSWORD, SECRET, machine, pct, proc_cpu_s, start_hub, wait_http  # noqa: E402

GRIDS = 50


def config(n: int) -> dict[str, Any]:
    """Users, a district of ``GRIDS`` grids, and ``n`` workers spread over them."""
    from argon2 import PasswordHasher

    grids = [{"id": f"g{k}", "name": f"Grid {k}"} for k in range(GRIDS)]
    names = [f"w{i:05d}" for i in range(n)]
    return {
        "users": [{"username": "bench", "roles": ["coordinator"], "password_hash": PasswordHasher().hash(PASSWORD)}]
        + [{"username": u, "roles": ["worker"]} for u in names],
        "directory": {
            "root": {
                "id": "d",
                "name": "D",
                "children": [{"id": "s", "name": "S", "children": [{"id": "c", "name": "C", "children": grids}]}],
            },
            "people": [{"id": "bench", "name": "Bench", "roles": ["coordinator"]}]
            + [{"id": u, "name": u, "roles": ["worker"], "grids": [f"g{i % GRIDS}"]} for i, u in enumerate(names)],
        },
    }


def tokens(names: list[str]) -> list[tuple[str, str]]:
    import jwt

    now = int(time.time())
    return [(n, jwt.encode({"sub": n, "iat": now, "exp": now + 3600}, SECRET, algorithm="HS256")) for n in names]


def _sim_process(
    port: int,
    workers: list[tuple[str, str]],
    ready: Any,
    go: Any,
    status: Any,
    cut_share: float,
    seed: int,
    cursor: int,
) -> None:
    """Child: run simulated workers; on ``go``, cut ``cut_share`` of them off for 1-10 s."""
    from tests.loadsim.workers import SimWorker, run_worker

    async def main() -> dict[str, Any]:
        rng = random.Random(seed)
        # Phones that already saw everything up to ``cursor`` (earlier rounds).
        sims = [SimWorker(u, t, cursor=cursor) for u, t in workers]
        stops = [asyncio.Event() for _ in sims]
        lives = [asyncio.Event() for _ in sims]
        tasks = [asyncio.create_task(run_worker(s, port, st, lv)) for s, st, lv in zip(sims, stops, lives, strict=True)]
        await asyncio.gather(*(lv.wait() for lv in lives))
        ready.put(len(sims))
        await asyncio.to_thread(go.wait)
        cut = [i for i in range(len(sims)) if rng.random() < cut_share]
        for i in cut:
            tasks[i].cancel()

        async def back(i: int) -> None:
            await asyncio.sleep(rng.uniform(1, 10))
            stops[i] = asyncio.Event()
            tasks[i] = asyncio.create_task(run_worker(sims[i], port, stops[i], None))

        reconnects = [asyncio.create_task(back(i)) for i in cut]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if all(
                s.seen
                and all(st in ("acknowledged", "replied") for st in s.confirmed.values())
                and s.confirmed
                and not s.outbox
                for s in sims
            ):
                break
            await asyncio.sleep(0.1)
        await asyncio.gather(*reconnects)
        for st in stops:
            st.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {
            "seen": [list(s.seen.values()) for s in sims],
            "cut": len(cut),
            "ids": [sorted(s.seen) for s in sims],
            "cpu_s": time.process_time(),
        }

    status.put(asyncio.run(main()))


def _floor_server(port: int, clients: int, ready: Any, go: Any) -> None:
    import websockets

    async def main() -> None:
        conns: set[Any] = set()
        all_in = asyncio.Event()

        async def handler(ws: Any) -> None:
            conns.add(ws)
            if len(conns) >= clients:
                all_in.set()
            await ws.wait_closed()

        async with websockets.serve(handler, "127.0.0.1", port, max_queue=None):
            ready.put("server")
            await all_in.wait()
            await asyncio.to_thread(go.wait)
            websockets.broadcast(conns, json.dumps({"sent": time.time(), "text": "x" * 200}))
            await asyncio.sleep(15)

    asyncio.run(main())


def _floor_clients(port: int, n: int, ready: Any, status: Any) -> None:
    import websockets

    async def main() -> list[float]:
        got: list[float] = []

        async def one() -> None:
            async with websockets.connect(f"ws://127.0.0.1:{port}/", open_timeout=60) as ws:
                ready.put(1)
                msg = json.loads(await asyncio.wait_for(ws.recv(), 120))
                got.append(time.time() - msg["sent"])

        await asyncio.gather(*(one() for _ in range(n)))
        return got

    status.put(asyncio.run(main()))


def run_floor(n: int, procs: int) -> list[float]:
    from tests.conftest import free_port

    ctx = mp.get_context("spawn")
    ready, go, status = ctx.Queue(), ctx.Event(), ctx.Queue()
    port = free_port()
    server = ctx.Process(target=_floor_server, args=(port, n, ready, go))
    server.start()
    ready.get(timeout=60)
    per = [n // procs + (1 if k < n % procs else 0) for k in range(procs)]
    ps = [ctx.Process(target=_floor_clients, args=(port, m, ready, status)) for m in per]
    for p in ps:
        p.start()
    for _ in range(n):
        ready.get(timeout=180)
    go.set()
    lat: list[float] = []
    for _ in ps:
        lat += status.get(timeout=180)
    for p in ps:
        p.join(30)
    server.join(30)
    return lat


async def broadcast_round(
    port: int, token_bench: str, n: int, procs: int, cut_share: float, hub_pid: int
) -> dict[str, Any]:
    import httpx

    ctx = mp.get_context("spawn")
    ready, go, status = ctx.Queue(), ctx.Event(), ctx.Queue()
    async with httpx.AsyncClient() as c:
        head = (await c.get(f"http://127.0.0.1:{port}/healthz")).json()["last_event_id"]
    names = [f"w{i:05d}" for i in range(n)]
    shards = [tokens(names[k::procs]) for k in range(procs)]
    ps = [
        ctx.Process(target=_sim_process, args=(port, shard, ready, go, status, cut_share, k, head))
        for k, shard in enumerate(shards)
    ]
    for p in ps:
        p.start()
    for _ in ps:
        await asyncio.to_thread(ready.get, True, 300)
    cpu0 = proc_cpu_s(hub_pid)
    import websockets

    # The coordinator's view: instruction.progress events on the live feed, as the console sees them.
    feed_url = f"ws://127.0.0.1:{port}/ws/events?type=instruction.progress&token={token_bench}"
    feed = await websockets.connect(feed_url, max_size=None)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=60, headers={"Authorization": f"Bearer {token_bench}"}
    ) as c:
        go.set()
        t0 = time.time()
        r = await c.post(
            "/api/instructions",
            json={
                "text": "Flood warning: move to high ground",
                "priority": "emergency",
                "targets": {"roles": ["worker"]},
            },
        )
        r.raise_for_status()
        iid = r.json()["instruction"]["id"]
        t_sent = time.time() - t0
    t_acked = None
    try:
        async with asyncio.timeout(120):
            while t_acked is None:
                msg = json.loads(await feed.recv())
                for ev in msg if isinstance(msg, list) else []:
                    per = ev["data"]["per_state"]
                    if ev["subject"] == f"instruction:{iid}" and per["acknowledged"] + per["replied"] == n:
                        t_acked = time.time() - t0
    except TimeoutError:
        pass
    await feed.close()
    results = [await asyncio.to_thread(status.get, True, 300) for _ in ps]
    for p in ps:
        p.join(30)
    seen = [t for r in results for per_worker in r["seen"] for t in per_worker]
    ids = [i for r in results for i in r["ids"]]
    return {
        "iid": iid,
        "t_sent": t_sent,
        "t_acked": t_acked,
        "lat": [t - t0 for t in seen],
        "exactly_once": all(x == [iid] for x in ids) and len(ids) == n,
        "cut": sum(r["cut"] for r in results),
        "hub_cpu_s": proc_cpu_s(hub_pid) - cpu0,
        "client_cpu_s": sum(r["cpu_s"] for r in results),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=5000)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--cut-only", action="store_true", help="only the round with 10 % cut off")
    args = ap.parse_args()
    from tests.conftest import free_port

    n = args.workers
    print(f"machine: {machine()}; {n} workers in {args.procs} processes")
    floor = run_floor(n, args.procs)
    print(
        f"\nfloor: bare websockets server, one message to {n} clients:"
        f" p50 {pct(floor, 0.5) * 1000:.0f} ms, p99 {pct(floor, 0.99) * 1000:.0f} ms,"
        f" 100 % at {max(floor) * 1000:.0f} ms"
    )
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        import yaml

        cfg = config(n)
        proc = start_hub(Path(d), port, queue_events=4096, extra=cfg)
        try:
            asyncio.run(wait_http(f"http://127.0.0.1:{port}/healthz"))
            import httpx

            tok = httpx.post(
                f"http://127.0.0.1:{port}/api/auth/login", json={"username": "bench", "password": PASSWORD}
            ).json()["access_token"]
            rounds = [("all connected", 0.0), ("10 % cut off during the broadcast", 0.10)]
            for label, share in rounds[1:] if args.cut_only else rounds:
                r = asyncio.run(broadcast_round(port, tok, n, args.procs, share, proc.pid))
                lat = r["lat"]
                print(f"\nhub, {label} ({r['cut']} cut off):")
                print(f"   POST answered after {r['t_sent'] * 1000:.0f} ms (recipients frozen, event durable)")
                print(f"   delivered to {len(lat)}/{n}; exactly once each: {r['exactly_once']}")
                print(
                    f"   delivery latency p50 {pct(lat, 0.5) * 1000:.0f} ms, p99 {pct(lat, 0.99) * 1000:.0f} ms,"
                    f" 100 % at {max(lat) * 1000:.0f} ms"
                )
                acked = f"{r['t_acked']:.2f} s" if r["t_acked"] is not None else "not within 120 s"
                print(f"   100 % acknowledged in the coordinator's view after {acked}")
                print(f"   hub CPU {r['hub_cpu_s']:.1f} s; worker processes {r['client_cpu_s']:.1f} s")
                if share == 0.0:
                    print(
                        f"   ratio to floor: p99 {pct(lat, 0.99) / pct(floor, 0.99):.2f}x"
                        f"   (targets: p99 <= 1 s and <= 2x the floor)"
                    )
            del yaml
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
