"""Camera ingest benchmark: the hub's CameraManager against a bare PyAV loop (not a test).

N simulated cameras come from the GStreamer RTSP stand-in: every camera has a main stream
(1280x720 at 25 fps, about 3 Mbit/s) and a sub-stream (640x360 at 10 fps). All main URLs share
one encoder and all sub URLs another (``shared=1`` mounts, ``/main?cam=7``), so the stand-in stays
cheap; its CPU is reported apart.

For each N, two phases run in fresh subprocesses, one after the other:

* floor: bare PyAV, one thread per stream: demux the main stream; demux and decode the sub-stream,
  scaling to a 160x90 gray frame 5 times a second;
* hub: ``CameraManager`` with the same cameras (``url`` = main, ``analysis_url`` = sub, analysis at
  5 fps) and one viewer subscription per camera draining the relayed main packets.

Prints CPU per camera for both, their ratio, and whether every camera held its full rate.

    .venv/bin/python scripts/bench_ingest.py --counts 8,16,24,32 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MAIN_FPS = 25
SUB_FPS = 10
ANALYSIS_FPS = 5
OPTIONS = {"rtsp_transport": "tcp", "analyzeduration": "300000", "probesize": "65536"}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- floor ----------------------------------------------------------------------------------------


def floor_phase(base: str, n: int, warmup_s: float, seconds: float) -> dict[str, Any]:
    import av

    stop = threading.Event()
    counts: dict[str, int] = {}
    measuring = threading.Event()

    def run(url: str, key: str, decode: bool) -> None:
        with av.open(url, options=OPTIONS, timeout=(10, 10)) as c:
            s = c.streams.video[0]
            s.codec_context.thread_count = 1
            next_at = 0.0
            for pkt in c.demux(s):
                if stop.is_set():
                    break
                if pkt.size == 0:
                    continue
                if decode:
                    for frame in s.codec_context.decode(pkt):
                        now = time.monotonic()
                        if now >= next_at - 0.25 / ANALYSIS_FPS:
                            next_at = max(next_at + 1 / ANALYSIS_FPS, now - 1 / ANALYSIS_FPS)
                            frame.reformat(width=160, height=90, format="gray").to_ndarray()
                else:
                    bytes(pkt)
                if measuring.is_set():
                    counts[key] = counts.get(key, 0) + 1

    threads = []
    for i in range(n):
        for kind, decode in (("main", False), ("sub", True)):
            t = threading.Thread(target=run, args=(f"{base}/{kind}?cam={i}", f"{kind}{i}", decode), daemon=True)
            t.start()
            threads.append(t)
    time.sleep(warmup_s)
    c0, t0 = cpu_s(), time.monotonic()
    measuring.set()
    time.sleep(seconds)
    measuring.clear()
    c1, t1 = cpu_s(), time.monotonic()
    stop.set()
    for t in threads:
        t.join(5)
    wall = t1 - t0
    main_fps = [counts.get(f"main{i}", 0) / wall for i in range(n)]
    sub_fps = [counts.get(f"sub{i}", 0) / wall for i in range(n)]
    return {"cpu": (c1 - c0) / wall, "main_fps_min": min(main_fps), "sub_fps_min": min(sub_fps), "drops": 0}


# -- hub ------------------------------------------------------------------------------------------


async def hub_phase(base: str, n: int, warmup_s: float, seconds: float, data_dir: Path) -> dict[str, Any]:
    from hub.config import CameraConfig
    from streams.manager import CameraManager

    async def emit(event_type: str, camera_id: str, data: dict[str, Any]) -> None:
        pass

    cams = [
        CameraConfig(
            id=f"cam{i}",
            url=f"{base}/main?cam={i}",
            analysis_url=f"{base}/sub?cam={i}",
            analysis={"fps": ANALYSIS_FPS},  # type: ignore[arg-type]
        )
        for i in range(n)
    ]
    manager = CameraManager(cams, emit, data_dir)
    await manager.start()
    received = [0] * n
    analysed = [0] * n
    measuring = False
    slots = []

    async def viewer(i: int) -> None:
        cam = manager.get(f"cam{i}")
        assert cam is not None
        sub = cam.subscribe(name="bench")
        async for _ in sub:
            if measuring:
                received[i] += 1

    async def analysis(i: int) -> None:
        cam = manager.get(f"cam{i}")
        assert cam is not None
        slot = cam.frames()
        slots.append(slot)
        async for _ in slot:
            if measuring:
                analysed[i] += 1

    tasks = [asyncio.create_task(viewer(i)) for i in range(n)] + [asyncio.create_task(analysis(i)) for i in range(n)]
    await asyncio.sleep(warmup_s)
    c0, t0 = cpu_s(), time.monotonic()
    measuring = True
    await asyncio.sleep(seconds)
    measuring = False
    c1, t1 = cpu_s(), time.monotonic()
    health = manager.health_all()
    for slot in slots:
        slot.close()
    await manager.stop()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    wall = t1 - t0
    return {
        "cpu": (c1 - c0) / wall,
        "main_fps_min": min(r / wall for r in received),
        "sub_fps_min": min(a / wall for a in analysed),
        "drops": sum(h["viewer_drops"] + h["loop_drops"] for h in health),
        "states": sorted({h["state"] for h in health}),
    }


# -- orchestration --------------------------------------------------------------------------------


def run_phase(phase: str, base: str, n: int, warmup: float, seconds: float, data_dir: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, "--base", base, "--n", str(n)]
    cmd += ["--warmup", str(warmup), "--seconds", str(seconds), "--data", str(data_dir)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=warmup + seconds + 120)
    if out.returncode != 0:
        raise RuntimeError(f"{phase} N={n} failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--counts", default="8,16,24,32")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--phase", choices=["floor", "hub"], help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--data", default="/tmp/skyhub-bench", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.phase == "floor":
        print(json.dumps(floor_phase(a.base, a.n, a.warmup, a.seconds)))
        return 0
    if a.phase == "hub":
        print(json.dumps(asyncio.run(hub_phase(a.base, a.n, a.warmup, a.seconds, Path(a.data)))))
        return 0

    import socket

    port = a.port
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    server = subprocess.Popen(
        ["/usr/bin/python3", str(REPO / "scripts" / "rtsp_server.py"), "--port", str(port),
         "--mount", "main=ball:1280x720@25,bitrate=3000,shared=1",
         "--mount", "sub=ball:640x360@10,bitrate=500,shared=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        if "READY" not in server.stdout.readline():
            raise RuntimeError("RTSP stand-in did not start")
        base = f"rtsp://127.0.0.1:{port}"
        print(f"ingest benchmark: {os.cpu_count()} cores, main 1280x720@{MAIN_FPS} ~3 Mbit/s, "
              f"sub 640x360@{SUB_FPS} decoded at {ANALYSIS_FPS} fps; {a.seconds:.0f} s per phase")  # fmt: skip
        print(f"{'N':>3} {'floor %CPU/cam':>15} {'hub %CPU/cam':>13} {'ratio':>6} {'stand-in %CPU':>14} "
              f"{'hub main fps min':>17} {'hub analysed min':>17} {'drops':>6} {'full rate':>9}")  # fmt: skip
        best = 0
        for n in (int(x) for x in a.counts.split(",")):
            s0, w0 = proc_cpu_s(server.pid), time.monotonic()
            floor = run_phase("floor", base, n, a.warmup, a.seconds, Path(a.data))
            hub = run_phase("hub", base, n, a.warmup, a.seconds, Path(a.data))
            stand_in = (proc_cpu_s(server.pid) - s0) / (time.monotonic() - w0)
            ok = (
                hub["main_fps_min"] >= MAIN_FPS * 0.95
                and hub["sub_fps_min"] >= ANALYSIS_FPS * 0.9
                and hub["drops"] == 0
                and hub["states"] == ["online"]
            )
            best = n if ok else best
            print(f"{n:>3} {100 * floor['cpu'] / n:>15.2f} {100 * hub['cpu'] / n:>13.2f} "
                  f"{hub['cpu'] / floor['cpu']:>6.2f} {100 * stand_in:>14.1f} {hub['main_fps_min']:>17.1f} "
                  f"{hub['sub_fps_min']:>17.1f} {hub['drops']:>6} {'yes' if ok else 'NO':>9}",
                  flush=True)  # fmt: skip
            sys.stdout.flush()
        print(f"largest N with every camera at full rate and no drops: {best}")
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
