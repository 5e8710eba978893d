"""A soak of a real hub process: does anything grow without bound over an hour of hard use?

    .venv/bin/python scripts/soak.py [--minutes 60] [--warmup 10] [--png soak.png]

For ``--minutes`` (60), all at once, against ``skyhub run`` on loopback:

- **cameras that die**: four RTSP cameras (GStreamer's RTSP server, as in the tests) whose server
  is killed and started again every 30 s; two generated street scenes with analysis, which raise
  alerts on every loop of the scene;
- **calls**: 500 call and briefing cycles (spread evenly) from aiortc clients: ring, both sides
  join with audio and video, a few frames, hang up;
- **WebSockets**: 10,000 connects and disconnects of ``/ws/events`` and ``/ws/worker``;
- **instructions**: a burst every two minutes to a grid of 50 simulated workers who acknowledge;
- **an alert storm**: every five minutes 100 incidents opened by hand, on top of the scenes' alerts.

Every 10 s it reads the hub's resident memory, open files, threads, asyncio tasks and store size;
a minute's row is the floor of its reads (a call in progress is load; a leak raises the floor).
From the first row after the warm-up (``--warmup``, a sixth of the run) to the last, none of the
first four may grow by more than 5 %; the store grows with the log by design, so it is shown per
event. The hub's log must have no error. It prints the table, draws the series into ``--png``
(matplotlib) and exits 1 if a check failed. Shorter runs scale the load (500 call cycles and
10,000 WebSocket connects an hour); ``--only`` runs some of the loads. ``--trace-memory`` runs
the hub under tracemalloc (``scripts/traced_hub.py``) and prints where its Python allocations grew
from the warm-up's end to the end of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import websockets
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.calls.conftest import BoxVideoTrack, Peer, ToneTrack  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.loadsim.workers import SimWorker, run_worker  # noqa: E402

SECRET = secrets.token_hex(24)
PASSWORD = "soak-password"
WORKERS = 50
GROWTH_MAX = 0.05
LOADS = ("calls", "ws", "instructions", "incidents", "cameras")
FLOORED = ("rss_mib", "open_files", "threads", "asyncio_tasks")
ANALYSIS = {"fps": 4, "width": 160, "height": 90}
RTSP_MOUNTS = [f"cam{i}=ball:320x240@10" for i in range(1, 5)]


def token(user: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + 6 * 3600}, SECRET, algorithm="HS256")


@dataclass
class Counts:
    """What the load did, and what failed."""

    done: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)

    def ok(self, what: str) -> None:
        self.done[what] = self.done.get(what, 0) + 1

    def bad(self, what: str, exc: BaseException) -> None:
        self.failed[what] = self.failed.get(what, 0) + 1
        self.last_error[what] = f"{type(exc).__name__}: {exc}"[:200]


def write_config(work: Path, rtsp_port: int) -> Path:
    from argon2 import PasswordHasher

    h = PasswordHasher().hash(PASSWORD)
    workers = [f"w{i:03d}" for i in range(WORKERS)]
    cameras: list[dict[str, Any]] = [
        {"id": f"rtsp-{i}", "url": f"rtsp://127.0.0.1:{rtsp_port}/cam{i}", "grid": "g", "analysis": {"enabled": False}}
        for i in range(1, 5)
    ]
    cameras += [
        {
            "id": f"scene-{i}",
            "url": "synthetic://street",
            "grid": "g",
            "analysis": {"fps": 4, "width": 160, "height": 90},
        }
        for i in range(1, 3)
    ]
    community = {"id": "c", "name": "Community", "children": [{"id": "g", "name": "Grid"}]}
    config = {
        "server": {"host": "127.0.0.1", "ice_addresses": ["127.0.0.1"]},
        "users": [
            {"username": "dispatcher", "roles": ["dispatcher"], "password_hash": h},
            {"username": "coordinator", "roles": ["coordinator"], "password_hash": h},
        ]
        + [{"username": w, "roles": ["worker"]} for w in workers],
        "directory": {
            "root": {
                "id": "d",
                "name": "District",
                "children": [{"id": "s", "name": "Street", "children": [community]}],
            },
            "people": [
                {"id": "dispatcher", "name": "Dispatcher", "roles": ["dispatcher"]},
                {"id": "coordinator", "name": "Coordinator", "roles": ["coordinator"]},
            ]
            + [{"id": w, "name": w, "roles": ["worker"], "grids": ["g"]} for w in workers],
        },
        "cameras": cameras,
    }
    path = work / "soak.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Rtsp:
    """The RTSP stand-in on a fixed port, killed and started again on demand."""

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["/usr/bin/python3", str(REPO / "scripts" / "rtsp_server.py"), "--port", str(self.port)]
        for m in RTSP_MOUNTS:
            cmd += ["--mount", m]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Hub:
    def __init__(self, work: Path, config: Path, traced: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = work / "data"
        self.log = work / "hub.log"
        self.trace_dir = work / "trace" if traced else None
        env = {**os.environ, "SKYHUB_SECRET": SECRET, "SKYHUB_ICE_ADDRESSES": "127.0.0.1"}
        cmd = [sys.executable, "-m", "hub", "run", "--config", str(config), "--port", str(self.port)]
        if self.trace_dir is not None:
            self.trace_dir.mkdir(parents=True, exist_ok=True)
            env["SKYHUB_TRACE_DIR"] = str(self.trace_dir)
            cmd[1:3] = [str(REPO / "scripts" / "traced_hub.py")]
        cmd += ["--data", str(self.data), "--log-level", "info"]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)

    async def ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as c, asyncio.timeout(60):
            while True:
                if self.proc.poll() is not None:
                    raise SystemExit("the hub exited at start:\n" + self.log.read_text()[-3000:])
                with contextlib.suppress(httpx.TransportError):
                    if (await c.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)

    async def snapshot(self) -> Path:
        """Have the traced hub write a snapshot of its allocations; the file's path once written."""
        assert self.trace_dir is not None
        n = len(list(self.trace_dir.glob("snapshot-*.pickle"))) + 1
        path = self.trace_dir / f"snapshot-{n}.pickle"
        self.proc.send_signal(signal.SIGUSR2)
        await poll(path.exists, 300)  # renamed into place once written whole
        return path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def proc_figures(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return {"rss_mib": rss / 2**20, "open_files": float(len(os.listdir(f"/proc/{pid}/fd"))), "threads": float(threads)}


async def sample(hub: Hub, c: httpx.AsyncClient) -> dict[str, float]:
    figures = proc_figures(hub.proc.pid)
    metrics = (await c.get("/metrics")).text
    m = re.search(r"^skyhub_asyncio_tasks (\S+)", metrics, re.MULTILINE)
    figures["asyncio_tasks"] = float(m.group(1)) if m else float("nan")
    figures["store_mib"] = sum(p.stat().st_size for p in hub.data.glob("skyhub.db*")) / 2**20
    figures["events"] = float((await c.get("/healthz")).json()["last_event_id"])
    return figures


async def login(url: str, user: str) -> httpx.AsyncClient:
    c = httpx.AsyncClient(base_url=url, timeout=30)
    r = await c.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    r.raise_for_status()
    c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return c


async def poll(fn: Any, timeout_s: float) -> None:
    t0 = time.monotonic()
    while not fn():
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.1)


async def one_call(hub: Hub, d: httpx.AsyncClient, n: int, counts: Counts) -> None:
    """A call (even n) or a briefing (odd n): ring, join with media, some frames, hang up."""
    briefing = n % 2 == 1
    who = [f"w{(n * 3 + k) % WORKERS:03d}" for k in range(3 if briefing else 1)]
    channels = [
        await websockets.connect(f"ws://127.0.0.1:{hub.port}/ws/calls?token={token(u)}", open_timeout=10) for u in who
    ]
    peers: list[Peer] = []
    clients = [
        httpx.AsyncClient(base_url=hub.url, timeout=30, headers={"Authorization": f"Bearer {token(u)}"}) for u in who
    ]
    try:
        for ch in channels:
            await asyncio.wait_for(ch.recv(), 10)
        if briefing:
            r = await d.post("/api/briefings", json={"node": "g"})
        else:
            r = await d.post("/api/calls", json={"to": who[0]})
        r.raise_for_status()
        cid = r.json()["id"]
        if briefing:  # the speaker sends; each listener hears the speaker and the floor, and sees the speaker
            me = Peer([("audio", "sendrecv", ToneTrack(440)), ("video", "sendonly", BoxVideoTrack())])
        else:
            me = Peer([("audio", "sendrecv", ToneTrack(440)), ("video", "sendrecv", BoxVideoTrack())])
        peers.append(me)
        (await me.connect(d, f"/api/calls/{cid}/media")).raise_for_status()
        for u, c in zip(who, clients, strict=True):
            if briefing:
                p = Peer(
                    [("audio", "sendrecv", ToneTrack(880)), ("audio", "recvonly", None), ("video", "recvonly", None)]
                )
            else:
                (await c.post(f"/api/calls/{cid}/accept")).raise_for_status()
                p = Peer([("audio", "sendrecv", ToneTrack(880)), ("video", "sendrecv", BoxVideoTrack())])
            peers.append(p)
            r = await p.connect(c, f"/api/calls/{cid}/media")
            if r.status_code != 201:
                raise RuntimeError(f"{u} could not join: {r.status_code} {r.text[:100]}")
        video = 2 if briefing else 1
        await poll(lambda: all(p.frames.get(video, 0) >= 5 for p in peers[1:]), 30)
        (await d.post(f"/api/calls/{cid}/hangup")).raise_for_status()
        counts.ok("briefings" if briefing else "calls")
    finally:
        for p in peers:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await p.close()
        for ch in channels:
            await ch.close()
        for c in clients:
            await c.aclose()


async def calls_load(hub: Hub, until: float, cycles: int, counts: Counts) -> None:
    d = await login(hub.url, "dispatcher")
    interval = (until - time.monotonic()) / cycles
    n = 0
    try:
        while time.monotonic() < until and n < cycles:
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(one_call(hub, d, n, counts), 60)
            except Exception as exc:
                counts.bad("calls", exc)
            n += 1
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - t0)))
    finally:
        await d.aclose()


async def ws_churn(hub: Hub, until: float, total: int, counts: Counts) -> None:
    interval = (until - time.monotonic()) / total
    n = 0
    while time.monotonic() < until and n < total:
        t0 = time.monotonic()
        path = "/ws/events" if n % 2 == 0 else "/ws/worker"
        user = "dispatcher" if n % 2 == 0 else f"w{n % WORKERS:03d}"
        try:
            async with websockets.connect(
                f"ws://127.0.0.1:{hub.port}{path}?token={token(user)}", open_timeout=10
            ) as ws:
                await asyncio.wait_for(ws.recv(), 10)
            counts.ok("ws")
        except Exception as exc:
            counts.bad("ws", exc)
        n += 1
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - t0)))


async def instructions_load(hub: Hub, until: float, counts: Counts) -> None:
    stop = asyncio.Event()
    sims = [SimWorker(f"w{i:03d}", token(f"w{i:03d}")) for i in range(WORKERS)]
    tasks = [asyncio.create_task(run_worker(s, hub.port, stop, None)) for s in sims]
    c = await login(hub.url, "coordinator")
    try:
        while time.monotonic() < until:
            try:
                for k in range(5):  # a burst
                    body = {"text": f"soak burst {k}", "priority": "urgent", "targets": {"nodes": ["g"]}}
                    (await c.post("/api/instructions", json=body)).raise_for_status()
                counts.ok("instruction bursts")
            except Exception as exc:
                counts.bad("instruction bursts", exc)
            await asyncio.sleep(min(120.0, max(0.0, until - time.monotonic())))
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await c.aclose()


async def alert_storm(hub: Hub, until: float, counts: Counts) -> None:
    d = await login(hub.url, "dispatcher")
    try:
        while time.monotonic() < until:
            try:
                for k in range(100):
                    body = {"category": "storm", "title": f"storm {k}", "node": "g"}
                    (await d.post("/api/incidents", json=body)).raise_for_status()
                counts.ok("incident storms")
            except Exception as exc:
                counts.bad("incident storms", exc)
            await asyncio.sleep(min(300.0, max(0.0, until - time.monotonic())))
    finally:
        await d.aclose()


async def camera_killer(rtsp: Rtsp, until: float, counts: Counts) -> None:
    while time.monotonic() < until:
        await asyncio.sleep(min(30.0, max(0.0, until - time.monotonic())))
        await asyncio.to_thread(rtsp.kill)
        await asyncio.to_thread(rtsp.start)
        counts.ok("camera restarts")


def memory_growth(first: Path, last: Path, top: int = 15) -> None:
    """Where Python's allocations grew between two snapshots of the traced hub, biggest first."""
    import tracemalloc

    a, b = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(last))
    diffs = b.compare_to(a, "traceback")
    total = sum(d.size_diff for d in diffs)
    print(f"\nPython allocations (tracemalloc) grew by {total / 2**20:+.1f} MiB; the biggest growth by place:")
    for stat in diffs[:top]:
        print(f"  {stat.size_diff / 2**10:+9.1f} KiB {stat.count_diff:+7d} blocks")
        for line in stat.traceback.format(limit=4, most_recent_first=True):
            print("      " + line.strip())


def draw(samples: list[dict[str, float]], warmup_min: float, png: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(no matplotlib: {png} not drawn; pip install matplotlib)")
        return
    keys = ["rss_mib", "open_files", "threads", "asyncio_tasks", "store_mib"]
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 2.2 * len(keys)), sharex=True)
    minutes = [s["minute"] for s in samples]
    for ax, k in zip(axes, keys, strict=True):
        ax.plot(minutes, [s[k] for s in samples], marker=".")
        ax.axvline(warmup_min, color="grey", linestyle="--")
        ax.set_ylabel(k)
    axes[-1].set_xlabel("minutes")
    fig.suptitle("skyhub soak: the hub process over time (dashed: end of warm-up)")
    fig.tight_layout()
    fig.savefig(png)
    print(f"series drawn into {png}")


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=None, help="minutes not judged (default: a sixth of the run)")
    ap.add_argument("--calls", type=int, default=None, help="call and briefing cycles over the run (500 an hour)")
    ap.add_argument("--ws", type=int, default=None, help="WebSocket connects over the run (10,000 an hour)")
    ap.add_argument(
        "--only",
        default=",".join(LOADS),
        help=f"comma-separated loads to run, to find which one grows something (default: all of {', '.join(LOADS)})",
    )
    ap.add_argument(
        "--trace-memory",
        action="store_true",
        help="run the hub under tracemalloc and show where its Python allocations grew after the warm-up (slow)",
    )
    ap.add_argument("--png", type=Path, default=Path("soak.png"))
    ap.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    args = ap.parse_args()
    if unknown := set(args.only.split(",")) - set(LOADS):
        ap.error(f"no such load: {', '.join(sorted(unknown))}")
    if args.warmup is None:
        args.warmup = args.minutes / 6
    if args.calls is None:
        args.calls = round(500 * args.minutes / 60)
    if args.ws is None:
        args.ws = round(10_000 * args.minutes / 60)
    import tempfile

    def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # The soak's own aiortc clients, closed while still connecting: their noise, not the hub's.
        if type(context.get("exception")).__name__ == "InvalidStateError":
            return
        loop.default_exception_handler(context)

    asyncio.get_running_loop().set_exception_handler(quiet)
    work = args.work or Path(tempfile.mkdtemp(prefix="skyhub-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    rtsp = Rtsp(free_port(), work / "rtsp.log")
    rtsp.start()
    hub = Hub(work, write_config(work, rtsp.port), traced=args.trace_memory)
    snapshots: list[Path] = []
    counts = Counts()
    samples: list[dict[str, float]] = []
    try:
        await hub.ready()
        t0 = time.monotonic()
        until = t0 + args.minutes * 60
        loads = {
            "calls": lambda: calls_load(hub, until, args.calls, counts),
            "ws": lambda: ws_churn(hub, until, args.ws, counts),
            "instructions": lambda: instructions_load(hub, until, counts),
            "incidents": lambda: alert_storm(hub, until, counts),
            "cameras": lambda: camera_killer(rtsp, until, counts),
        }
        load = [asyncio.create_task(loads[name]()) for name in args.only.split(",")]
        admin = await login(hub.url, "dispatcher")
        print(f"soak: {args.minutes:.0f} min on {os.cpu_count()} cores, working in {work}")
        print(f"{'min':>5} {'RSS MiB':>8} {'files':>6} {'threads':>7} {'tasks':>6} {'store MiB':>9} {'events':>8}")
        while True:
            # A row is the floor of the minute's figures, read every 10 s: what a call or a camera in
            # the middle of its restart holds for a moment is load, not growth; a leak raises the floor.
            minute_end = min(until, time.monotonic() + 60.0)
            reads = [await sample(hub, admin)]
            while time.monotonic() < minute_end - 1:
                await asyncio.sleep(min(10.0, minute_end - time.monotonic()))
                reads.append(await sample(hub, admin))
            s = {k: min(r[k] for r in reads) for k in FLOORED} | {k: reads[-1][k] for k in ("store_mib", "events")}
            s["minute"] = (time.monotonic() - t0) / 60
            samples.append(s)
            if hub.trace_dir is not None and not snapshots and s["minute"] >= args.warmup:
                snapshots.append(await hub.snapshot())
            print(
                f"{s['minute']:5.1f} {s['rss_mib']:8.1f} {s['open_files']:6.0f} {s['threads']:7.0f} "
                f"{s['asyncio_tasks']:6.0f} {s['store_mib']:9.1f} {s['events']:8.0f}",
                flush=True,
            )
            if time.monotonic() >= until - 1:
                break
        await asyncio.gather(*load, return_exceptions=True)
        metrics = (await admin.get("/metrics")).text
        found = dict(re.findall(r"^skyhub_rtc_(collections|collection_seconds)_total (\S+)", metrics, re.MULTILINE))
        if found:
            n, took = float(found.get("collections", 0)), float(found.get("collection_seconds", 0))
            print(f"collections after peers closed: {n:.0f}, {1000 * took / max(n, 1):.1f} ms each on average")
        await admin.aclose()
        if snapshots:
            snapshots.append(await hub.snapshot())
    finally:
        hub.stop()
        rtsp.kill()
    print("\nload:", ", ".join(f"{k} {v}" for k, v in sorted(counts.done.items())))
    if counts.failed:
        print("failed:", ", ".join(f"{k} {v} (last: {counts.last_error[k]})" for k, v in sorted(counts.failed.items())))
    failed = False
    after = [s for s in samples if s["minute"] >= args.warmup]
    if len(after) < 2:
        print(f"too short to judge growth: {len(after)} samples after the {args.warmup:.0f}-minute warm-up")
        failed = True
    else:
        print(f"\ngrowth after the warm-up (minute {after[0]['minute']:.0f} to the end; the peak for reference):")
        for k in FLOORED:
            base, last, top = after[0][k], after[-1][k], max(s[k] for s in after)
            growth = (last - base) / base if base else 0.0
            ok = growth <= GROWTH_MAX
            failed |= not ok
            print(f"  {k:14} {base:8.1f} -> {last:8.1f}  {growth:+6.1%}  (peak {top:.1f})  {'ok' if ok else 'GREW'}")
        events = after[-1]["events"] - after[0]["events"]
        grown = (after[-1]["store_mib"] - after[0]["store_mib"]) * 2**20
        per = grown / events if events else float("nan")
        print(f"  store: {events:.0f} events after the warm-up, {per:.0f} bytes per event (the log grows by design)")
    errors = [
        ln for ln in hub.log.read_text(errors="replace").splitlines() if " ERROR " in ln or ln.startswith("Traceback")
    ]
    print(f"hub log errors: {len(errors)}")
    for ln in errors[:10]:
        print("  " + ln[:200])
    failed |= bool(errors)
    if len(snapshots) == 2:
        memory_growth(*snapshots)
    draw(samples, args.warmup, args.png)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
