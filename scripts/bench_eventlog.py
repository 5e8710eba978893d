"""Benchmark of the event log and the live feed, each beside a floor measured in the same run.

1. Durable appends per second: the hub's EventLog (batched, synchronous=FULL, WAL) against
   bare sqlite3 doing the same inserts one commit per event and in batches.
2. Appends per second over HTTP (POST /api/journal) to a real hub process.
3. Append-to-delivery latency on live WebSocket clients at a fixed rate: the real hub
   (HTTP append -> durable commit -> /ws/events fan-out) against a bare websockets server
   broadcasting the same messages at the same rate (no log, no auth).

Run: .venv/bin/python scripts/bench_eventlog.py [--clients 100] [--rate 500] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from loadgen import RawHttp, login, machine, pct, proc_cpu_s, scratch_postgres, start_hub, wait_http  # noqa: E402

FLUSH_S = 0.020
"""The hub's default ``server.ws_flush_ms``; the bare floor frames its messages the same way."""


# ---------------------------------------------------------------- 1. appends in process


def bare_sqlite(path: Path, n: int, batch: int) -> float:
    """Inserts per second with bare sqlite3, ``batch`` rows per durable commit."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS e (id INTEGER PRIMARY KEY, ts REAL, type TEXT, subject TEXT, actor TEXT,"
        " grid TEXT, data TEXT)"
    )
    rows = [(None, time.time(), "bench.append", "s", "bench", None, json.dumps({"i": i})) for i in range(n)]
    t = time.perf_counter()
    for i in range(0, n, batch):
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO e VALUES (?,?,?,?,?,?,?)", rows[i : i + batch])
        db.execute("COMMIT")
    dt = time.perf_counter() - t
    db.close()
    return n / dt


async def hub_log_rate(path: Path, seconds: float, in_flight: int) -> float:
    """Appends per second through the hub's EventLog with many concurrent appenders."""
    from hub.store.bus import EventBus
    from hub.store.eventlog import EventLog

    log = EventLog(f"sqlite:///{path}", EventBus())
    await log.open()
    done = 0
    async with asyncio.TaskGroup() as tg:
        log.start(tg)
        deadline = time.perf_counter() + seconds

        async def appender() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await log.append("bench.append", "s", "bench", {"i": done})
                done += 1

        t = time.perf_counter()
        await asyncio.gather(*(appender() for _ in range(in_flight)))
        dt = time.perf_counter() - t
        await log.aclose()
    return done / dt


# ---------------------------------------------------------------- a real hub process


def _http_appender(port: int, token: str, seconds: float, concurrency: int, rate: float, out: Any) -> None:
    """Child process: POST journal entries (paced at ``rate``/s if > 0), report the count."""

    async def main() -> int:
        sent = 0
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(k: int) -> None:
            nonlocal sent
            conn = RawHttp("127.0.0.1", port, token)
            i = k
            while True:
                if rate > 0:  # event i is due at start + i / rate
                    delay = start + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if time.perf_counter() >= deadline:
                    return
                status = await conn.post_json("/api/journal", json.dumps({"text": repr(time.time())}).encode())
                assert status == 201, status
                sent += 1
                i += concurrency

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        return sent

    out.put(asyncio.run(main()))


def _ws_clients(url: str, n: int, seconds: float, ready: Any, out: Any, bare: bool) -> None:
    """Child process: ``n`` WebSocket clients recording send-to-receive latency of every event."""
    import websockets

    async def main() -> list[float]:
        lat: list[float] = []
        resyncs = 0

        async def connect() -> Any:
            for _ in range(100):  # the server may still be starting
                try:
                    return await websockets.connect(url, max_queue=None)
                except OSError:
                    await asyncio.sleep(0.1)
            raise RuntimeError(f"cannot connect to {url}")

        async def client() -> None:
            nonlocal resyncs
            async with await connect() as ws:
                ready.put(1)
                end = time.time() + seconds
                while time.time() < end:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 1.0)
                    except TimeoutError:
                        continue
                    except websockets.ConnectionClosed:
                        return
                    now = time.time()
                    msg = json.loads(raw)
                    if isinstance(msg, dict):
                        resyncs += msg.get("control") == "resync"
                        continue
                    for ev in msg:
                        lat.append(now - (ev["sent"] if bare else float(ev["data"]["text"])))

        await asyncio.gather(*(client() for _ in range(n)))
        if resyncs:
            print(f"  ({resyncs} resyncs in this client process)", file=sys.stderr)
        return lat

    lat = asyncio.run(main())
    out.put((lat, time.process_time()))


def _bare_broadcaster(port: int, rate: float, seconds: float, clients: int, flush_s: float) -> None:
    """Child process: the floor — a bare websockets server broadcasting timestamps at ``rate``/s."""
    import websockets

    async def main() -> None:
        conns: set[Any] = set()
        all_in = asyncio.Event()

        async def handler(ws: Any) -> None:
            conns.add(ws)
            if len(conns) >= clients:
                all_in.set()
            try:
                await ws.wait_closed()
            finally:
                conns.discard(ws)

        async with websockets.serve(handler, "127.0.0.1", port):
            await all_in.wait()
            start = time.perf_counter()
            i = 0
            last_send = 0.0
            pending: list[str] = []
            while time.perf_counter() < start + seconds:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(json.dumps({"sent": time.time(), "i": i}))
                i += 1
                # The same framing as the hub's feed: at most one message per flush interval.
                if time.perf_counter() - last_send >= flush_s:
                    websockets.broadcast(conns, "[" + ",".join(pending) + "]")
                    pending, last_send = [], time.perf_counter()
            await asyncio.sleep(4)

    asyncio.run(main())


def run_latency(ws_url: str, clients: int, seconds: float, procs: int, start_load: Any, bare: bool) -> list[float]:
    ctx = mp.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    per = [clients // procs + (1 if k < clients % procs else 0) for k in range(procs)]
    ps = [ctx.Process(target=_ws_clients, args=(ws_url, n, seconds + 2, ready, out, bare)) for n in per]
    for p in ps:
        p.start()
    for _ in range(clients):
        ready.get(timeout=60)
    start_load()
    lat: list[float] = []
    for _ in ps:
        got, _cpu_s = out.get(timeout=seconds + 60)
        lat += got
    for p in ps:
        p.join(10)
    return lat


# ---------------------------------------------------------------- 4. two nodes on one PostgreSQL


async def cross_node(pg_admin: str, redis_url: str | None, n: int, rate: float) -> dict[str, list[float]]:
    """Append on node A at ``rate``/s; seconds until each event reaches A's own bus and B's bus."""
    from hub.store.bus import EventBus
    from hub.store.eventlog import EventLog
    from hub.store.redislink import RedisLink

    sent: dict[int, float] = {}
    lat: dict[str, list[float]] = {"A": [], "B": []}
    with scratch_postgres(pg_admin) as url:
        name = url.rsplit("/", 1)[-1]
        nodes = []
        async with asyncio.TaskGroup() as tg:
            for label in ("A", "B"):
                bus = EventBus()
                log = EventLog(url, bus, poll_s=1.0)
                await log.open()
                log.start(tg)
                link = RedisLink(redis_url, f"bench-{name}", log) if redis_url else None
                tasks = link.start(tg) if link else []
                nodes.append((label, log, bus.subscribe(100_000), link, tasks))
            await asyncio.sleep(0.5)  # links subscribed

            async def watch(label: str, sub: Any) -> None:
                while len(lat[label]) < n:
                    for ev in await sub.get():
                        if ev.id in sent:
                            lat[label].append(time.perf_counter() - sent[ev.id])

            watchers = [tg.create_task(watch(label, sub)) for label, _, sub, _, _ in nodes]
            a_log = nodes[0][1]
            start = time.perf_counter()
            for i in range(n):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                t = time.perf_counter()
                ev = await a_log.append("bench.cross", "s", "bench", {"i": i})
                sent[ev.id] = t
            async with asyncio.timeout(30):
                await asyncio.gather(*watchers)
            for _, log, _, link, tasks in nodes:
                await log.aclose()
                for task in tasks:
                    task.cancel()
                if link:
                    await link.aclose()
    return lat


def cross_node_section(n: int, rate: float) -> None:
    import socket

    print(f"\n4. two hub nodes on one PostgreSQL: append on A at {rate:.0f}/s, time until each node's bus has it")
    for port, what in ((5432, "PostgreSQL"), (6379, "Redis")):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            print(f"   skipped: no {what} on 127.0.0.1:{port}")
            return
    admin = os.environ.get("SKYHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    for label, redis_url in (("poll only (1 s)", None), ("with Redis", "redis://127.0.0.1:6379/0")):
        lat = asyncio.run(cross_node(admin, redis_url, n, rate))
        a, b = lat["A"], lat["B"]
        print(
            f"   {label:<16} own node A (floor): p50 {pct(a, 0.5) * 1000:6.1f} ms  p99 {pct(a, 0.99) * 1000:6.1f} ms"
            f"   other node B: p50 {pct(b, 0.5) * 1000:6.1f} ms  p99 {pct(b, 0.99) * 1000:6.1f} ms"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="latency runs of hub and floor, alternating")
    ap.add_argument("--cross-node", type=int, default=500, help="events for the two-node section (0 skips it)")
    args = ap.parse_args()
    from tests.conftest import free_port

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("\n1. durable appends per second (SQLite WAL, synchronous=FULL)")
        n = 3000
        one = bare_sqlite(tmp / "bare1.db", n, 1)
        batched = bare_sqlite(tmp / "bare256.db", 20 * n, 256)
        hub_rates = [asyncio.run(hub_log_rate(tmp / f"hub{k}.db", args.seconds / 2, 512)) for k in range(3)]
        hub = statistics.median(hub_rates)
        print(f"   floor: bare sqlite3, 1 event/commit      {one:>10,.0f} /s")
        print(f"   floor: bare sqlite3, 256 events/commit   {batched:>10,.0f} /s")
        print(
            f"   hub EventLog (median of 3, 512 in flight) {hub:>9,.0f} /s   = {hub / batched:.2f}x the batched floor"
            f", {hub / one:.1f}x one-per-commit   (target >= 2,000 /s)"
        )

        port = free_port()
        proc = start_hub(tmp, port, queue_events=4096)
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_http(base + "/healthz"))
            token = asyncio.run(login(base))
            ctx = mp.get_context("spawn")
            out = ctx.Queue()
            print("\n2. appends per second over HTTP (POST /api/journal, 64 concurrent, separate process)")
            p = ctx.Process(target=_http_appender, args=(port, token, args.seconds / 2, 64, 0.0, out))
            p.start()
            sent = out.get(timeout=args.seconds + 60)
            p.join()
            print(f"   hub over HTTP  {sent / (args.seconds / 2):>10,.0f} /s")

            print(
                f"\n3. append-to-delivery latency, {args.clients} WebSocket clients, {args.rate:.0f} events/s,"
                f" {args.seconds:.0f} s per run, hub and floor alternating, {args.repeat} runs each"
            )
            ws_url = f"ws://127.0.0.1:{port}/ws/events?token={token}"
            runs: list[tuple[list[float], list[float]]] = []
            for r in range(args.repeat):
                appender: list[Any] = []

                def start_hub_load(appender: list[Any] = appender) -> None:
                    q = ctx.Queue()
                    pr = ctx.Process(target=_http_appender, args=(port, token, args.seconds, 16, args.rate, q))
                    pr.start()
                    appender.append((pr, q))

                cpu0 = proc_cpu_s(proc.pid)
                hub_lat = run_latency(ws_url, args.clients, args.seconds, args.client_procs, start_hub_load, bare=False)
                hub_cpu = proc_cpu_s(proc.pid) - cpu0
                pr, q = appender[0]
                appended = q.get(timeout=60)
                pr.join()
                bport = free_port()
                bp = ctx.Process(target=_bare_broadcaster, args=(bport, args.rate, args.seconds, args.clients, FLUSH_S))
                bp.start()
                bare_lat = run_latency(
                    f"ws://127.0.0.1:{bport}/", args.clients, args.seconds, args.client_procs, lambda: None, bare=True
                )
                bp.join(30)
                runs.append((bare_lat, hub_lat))
                expected = appended * args.clients
                print(
                    f"   run {r + 1}: appended {appended} ({appended / args.seconds:.0f}/s), delivered {len(hub_lat)}"
                    f" of {expected}; hub CPU {hub_cpu / args.seconds * 100:.0f} % of a core;"
                    f" floor p50/p99 {pct(bare_lat, 0.5) * 1000:.1f}/{pct(bare_lat, 0.99) * 1000:.1f} ms,"
                    f" hub p50/p99 {pct(hub_lat, 0.5) * 1000:.1f}/{pct(hub_lat, 0.99) * 1000:.1f} ms"
                )
        finally:
            proc.terminate()
            proc.wait(20)

        def med(k: int, q: float) -> float:
            return statistics.median(pct(run[k], q) for run in runs) * 1000

        print(f"   median of {len(runs)} runs:")
        for k, name in ((0, "floor: bare websockets broadcast"), (1, "hub: HTTP append -> commit -> feed")):
            print(f"   {name:<36} p50 {med(k, 0.5):7.2f} ms   p99 {med(k, 0.99):7.2f} ms")
        print(
            f"   ratio hub/floor: p50 {med(1, 0.5) / med(0, 0.5):.1f}x, p99 {med(1, 0.99) / med(0, 0.99):.1f}x"
            "   (target: hub p99 < 50 ms)"
        )
    if args.cross_node:
        cross_node_section(args.cross_node, 100.0)
    print(f"\nmachine at the end: {machine()}")


if __name__ == "__main__":
    main()
