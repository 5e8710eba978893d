"""GB/T 28181 ingest benchmark: N channels of one simulated NVR against the same video over RTSP
(not a test).

The RTSP stand-in (``scripts/rtsp_server.py``, one shared encoder, 1280x720 at 25 fps, 2 Mbit/s
H.264) serves the RTSP phase; ten seconds of that same stream, recorded to a file, are what the
simulated device (``scripts/gb_device.py``) streams as PS over RTP on UDP for the GB phase. Each
phase runs in a fresh subprocess with the hub's own ingest (``CameraManager``; for GB also the
SIP platform inviting every channel), one viewer subscription per camera draining the relayed
packets, analysis off on both sides. Phases alternate ``--rounds`` times and medians are printed:

* hub CPU per camera, GB against RTSP (the target is a ratio of at most 1.3);
* the lowest relayed frame rate of any camera and the RTP packets lost (at 0 % loss: target 0);
* invite → first relayed keyframe, p50 and p95 over the channels (the INVITE is sent when the
  camera's reader opens its source; a WHEP player's first frame follows the relayed keyframe by
  its own ICE/DTLS set-up, measured in ``scripts/bench_webrtc.py``);
* the device process's CPU, apart.

    .venv/bin/python scripts/bench_gb28181.py --n 32 --seconds 8 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_ingest import Window  # noqa: E402

FPS = 25
PASSWORD = "bench-gb-password"
DEVICE = "35050200001180000001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def record(url: str, path: Path, seconds: float) -> None:
    """``seconds`` of an RTSP stream remuxed to an MP4 file (no re-encoding)."""
    import av

    inp = av.open(url, options={"rtsp_transport": "tcp"})
    vs = inp.streams.video[0]
    out = av.open(str(path), "w")
    os_ = out.add_stream_from_template(vs)
    first = None
    for pkt in inp.demux(vs):
        if pkt.dts is None:
            continue
        if first is None:
            if not pkt.is_keyframe:
                continue
            first = pkt.dts
        if (pkt.dts - first) * float(vs.time_base or 0) > seconds:
            break
        pkt.stream = os_
        out.mux(pkt)
    out.close()
    inp.close()


async def _drain(cam: Any, received: list[int], i: int, first: list[float | None], state: dict[str, bool]) -> None:
    sub = cam.subscribe(name="bench")
    async for _ in sub:
        if first[i] is None:
            first[i] = time.monotonic()
        if state["measuring"]:
            received[i] += 1


async def rtsp_phase(base: str, n: int, warmup_s: float, seconds: float, data: Path, pid: int) -> dict[str, Any]:
    from hub.config import CameraConfig
    from streams.manager import CameraManager

    async def emit(*_: Any) -> None:
        pass

    cams = [CameraConfig(id=f"cam{i}", url=f"{base}/main?cam={i}", analysis={"enabled": False}) for i in range(n)]
    manager = CameraManager(cams, emit, data)
    await manager.start()
    received: list[int] = [0] * n
    first: list[float | None] = [None] * n
    state = {"measuring": False}
    tasks = [asyncio.create_task(_drain(manager.get(f"cam{i}"), received, i, first, state)) for i in range(n)]
    await asyncio.sleep(warmup_s)
    with Window(pid) as win:
        state["measuring"] = True
        await asyncio.sleep(seconds)
        state["measuring"] = False
    health = manager.health_all()
    await manager.stop()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        **win.figures(),
        "fps_min": min(r / win.wall for r in received),
        "drops": sum(h["viewer_drops"] + h["loop_drops"] for h in health),
    }


async def gb_phase(clip: str, n: int, warmup_s: float, seconds: float, data: Path) -> dict[str, Any]:
    from hub.config import AnalysisConfig, CameraConfig
    from streams.gb28181 import source
    from streams.gb28181.config import Gb28181Config
    from streams.gb28181.platform import GbPlatform
    from streams.manager import CameraManager

    async def emit(*_: Any) -> None:
        pass

    manager = CameraManager([], emit, data)
    await manager.start()
    received: list[int] = [0] * n
    first: list[float | None] = [None] * n
    started: list[float] = []
    state = {"measuring": False}
    tasks: list[asyncio.Task[None]] = []

    async def on_device(*_: Any) -> None:
        pass

    async def on_channels(device: str, channels: list[Any]) -> None:
        for ch in channels:
            if manager.get(f"gb-{ch.id}") is not None:
                continue
            cfg = CameraConfig(
                id=f"gb-{ch.id}", url=f"gb28181://{device}/{ch.id}", analysis=AnalysisConfig(enabled=False)
            )
            i = len(started)
            started.append(time.monotonic())
            cam = await manager.pulled_camera(cfg)
            tasks.append(asyncio.create_task(_drain(cam, received, i, first, state)))

    base = free_port()
    config = Gb28181Config(
        enabled=True, host="127.0.0.1", port=0, media_host="127.0.0.1", media_ports=(base, base + n + 8),
        devices=[{"id": DEVICE}], keepalive_s=5,
    )  # fmt: skip
    platform = GbPlatform(config, on_device, on_channels, {"SKYHUB_GB_PASSWORD": PASSWORD})
    await platform.start()
    source.attach(platform)
    device = start_device(platform.port, n, clip)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # every channel invited and its first keyframe relayed
            if len(started) == n and all(f is not None for f in first):
                break
            await asyncio.sleep(0.1)  # noqa: ASYNC110 - polling the reader threads' progress
        await asyncio.sleep(warmup_s)
        lost0 = platform.rtp_stats().lost
        with Window(device.pid) as win:
            state["measuring"] = True
            await asyncio.sleep(seconds)
            state["measuring"] = False
        rtp = platform.rtp_stats()
        health = manager.health_all()
    finally:
        device.terminate()
        device.wait(10)
        await manager.stop()
        source.detach(platform)
        await platform.aclose()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies = sorted(f - s for f, s in zip(first, started, strict=False) if f is not None)
    return {
        **win.figures(),
        "fps_min": min(r / win.wall for r in received) if len(received) == n else 0.0,
        "drops": sum(h["viewer_drops"] + h["loop_drops"] for h in health),
        "rtp_lost": rtp.lost - lost0,
        "rtp_lost_all": rtp.lost,
        "channels": len(latencies),
        "first_p50": statistics.median(latencies) if latencies else None,
        "first_p95": latencies[max(0, int(0.95 * len(latencies)) - 1)] if latencies else None,
    }


def start_device(port: int, n: int, clip: str) -> subprocess.Popen[bytes]:
    """The simulated NVR with ``n`` channels, registering with the platform on ``port``."""
    return subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "gb_device.py"), "--server", f"127.0.0.1:{port}",
         "--device", DEVICE, "--channels", str(n), "--per-message", "8", "--file", clip, "--keepalive", "5"],
        env={**os.environ, "SKYHUB_GB_PASSWORD": PASSWORD}, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def run_phase(phase: str, a: argparse.Namespace, base: str, clip: str, pid: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, "--n", str(a.n), "--base", base, "--clip", clip]
    cmd += ["--warmup", str(a.warmup), "--seconds", str(a.seconds), "--server-pid", str(pid), "--data", a.data]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.warmup + a.seconds + 180)
    if out.returncode != 0:
        raise RuntimeError(f"{phase} failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--n", type=int, default=32, help="channels (and RTSP cameras)")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--phase", choices=["rtsp", "gb"], help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--clip", help=argparse.SUPPRESS)
    p.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--data", default="/tmp/skyhub-bench-gb", help=argparse.SUPPRESS)
    a = p.parse_args()
    data = Path(a.data)
    data.mkdir(parents=True, exist_ok=True)
    if a.phase == "rtsp":
        print(json.dumps(asyncio.run(rtsp_phase(a.base, a.n, a.warmup, a.seconds, data, a.server_pid))))
        return 0
    if a.phase == "gb":
        print(json.dumps(asyncio.run(gb_phase(a.clip, a.n, a.warmup, a.seconds, data))))
        return 0
    port = free_port()
    server = subprocess.Popen(
        ["/usr/bin/python3", str(REPO / "scripts" / "rtsp_server.py"), "--port", str(port),
         "--mount", "main=ball:1280x720@25,bitrate=2000,shared=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        if "READY" not in server.stdout.readline():
            raise RuntimeError("RTSP stand-in did not start")
        base = f"rtsp://127.0.0.1:{port}"
        clip = data / "main-720p-2M.mp4"
        record(f"{base}/main?cam=rec", clip, 10.0)
        print(f"GB/T 28181 benchmark: {os.cpu_count()} cores, {a.n} channels of 1280x720@{FPS} ~2 Mbit/s "
              f"H.264, {a.seconds:g} s measured per phase, {a.rounds} RTSP/GB rounds (medians); "
              "CPU in % of one core")  # fmt: skip
        rtsps: list[dict[str, Any]] = []
        gbs: list[dict[str, Any]] = []
        for _ in range(a.rounds):
            rtsps.append(run_phase("rtsp", a, base, str(clip), server.pid))
            gbs.append(run_phase("gb", a, base, str(clip), server.pid))
        r_cpu = statistics.median(r["cpu"] for r in rtsps)
        g_cpu = statistics.median(g["cpu"] for g in gbs)
        print(f"hub CPU, RTSP: {100 * r_cpu:.1f} % ({100 * r_cpu / a.n:.2f} %/camera), "
              f"fps min {min(r['fps_min'] for r in rtsps):.1f}, drops {max(r['drops'] for r in rtsps)}")  # fmt: skip
        print(f"hub CPU, GB:   {100 * g_cpu:.1f} % ({100 * g_cpu / a.n:.2f} %/channel), "
              f"fps min {min(g['fps_min'] for g in gbs):.1f}, drops {max(g['drops'] for g in gbs)}, "
              f"RTP lost in the window {max(g['rtp_lost'] for g in gbs)} "
              f"(whole run {max(g['rtp_lost_all'] for g in gbs)})")  # fmt: skip
        print(f"ratio GB / RTSP: {g_cpu / r_cpu:.2f} (target <= 1.3)")
        p50 = statistics.median(g["first_p50"] for g in gbs)
        p95 = max(g["first_p95"] for g in gbs)
        print(f"invite -> first relayed keyframe over {gbs[0]['channels']} channels: "
              f"p50 {1000 * p50:.0f} ms, p95 {1000 * p95:.0f} ms (worst round)")  # fmt: skip
        device_cpu = statistics.median(g["stand_in"] for g in gbs)
        busy = statistics.median(g["machine"] for g in gbs) / (os.cpu_count() or 1)
        print(f"device process CPU: {100 * device_cpu:.1f} %, machine busy {100 * busy:.0f} %")
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
