"""Fixtures for camera ingest tests: real camera stand-ins on free ports, generated media, polling."""

from __future__ import annotations

import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from hub.config import CameraConfig
from streams.manager import CameraManager
from streams.synthetic import ensure_scene
from tests.conftest import REPO, free_port, require_ffmpeg, require_gstreamer

RTSP_SERVER = REPO / "scripts" / "rtsp_server.py"
READY_TIMEOUT_S = 15.0


@dataclass
class EventLog:
    """Records emitted camera events, like the hub's event log would."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def emit(self, event_type: str, camera_id: str, data: dict[str, Any]) -> None:
        self.events.append((event_type, camera_id, data))

    def of(self, camera_id: str) -> list[str]:
        return [t for t, c, _ in self.events if c == camera_id]

    def last(self, camera_id: str, event_type: str) -> dict[str, Any]:
        return [d for t, c, d in self.events if c == camera_id and t == event_type][-1]


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture(scope="session")
def scene_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with both synthetic scenes rendered once per session."""
    data = tmp_path_factory.mktemp("data")
    for name in ("street", "plaza"):
        ensure_scene(name, data)
    return data


ManagerFactory = Callable[..., Awaitable[CameraManager]]


@pytest.fixture
async def make_manager(events: EventLog, scene_dir: Path) -> AsyncIterator[ManagerFactory]:
    """Build and start a CameraManager from camera dicts; stopped at the end of the test."""
    managers: list[CameraManager] = []

    async def make(*cameras: dict[str, Any]) -> CameraManager:
        configs = [CameraConfig.model_validate(c) for c in cameras]
        m = CameraManager(configs, events.emit, scene_dir)
        managers.append(m)
        await m.start()
        return m

    yield make
    for m in managers:
        await m.stop()


class RtspServer:
    """The GStreamer RTSP stand-in as a subprocess on a free port."""

    def __init__(self, mounts: list[str], auth: str | None = None, port: int | None = None) -> None:
        self.mounts = mounts
        self.auth = auth
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    def url(self, mount: str, credentials: str | None = None) -> str:
        who = f"{credentials}@" if credentials else ""
        return f"rtsp://{who}127.0.0.1:{self.port}/{mount}"

    def start(self) -> RtspServer:
        cmd = ["/usr/bin/python3", str(RTSP_SERVER), "--port", str(self.port)]
        for m in self.mounts:
            cmd += ["--mount", m]
        if self.auth:
            cmd += ["--auth", self.auth]
        # Output goes to a file, not a pipe: a pipe nobody drains would block the server.
        log = tempfile.NamedTemporaryFile(prefix="rtsp-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = Path(log.name)
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if "READY" in self.log_path.read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        text = self.log_path.read_text(errors="replace")
        self.kill()
        pytest.fail(f"RTSP stand-in did not start: {text[-2000:]}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """Kill it hard (a camera losing power)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)


@pytest.fixture
def rtsp_server() -> Iterator[Callable[..., RtspServer]]:
    """Factory: ``rtsp_server(["cam=ball:320x240@10"], auth=None)`` → a started server; always cleaned up."""
    require_gstreamer()
    servers: list[RtspServer] = []

    def start(mounts: list[str], auth: str | None = None, port: int | None = None) -> RtspServer:
        server = RtspServer(mounts, auth, port)
        servers.append(server)  # before starting, so a failed start is cleaned up too
        return server.start()

    yield start
    for s in servers:
        s.kill()


@pytest.fixture
def mjpeg_server() -> Iterator[Callable[[], str]]:
    """Factory: starts Debian's ffmpeg serving one MJPEG client; returns the URL."""
    require_ffmpeg()
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}/cam.mjpg"
        cmd = ["ffmpeg", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10"]
        cmd += ["-f", "mpjpeg", "-q:v", "5", "-listen", "1", url]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return url

    yield start
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(5)


def make_video(
    path: Path,
    *,
    codec: str = "libx264",
    size: tuple[int, int] = (320, 240),
    fps: int = 10,
    seconds: float = 2.0,
    gop: int | None = None,
    fmt: str | None = None,
    sizes: list[tuple[int, int]] | None = None,
) -> Path:
    """Encode a moving test pattern with PyAV. ``sizes`` makes segments of different resolutions."""
    segments = sizes or [size]
    n = int(fps * seconds)
    with av.open(str(path), "w", format=fmt) as out:
        name = {"libx264": "h264", "libx265": "hevc"}.get(codec, codec)
        stream = out.add_mux_stream(name, width=segments[0][0], height=segments[0][1])
        stream.time_base = Fraction(1, fps)
        pts = 0
        for w, h in segments:
            enc: Any = av.CodecContext.create(codec, "w")
            enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
            enc.time_base = Fraction(1, fps)
            enc.framerate = Fraction(fps, 1)
            enc.gop_size = gop or fps
            enc.options = {"bf": "0", "preset": "ultrafast"} if "x26" in codec else {}
            if codec == "libx265":
                enc.options = {"preset": "ultrafast", "x265-params": f"keyint={gop or fps}:bframes=0:log-level=error"}
            for i in range(n):
                img = np.zeros((h, w, 3), np.uint8)
                x = (i * 7) % max(1, w - 40)
                img[h // 3 : h // 3 + 40, x : x + 40] = (255, 255, 255)
                img[:, :, 2] = (i * 5) % 255
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = i
                for p in enc.encode(frame):
                    p.stream = stream
                    p.pts, p.dts = p.pts + pts, p.dts + pts
                    p.time_base = Fraction(1, fps)
                    out.mux(p)
            for p in enc.encode(None):
                p.stream = stream
                p.pts, p.dts = p.pts + pts, p.dts + pts
                p.time_base = Fraction(1, fps)
                out.mux(p)
            pts += n
    return path


STALL = b""
"""In an :class:`HttpCamera` script: send nothing more and hold the connection open."""


def jpeg(width: int = 320, height: int = 240, shade: int = 0) -> bytes:
    """A small JPEG with a bright disc (decodable, clearly not blank)."""
    img = np.full((height, width, 3), shade, np.uint8)
    cv2.circle(img, (width // 2, height // 2), min(width, height) // 4, (0, 200, 255), -1)
    return bytes(cv2.imencode(".jpg", img)[1])


class LoopbackServer:
    """A TCP listener on loopback whose accept loop runs in a thread and hands each connection to
    :meth:`handle`; :meth:`close` stops it."""

    def __init__(self, backlog: int = 8) -> None:
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(backlog)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        """Take one accepted connection (in the accept thread: hand long work to a thread)."""
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for t in self._threads:
            t.join(5)


class HttpCamera(LoopbackServer):
    """A hand-written MJPEG camera on loopback: ``script(n)`` yields the JPEG parts of connection
    ``n`` (0, 1, …), one every ``interval_s``; :data:`STALL` holds the connection open silently;
    the connection closes when the parts run out."""

    def __init__(self, script: Callable[[int], Iterator[bytes]], interval_s: float = 0.1) -> None:
        self.script = script
        self.interval_s = interval_s
        self.connections = 0
        self.closed_by_client = 0
        """Connections the hub closed while the camera still held them."""
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/video.mjpg"

    def handle(self, conn: socket.socket) -> None:
        n, self.connections = self.connections, self.connections + 1
        t = threading.Thread(target=self._serve, args=(conn, n), daemon=True)
        self._threads.append(t)
        t.start()

    def _serve(self, conn: socket.socket, n: int) -> None:
        with conn:
            conn.settimeout(0.2)
            request = b""
            while b"\r\n\r\n" not in request and not self._stop.is_set():
                try:
                    request += conn.recv(4096)
                except TimeoutError:
                    continue
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            try:
                for part in self.script(n):
                    if part == STALL:
                        self._hold(conn)
                        return
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(part)}\r\n\r\n"
                    conn.sendall(head.encode() + part + b"\r\n")
                    if self._stop.wait(self.interval_s):
                        return
            except OSError:  # the hub went away
                self.closed_by_client += 1

    def _hold(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                if conn.recv(4096) == b"":
                    self.closed_by_client += 1
                    return
            except TimeoutError:
                continue
            except OSError:
                self.closed_by_client += 1
                return


@pytest.fixture
def http_camera() -> Iterator[Callable[..., HttpCamera]]:
    """Factory: ``http_camera(script, interval_s=0.1)`` → a started :class:`HttpCamera`; always closed."""
    cams: list[HttpCamera] = []

    def start(script: Callable[[int], Iterator[bytes]], interval_s: float = 0.1) -> HttpCamera:
        cams.append(HttpCamera(script, interval_s))
        return cams[-1]

    yield start
    for c in cams:
        c.close()


class HungServer(LoopbackServer):
    """Accepts TCP connections and never answers (a hung camera); counts them."""

    def __init__(self) -> None:
        self.accepted: list[socket.socket] = []
        super().__init__(backlog=16)

    def handle(self, conn: socket.socket) -> None:
        self.accepted.append(conn)

    def close(self) -> None:
        super().close()
        for c in self.accepted:
            c.close()


@pytest.fixture
def hung_server() -> Iterator[HungServer]:
    """A host that accepts and never says a word."""
    server = HungServer()
    yield server
    server.close()
