"""Benchmark of the incident desk, each figure beside a floor measured in the same run.

1. Transition latency at a fixed request rate over HTTP against a real hub process
   (verified -> assigned -> acknowledged -> on_site -> resolved -> closed chains), beside
   two floors at the same rate on the same server: GET /healthz (HTTP only) and
   POST /api/journal (auth + one durable append, no compare-and-set).
2. An alert storm: N camera alerts in S seconds over C cameras and 2 zones each, filed
   through an incident desk run inside this benchmark process (on its own SQLite log, as the
   hub runs it, but not the hub server itself); checks that exactly one open incident exists
   per camera and zone, with the right counts.

Run: .venv/bin/python scripts/bench_incidents.py [--rate 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from loadgen import RawHttp, login, machine, pct, proc_cpu_s, scratch_postgres, start_hub, wait_http  # noqa: E402

CHAIN: list[dict[str, Any]] = [
    {"to": "verified"},
    {"to": "assigned", "assignee": {"grid": "g"}},
    {"to": "acknowledged"},
    {"to": "on_site"},
    {"to": "resolved", "note": "done"},
    {"to": "closed"},
]
DIRECTORY = {
    "root": {
        "id": "d",
        "name": "D",
        "children": [
            {"id": "s", "name": "S", "children": [{"id": "c", "name": "C", "children": [{"id": "g", "name": "G"}]}]}
        ],
    }
}


async def paced(rate: float, seconds: float, concurrency: int, request) -> list[float]:  # type: ignore[no-untyped-def]
    """Issue ``request(conn, i)`` at ``rate``/s for ``seconds``; latencies in seconds."""
    lat: list[float] = []
    start = time.perf_counter()
    total = int(rate * seconds)
    next_i = 0

    async def worker(conn: RawHttp) -> None:
        nonlocal next_i
        while next_i < total:
            i = next_i
            next_i += 1
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t = time.perf_counter()
            await request(conn, i)
            lat.append(time.perf_counter() - t)

    conns = [RawHttp("127.0.0.1", PORT, TOKEN) for _ in range(concurrency)]
    await asyncio.gather(*(worker(c) for c in conns))
    return lat


PORT = 0
TOKEN = ""


async def http_section(rate: float, seconds: float, storage_url: str | None = None) -> None:
    global PORT, TOKEN
    from tests.conftest import free_port

    with tempfile.TemporaryDirectory() as d:
        PORT = free_port()
        extra: dict[str, Any] = {"directory": DIRECTORY}
        if storage_url:
            extra["storage"] = {"url": storage_url}
        proc = start_hub(Path(d), PORT, extra=extra)
        try:
            base = f"http://127.0.0.1:{PORT}"
            await wait_http(base + "/healthz")
            TOKEN = await login(base)
            n_incidents = int(rate * seconds / len(CHAIN)) + 16
            ids: list[int] = []
            opener = RawHttp("127.0.0.1", PORT, TOKEN)
            for k in range(n_incidents):
                status, body = await opener.request(
                    "POST", "/api/incidents", json.dumps({"category": "c", "title": f"t{k}", "node": "g"})
                )
                assert status == 201, status
                ids.append(json.loads(body)["incident"]["id"])

            async def healthz(conn: RawHttp, i: int) -> None:
                status, _ = await conn.request("GET", "/healthz")
                assert status == 200

            async def journal(conn: RawHttp, i: int) -> None:
                status, _ = await conn.request("POST", "/api/journal", json.dumps({"text": f"j{i}"}))
                assert status == 201

            # Round-robin over the incidents: one incident's next step comes len(ids) requests
            # later (seconds at this rate), long after its previous step was answered.
            progress = {iid: 0 for iid in ids}
            cursor = {"i": 0}

            async def transition(conn: RawHttp, i: int) -> None:
                iid = ids[cursor["i"] % len(ids)]
                cursor["i"] += 1
                step = progress[iid]
                if step >= len(CHAIN):
                    return
                progress[iid] = step + 1
                status, body = await conn.request(
                    "POST", f"/api/incidents/{iid}/transitions", json.dumps({**CHAIN[step], "version": step + 1})
                )
                assert status == 200, (status, body[:200])

            print(f"\n1. latency at {rate:.0f} requests/s over HTTP, {seconds:.0f} s each, real hub process")
            results = {}
            for name, fn in (
                ("floor: GET /healthz", healthz),
                ("floor: POST /api/journal (durable append)", journal),
                ("hub: POST /api/incidents/{id}/transitions", transition),
            ):
                cpu0 = proc_cpu_s(proc.pid)
                lat = await paced(rate, seconds, 32, fn)
                cpu = proc_cpu_s(proc.pid) - cpu0
                results[name] = lat
                print(
                    f"   {name:<44} n={len(lat):>5}  p50 {pct(lat, 0.5) * 1000:6.2f} ms"
                    f"  p99 {pct(lat, 0.99) * 1000:6.2f} ms  (hub CPU {cpu / seconds * 100:.0f} % of a core)"
                )
            hub = results["hub: POST /api/incidents/{id}/transitions"]
            floor = results["floor: POST /api/journal (durable append)"]
            print(
                f"   transitions vs durable-append floor: p50 {pct(hub, 0.5) / pct(floor, 0.5):.2f}x,"
                f" p99 {pct(hub, 0.99) / pct(floor, 0.99):.2f}x   (target: p99 < 20 ms)"
            )
        finally:
            proc.terminate()
            proc.wait(20)


async def storm_section(alerts: int, seconds: float, cameras: int) -> None:
    from alerts.clock import SystemClock
    from hub.config import Settings
    from hub.incidents.desk import IncidentDesk
    from hub.incidents.model import State
    from hub.people.directory import Directory
    from hub.store.bus import EventBus
    from hub.store.eventlog import EventLog

    print(
        f"\n2. alert storm: {alerts} alerts in {seconds:.0f} s over {cameras} cameras x 2 zones"
        " (an incident desk inside this benchmark process, on its own SQLite log; no hub server, no HTTP)"
    )
    with tempfile.TemporaryDirectory() as d:
        settings = Settings.model_validate(
            {"cameras": [{"id": f"cam{i}", "url": "synthetic://street"} for i in range(cameras)]}
        )
        log = EventLog(f"sqlite:///{d}/storm.db", EventBus())
        await log.open()
        desk = IncidentDesk(log, Directory(settings), settings.incidents, SystemClock())
        rng = random.Random(7)
        sent: Counter[tuple[str, str]] = Counter()
        lat: list[float] = []
        async with asyncio.TaskGroup() as tg:
            log.start(tg)
            start = time.perf_counter()

            async def one(i: int) -> None:
                cam, zone = f"cam{rng.randrange(cameras)}", rng.choice(["gate", "yard"])
                sent[(cam, zone)] += 1
                delay = start + i * seconds / alerts - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                t = time.perf_counter()
                await desk.on_alert({"camera": cam, "zone": zone, "kind": "intrusion", "alert_id": f"a{i}"})
                lat.append(time.perf_counter() - t)

            await asyncio.gather(*(one(i) for i in range(alerts)))
            took = time.perf_counter() - start
            open_incidents = await desk.find(states=[s.value for s in State if s.value in ("new",)], limit=10_000)
            await log.aclose()
        counts = {(i.camera, i.zone): i.count for i in open_incidents}
        exact = len(open_incidents) == len(sent) and counts == dict(sent)
        print(
            f"   filed in {took:.1f} s; on_alert p50 {pct(lat, 0.5) * 1000:.2f} ms, p99 {pct(lat, 0.99) * 1000:.2f} ms"
        )
        print(
            f"   camera/zone pairs alerted: {len(sent)}; open incidents: {len(open_incidents)};"
            f" counts match: {counts == dict(sent)}  -> {'OK' if exact else 'MISMATCH'}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--cameras", type=int, default=50)
    ap.add_argument(
        "--postgres",
        metavar="ADMIN_DSN",
        nargs="?",
        const="postgresql://postgres@127.0.0.1:5432/postgres",
        help="run section 1 on a scratch PostgreSQL database (created and dropped) instead of SQLite",
    )
    args = ap.parse_args()
    print(f"machine: {machine()}")
    if args.postgres:
        with scratch_postgres(args.postgres) as url:
            print(f"store: PostgreSQL ({url.rsplit('/', 1)[-1]})")
            asyncio.run(http_section(args.rate, args.seconds, url))
    else:
        print("store: SQLite (the default)")
        asyncio.run(http_section(args.rate, args.seconds))
    asyncio.run(storm_section(args.alerts, args.seconds, args.cameras))
    print(f"\nmachine at the end: {machine()}")


if __name__ == "__main__":
    main()
