"""Helpers for WebRTC tests: a hub with cameras on loopback, and aiortc clients as real peers."""

from __future__ import annotations

import asyncio
import fractions
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCCertificate, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from hub.calls.ice import consent_as_rfc_7675, pin_host_addresses
from hub.config import Settings
from tests.conftest import REPO, require
from tests.hub.conftest import make_settings, pg_url, redis_prefix, redis_url  # noqa: F401  (fixtures the calls tests share)

CAMERAS: list[dict[str, Any]] = [
    {"id": "cam-street", "url": "synthetic://street", "grid": "g1", "analysis": {"enabled": False}},
]


WEBRTCBIN_PEER = REPO / "scripts" / "webrtcbin_peer.py"
SYSTEM_PYTHON = Path("/usr/bin/python3")
"""Debian's interpreter, which has python3-gi (the virtualenv's has not)."""

CLIENT_CLOSE_TIMEOUT_S = 10.0
"""Longest a test client's close may take at the end of a test."""


def calls_settings(tmp: Path, **overrides: Any) -> Settings:
    """Test settings: loopback ICE only, a synthetic camera, small hub-encoded video."""
    data: dict[str, Any] = {
        "server": {"ice_addresses": ["127.0.0.1"]},
        "cameras": CAMERAS,
        "calls": {"video_width": 320, "video_height": 180, "video_fps": 10, "video_bitrate_bps": 300_000},
    }
    data.update(overrides)
    return make_settings(tmp, **data)


async def poll(fn: Callable[[], Any], timeout_s: float, what: str | Callable[[], str], period_s: float = 0.1) -> Any:
    """Poll ``fn`` (sync or async) until it returns something truthy; fail after ``timeout_s``.

    ``what`` may be a function, called on failure, to describe the state that was waited on.
    """
    t0 = time.monotonic()
    while True:
        value = fn()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what() if callable(what) else what}")
        await asyncio.sleep(period_s)


class ToneTrack(MediaStreamTrack):
    """A microphone stand-in: a sine tone at ``freq_hz``, 20 ms frames, paced in real time."""

    kind = "audio"

    def __init__(self, freq_hz: float) -> None:
        super().__init__()
        self.freq_hz = freq_hz
        self._n = 0
        self._t0: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._t0 is None:
            self._t0 = time.monotonic()
        due = self._t0 + self._n * 960 / 48_000
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = (np.arange(960) + self._n * 960) / 48_000
        mono = (8000 * np.sin(2 * math.pi * self.freq_hz * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = 48_000
        frame.pts = self._n * 960
        frame.time_base = fractions.Fraction(1, 48_000)
        self._n += 1
        return frame


class BoxVideoTrack(MediaStreamTrack):
    """A phone camera stand-in: a small moving box, ``fps`` frames per second."""

    kind = "video"

    def __init__(self, fps: int = 10, size: tuple[int, int] = (160, 120)) -> None:
        super().__init__()
        self.fps = fps
        self.size = size
        self._n = 0
        self._t0: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._t0 is None:
            self._t0 = time.monotonic()
        await asyncio.sleep(max(0.0, self._t0 + self._n / self.fps - time.monotonic()))
        w, h = self.size
        img = np.zeros((h, w, 3), np.uint8)
        x = (self._n * 5) % (w - 20)
        img[h // 3 : h // 3 + 20, x : x + 20] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = self._n * (90_000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90_000)
        self._n += 1
        return frame


def dominant_hz(frames: list[av.AudioFrame]) -> float:
    """The strongest frequency in some received audio (0 for silence)."""
    if not frames:
        return 0.0
    samples = np.concatenate([f.to_ndarray().reshape(-1)[::2] for f in frames]).astype(np.float64)
    if np.abs(samples).mean() < 100:
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum[1:]) + 1) * 48_000 / len(samples)


class Peer:
    """An aiortc client: offers the given m-lines to a hub URL and counts what comes back."""

    def __init__(
        self, slots: list[tuple[str, str, MediaStreamTrack | None]], certificate: RTCCertificate | None = None
    ) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        if certificate is not None:  # before any transceiver: each DTLS transport takes it when made
            self.pc._RTCPeerConnection__certificates = [certificate]  # type: ignore[attr-defined]
        self.transceivers = [self.pc.addTransceiver(track or kind, direction=d) for kind, d, track in slots]
        self.frames: dict[int, int] = {}
        """Frames decoded per m-line index."""
        self.audio: dict[int, list[av.AudioFrame]] = {}
        """Recent audio frames per m-line index (the last 50)."""
        self.sizes: dict[int, tuple[int, int]] = {}
        """The last decoded picture's width and height per video m-line index."""
        self.location: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        index = next(i for i, t in enumerate(self.transceivers) if t.receiver.track is track)
        self.frames[index] = 0
        self._tasks.append(asyncio.create_task(self._read(index, track)))

    async def _read(self, index: int, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.frames[index] += 1
                if track.kind == "audio":
                    buf = self.audio.setdefault(index, [])
                    buf.append(frame)  # type: ignore[arg-type]
                    del buf[:-50]
                else:
                    self.sizes[index] = (frame.width, frame.height)  # type: ignore[union-attr]
        except MediaStreamError:
            pass

    async def offer(self) -> str:
        """Our offer, with every candidate (loopback only)."""
        offer = await self.pc.createOffer()
        pin_host_addresses(self.pc, ["127.0.0.1"])
        consent_as_rfc_7675(self.pc)  # as a browser does: 30 s without an answer, not six late ones
        await self.pc.setLocalDescription(offer)
        return str(self.pc.localDescription.sdp)

    async def connect(
        self, client: httpx.AsyncClient, url: str, edit: Callable[[str], str] = lambda sdp: sdp
    ) -> httpx.Response:
        """POST our offer (changed by ``edit``); on 201 apply the answer. Returns the response either way."""
        sdp = edit(await self.offer())
        r = await client.post(url, content=sdp, headers={"Content-Type": "application/sdp"})
        if r.status_code == 201:
            self.location = r.headers["location"]
            await self.pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
        return r

    def vanish(self) -> None:
        """Go silent without a goodbye (no DTLS close, no DELETE): a phone that lost its network."""
        for t in self.transceivers:
            conn = t.receiver.transport.transport._connection
            for protocol in conn._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for t in self.transceivers:
            if t.sender.track is not None:
                t.sender.track.stop()
        await self.pc.close()

    def heard_hz(self, index: int, last: int = 25) -> float:
        """Dominant frequency of the last ``last`` audio frames on m-line ``index``."""
        return dominant_hz(self.audio.get(index, [])[-last:])


@pytest.fixture
async def peers() -> Any:
    """Factory of :class:`Peer` objects, all closed at the end of the test."""
    made: list[Peer] = []

    def make(slots: list[tuple[str, str, MediaStreamTrack | None]], certificate: RTCCertificate | None = None) -> Peer:
        p = Peer(slots, certificate)
        made.append(p)
        return p

    yield make
    for p in made:
        # These clients stand in for browsers; aiortc's own close has been seen to wait for ever
        # (no timer left) on a client whose sockets were closed under it. Bounded, as the hub
        # bounds its own (hub.calls.sessions.CLOSE_TIMEOUT_S).
        try:
            async with asyncio.timeout(CLIENT_CLOSE_TIMEOUT_S):
                await p.close()
        except TimeoutError:
            logging.getLogger(__name__).warning("test client did not close within %.0f s", CLIENT_CLOSE_TIMEOUT_S)


class CallPage:
    """A user's ``/ws/calls`` channel (what makes them reachable), collecting notifications."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        import json

        import websockets

        try:
            async for raw in self.ws:
                self.messages.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass

    def last(self, call_id: str) -> dict[str, Any] | None:
        """The latest state of a call seen on this channel."""
        for msg in reversed(self.messages):
            for call in msg.get("calls", [msg.get("call")]):
                if call and call["id"] == call_id:
                    return dict(call)
        return None

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def call_page() -> Any:
    """Factory: ``await call_page(rh, "worker1")`` opens that user's call channel."""
    import websockets

    pages: list[CallPage] = []

    async def open_page(rh: Any, username: str) -> CallPage:
        token = await rh.token(username)
        ws = await websockets.connect(f"ws://127.0.0.1:{rh.port}/ws/calls?token={token}")
        page = CallPage(ws)
        pages.append(page)
        await poll(lambda: page.messages, 10, f"{username}'s call channel")
        return page

    yield open_page
    for p in pages:
        await p.close()


async def api(rh: Any, username: str | None = None) -> httpx.AsyncClient:
    """An HTTP client for the hub without keep-alive: these tests leave clients idle for longer than
    uvicorn's keep-alive timeout, and reusing a connection the server is closing fails at random."""
    headers = {"Authorization": f"Bearer {await rh.token(username)}"} if username else {}
    limits = httpx.Limits(max_keepalive_connections=0)
    verify = getattr(rh, "verify", True)  # a hub over HTTPS: its own CA
    return httpx.AsyncClient(base_url=rh.url, headers=headers, timeout=30, limits=limits, verify=verify)


async def require_webrtcbin() -> None:
    """GStreamer's webrtcbin driven by /usr/bin/python3: skip where missing, fail under CI=true."""
    why = f"{SYSTEM_PYTHON} is missing"
    ok = await asyncio.to_thread(SYSTEM_PYTHON.exists)
    if ok:
        proc = await asyncio.create_subprocess_exec(
            str(SYSTEM_PYTHON),
            str(WEBRTCBIN_PEER),
            "--check",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        ok = proc.returncode == 0
        lines = out.decode(errors="replace").strip().splitlines()
        why = lines[-1][-200:] if lines else "no output"
    require(
        ok,
        f"GStreamer webrtcbin ({why}; Debian: python3-gi gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1 "
        "gstreamer1.0-nice gstreamer1.0-plugins-bad)",
    )
