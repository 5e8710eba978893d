"""WHEP receivers in one process that count RTP packets and frames without decoding them.

Used by ``scripts/bench_webrtc.py`` (fan-out, several of these processes) and by the tests
(a viewer that vanishes when its process is killed). Each receiver is a real aiortc peer
connection to the hub; incoming video RTP is counted (a frame = a packet with the marker bit)
and fed to aiortc's RTCP statistics so receiver reports still flow, but never depacketised or
decoded. Prints one JSON line per ``--report-s`` and a final one:
``{"connected": n, "frames": [per receiver], "packets": [...], "bytes": [...], "cpu_s": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hub.calls.ice import pin_host_addresses  # noqa: E402


class CountingReceiver:
    """One WHEP viewer that counts what it gets."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.frames = 0
        self.packets = 0
        self.bytes = 0
        self.location: str | None = None

    def _count(self, receiver: Any) -> None:
        streams = receiver._RTCRtpReceiver__remote_streams
        codecs = receiver._RTCRtpReceiver__codecs
        from aiortc.rtcrtpreceiver import StreamStatistics

        async def handle(packet: Any, arrival_time_ms: int) -> None:
            self.packets += 1
            self.bytes += len(packet.payload)
            if packet.marker:
                self.frames += 1
            codec = codecs.get(packet.payload_type)
            if codec is not None:
                if packet.ssrc not in streams:
                    streams[packet.ssrc] = StreamStatistics(codec.clockRate)
                streams[packet.ssrc].add(packet)  # receiver reports keep flowing

        receiver._handle_rtp_packet = handle

    async def connect(self, client: httpx.AsyncClient, url: str, ice: list[str]) -> None:
        t = self.pc.addTransceiver("video", direction="recvonly")
        self._count(t.receiver)
        offer = await self.pc.createOffer()
        pin_host_addresses(self.pc, ice)
        await self.pc.setLocalDescription(offer)
        r = await client.post(url, content=self.pc.localDescription.sdp, headers={"Content-Type": "application/sdp"})
        if r.status_code != 201:
            raise RuntimeError(f"WHEP {r.status_code}: {r.text}")
        self.location = r.headers["location"]
        await self.pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hub", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--token", required=True)
    ap.add_argument("--source", required=True, help="camera id (or @username)")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--ice", default="127.0.0.1")
    ap.add_argument("--report-s", type=float, default=1.0)
    ap.add_argument("--duration-s", type=float, default=0, help="0: until killed")
    args = ap.parse_args()
    ice = [a for a in args.ice.split(",") if a]
    receivers = [CountingReceiver(i) for i in range(args.count)]
    headers = {"Authorization": f"Bearer {args.token}"}
    async with httpx.AsyncClient(base_url=args.hub, headers=headers, timeout=60) as client:
        for rx in receivers:
            await rx.connect(client, f"/whep/{args.source}", ice)
        t0 = time.monotonic()
        c0 = cpu_s()
        try:
            while not args.duration_s or time.monotonic() - t0 < args.duration_s:
                await asyncio.sleep(args.report_s)
                report = {
                    "connected": sum(rx.pc.connectionState == "connected" for rx in receivers),
                    "frames": [rx.frames for rx in receivers],
                    "packets": [rx.packets for rx in receivers],
                    "bytes": [rx.bytes for rx in receivers],
                    "cpu_s": round(cpu_s() - c0, 3),
                    "t": round(time.monotonic() - t0, 3),
                }
                print(json.dumps(report), flush=True)
        finally:
            for rx in receivers:
                if rx.location:
                    try:
                        await client.delete(rx.location)
                    except httpx.HTTPError:
                        pass
                await rx.pc.close()


if __name__ == "__main__":
    asyncio.run(main())
