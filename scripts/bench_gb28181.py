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

Then a real hub (``python -m hub run``, GB channels not analysed: invited on demand) with the same
clip on ``--viewers`` channels, and on one more channel the clip re-encoded to H.265 by the
simulator (``--h265``, libx265) with no H.264 sub-stream:

* invite → first frame on a WHEP player: an aiortc player offers to a channel on standby (the offer
  makes the hub send the INVITE) and decodes; the time from the offer to its first decoded frame,
  p50 and p95 over the channels, one after the other;
* one shared H.265 → H.264 transcode at 720p while one player watches: the transcode thread's CPU
  (decode, scale, libx264 encode) as a share of a core, and the whole hub's CPU meanwhile.

    .venv/bin/python scripts/bench_gb28181.py --n 32 --seconds 8 --rounds 2 --viewers 16
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
from loadgen import start_rtsp_stand_in  # noqa: E402

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
    from alerts.config import AnalysisConfig
    from hub.config import CameraConfig
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


def start_device(port: int, n: int, clip: str, device: str = DEVICE, *more: str) -> subprocess.Popen[bytes]:
    """The simulated NVR with ``n`` channels, registering with the platform on ``port``."""
    return subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "gb_device.py"), "--server", f"127.0.0.1:{port}",
         "--device", device, "--channels", str(n), "--per-message", "8", "--file", clip, "--keepalive", "5", *more],
        env={**os.environ, "SKYHUB_GB_PASSWORD": PASSWORD}, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )  # fmt: skip


class HubProcess:
    """``python -m hub run`` as a GB/T 28181 platform, GB channels invited on demand; CPU from /proc."""

    def __init__(self, workdir: Path) -> None:
        from argon2 import PasswordHasher

        self.port = free_port()
        self.sip_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        media = free_port()
        cfg = workdir / "bench-hub.yaml"
        hashed = PasswordHasher().hash(PASSWORD)
        cfg.write_text(
            "server:\n  ice_addresses: [127.0.0.1]\n"
            f"users:\n  - username: dispatcher\n    roles: [dispatcher]\n    password_hash: '{hashed}'\n"
            "calls:\n  max_viewers_per_user: 1000\n  max_views_of_a_camera_per_user: 100\n"
            f"gb28181:\n  enabled: true\n  host: 127.0.0.1\n  port: {self.sip_port}\n  media_host: 127.0.0.1\n"
            f"  media_ports: [{media}, {media + 200}]\n  accept_any: true\n  analysis: false\n"
            "  idle_bye_s: 2\n  substream: false\n  keepalive_s: 5\n"
        )
        env = {**os.environ, "SKYHUB_SECRET": os.urandom(24).hex(), "SKYHUB_LOG_LEVEL": "warning"}
        env["SKYHUB_GB_PASSWORD"] = PASSWORD
        cmd = [sys.executable, "-m", "hub", "run", "--config", str(cfg), "--port", str(self.port)]
        cmd += ["--data", str(workdir / "hub-data")]
        self.proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.headers: dict[str, str] = {}

    async def ready(self, client: Any) -> None:
        import httpx

        for _ in range(300):
            try:
                if (await client.get(self.url + "/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        r = await client.post(self.url + "/api/auth/login", json={"username": "dispatcher", "password": PASSWORD})
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def cameras(self, client: Any) -> dict[str, dict[str, Any]]:
        r = await client.get(self.url + "/api/cameras", headers=self.headers)
        return {c["id"]: c for c in r.json() if c["id"].startswith("gb-")}

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Player:
    """An aiortc WHEP player that counts decoded frames and notes when the first came."""

    def __init__(self) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection

        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver("video", direction="recvonly")
        self.first: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.frames = 0
        self.location = ""
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", lambda track: self._tasks.append(asyncio.create_task(self._read(track))))

    async def _read(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                await track.recv()
                self.frames += 1
                if not self.first.done():
                    self.first.set_result(time.monotonic())
        except MediaStreamError:
            pass

    async def play(self, client: Any, hub: HubProcess, camera: str) -> float:
        """Offer; returns the monotonic time the offer was sent."""
        from aiortc import RTCSessionDescription

        from hub.calls.ice import pin_host_addresses

        offer = await self.pc.createOffer()
        pin_host_addresses(self.pc, ["127.0.0.1"])
        await self.pc.setLocalDescription(offer)
        headers = {**hub.headers, "Content-Type": "application/sdp"}
        t0 = time.monotonic()
        r = await client.post(f"{hub.url}/whep/{camera}", content=self.pc.localDescription.sdp, headers=headers)
        if r.status_code != 201:
            raise RuntimeError(f"WHEP {camera}: {r.status_code} {r.text}")
        self.location = r.headers["location"]
        await self.pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
        return t0

    async def close(self, client: Any, hub: HubProcess) -> None:
        if self.location:
            await client.delete(hub.url + self.location, headers=hub.headers)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()


async def viewers_phase(clip: str, k: int, seconds: float, data: Path) -> dict[str, Any]:
    """Invite → first frame on WHEP players over ``k`` standby channels, and one H.265 transcode."""
    import httpx

    hub = HubProcess(data)
    devices: list[subprocess.Popen[bytes]] = []
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await hub.ready(client)
            devices.append(start_device(hub.sip_port, k, clip))
            hevc_device = "35050200011180000001"  # another prefix: its channel ids differ from the first's
            devices.append(start_device(hub.sip_port, 1, clip, hevc_device, "--h265", "--h265-seconds", "10"))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                cams = await hub.cameras(client)
                if len(cams) == k + 1 and all(c["state"] == "standby" for c in cams.values()):
                    break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"the GB channels did not all come, on standby: {len(cams)} of {k + 1}")
            h264 = sorted(c for c in cams if c[3:13] == DEVICE[:10])
            (hevc,) = (c for c in cams if c[3:13] == hevc_device[:10])
            # Invite → first decoded frame, channel by channel, each on standby when offered.
            firsts: list[float] = []
            for cam in h264[:k]:
                player = Player()
                t0 = await player.play(client, hub, cam)
                try:
                    firsts.append(await asyncio.wait_for(player.first, 20) - t0)
                except TimeoutError:
                    firsts.append(float("nan"))
                await player.close(client, hub)
            # One shared transcode at 720p, while one player watches.
            idle0, t_idle = hub.cpu_s(), time.monotonic()
            await asyncio.sleep(seconds)
            idle = (hub.cpu_s() - idle0) / (time.monotonic() - t_idle)
            player = Player()
            await player.play(client, hub, hevc)
            await asyncio.wait_for(player.first, 30)
            await asyncio.sleep(3.0)
            cam0 = (await hub.cameras(client))[hevc]
            cpu0, frames0, t0 = hub.cpu_s(), player.frames, time.monotonic()
            await asyncio.sleep(seconds)
            wall = time.monotonic() - t0
            cam1 = (await hub.cameras(client))[hevc]
            hub_cpu = (hub.cpu_s() - cpu0) / wall
            fps = (player.frames - frames0) / wall
            await player.close(client, hub)
    finally:
        for dev in devices:
            dev.terminate()
            dev.wait(10)
        hub.stop()
    ok = sorted(f for f in firsts if f == f)
    tc0, tc1 = cam0["transcode"], cam1["transcode"]
    return {
        "channels": len(firsts),
        "failed": len(firsts) - len(ok),
        "first_p50": statistics.median(ok) if ok else None,
        "first_p95": ok[max(0, int(0.95 * len(ok) + 0.5) - 1)] if ok else None,
        "transcode_cpu": (tc1["cpu_s"] - tc0["cpu_s"]) / wall,
        "transcode_frames": tc1["frames"] - tc0["frames"],
        "transcode_dropped": tc1["dropped"],
        "hevc_size": f"{cam1['width']}x{cam1['height']}",
        "player_fps": fps,
        "hub_cpu_watched": hub_cpu,
        "hub_cpu_idle": idle,
        "wall": wall,
    }


def run_phase(phase: str, a: argparse.Namespace, base: str, clip: str, pid: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, "--n", str(a.n), "--base", base, "--clip", clip]
    cmd += ["--warmup", str(a.warmup), "--seconds", str(a.seconds), "--server-pid", str(pid), "--data", a.data]
    cmd += ["--viewers", str(a.viewers)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.warmup + 3 * a.seconds + 40 * a.viewers + 300)
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
    p.add_argument("--viewers", type=int, default=16, help="channels a WHEP player invites one by one (0: skip)")
    p.add_argument("--skip-ingest", action="store_true", help="only the hub part (players, transcode)")
    p.add_argument("--phase", choices=["rtsp", "gb", "viewers"], help=argparse.SUPPRESS)
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
    if a.phase == "viewers":
        print(json.dumps(asyncio.run(viewers_phase(a.clip, a.viewers, a.seconds, data))))
        return 0
    port = free_port()
    server = start_rtsp_stand_in(port, "main=ball:1280x720@25,bitrate=2000,shared=1")
    try:
        base = f"rtsp://127.0.0.1:{port}"
        clip = data / "main-720p-2M.mp4"
        record(f"{base}/main?cam=rec", clip, 10.0)
        print(f"GB/T 28181 benchmark: {os.cpu_count()} cores, {a.n} channels of 1280x720@{FPS} ~2 Mbit/s "
              f"H.264, {a.seconds:g} s measured per phase, {a.rounds} RTSP/GB rounds (medians); "
              "CPU in % of one core")  # fmt: skip
        if a.viewers:
            v = run_phase("viewers", a, base, str(clip), server.pid)
            print(f"invite -> first frame on a WHEP player (aiortc, channel on standby) over {v['channels']} "
                  f"channels: p50 {1000 * v['first_p50']:.0f} ms, p95 {1000 * v['first_p95']:.0f} ms, "
                  f"{v['failed']} without a frame in 20 s")  # fmt: skip
            print(f"one shared H.265 -> H.264 transcode ({v['hevc_size']}, one player at "
                  f"{v['player_fps']:.1f} fps): transcode thread {100 * v['transcode_cpu']:.1f} % of a core "
                  f"({v['transcode_frames']} frames in {v['wall']:.1f} s, {v['transcode_dropped']} dropped); "
                  f"hub {100 * v['hub_cpu_watched']:.1f} % while watched, {100 * v['hub_cpu_idle']:.1f} % "
                  "with every channel on standby")  # fmt: skip
        if a.skip_ingest:
            return 0
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
