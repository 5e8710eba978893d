"""RTP in for one GB/T 28181 stream, in the camera's reader thread: a socket, a jitter buffer, PS bytes out.

The socket (UDP, or TCP passive with RFC 4571 framing) is bound before the INVITE goes out so
its port can be put in the SDP offer. Packets of another SSRC than the one the 200 OK named are
dropped and counted; reordered packets are put back in order within ``depth`` packets, and the
sequence numbers never seen are counted as lost. Nothing here runs on the event loop.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

POLL_S = 0.1
"""How often a blocked read looks at the stop flag."""
HOLD_S = 0.2
"""A gap is given up (counted lost) when the packets after it have waited this long."""
RESTART_GAP = 3000
"""A sequence jump this large is a restarted sender, not loss."""
MAX_RTP_BYTES = 65535


@dataclass
class RtpStats:
    """Counters of one stream's RTP (summed into /metrics)."""

    packets: int = 0
    """Packets accepted."""
    bytes: int = 0
    """Payload bytes accepted."""
    lost: int = 0
    """Sequence numbers never received (or given up on)."""
    late: int = 0
    """Packets that came after their place was given up, or twice."""
    foreign: int = 0
    """Packets with another SSRC than the stream's, or not RTP at all."""
    overflow: int = 0
    """Packets dropped because the jitter buffer was full of a gap."""

    def add(self, other: RtpStats) -> None:
        """Add another stream's counters to these."""
        self.packets += other.packets
        self.bytes += other.bytes
        self.lost += other.lost
        self.late += other.late
        self.foreign += other.foreign
        self.overflow += other.overflow


class JitterBuffer:
    """Puts RTP payloads back in sequence order; bounded at ``depth`` packets, counts loss."""

    def __init__(self, depth: int, stats: RtpStats) -> None:
        self.depth = depth
        self.stats = stats
        self._held: dict[int, tuple[bytes, float]] = {}
        self._next: int | None = None

    def put(self, seq: int, payload: bytes, now: float) -> None:
        """Hold one packet's payload."""
        if self._next is None:
            self._next = seq
        ahead = (seq - self._next) & 0xFFFF
        if ahead >= 0x8000 or seq in self._held:
            self.stats.late += 1
            return
        if ahead > RESTART_GAP:  # the sender restarted its numbering
            self._held.clear()
            self._next = seq
        self._held[seq] = (payload, now)

    def pop_ready(self, now: float) -> list[bytes]:
        """Payloads that can go out now, in order (skipping gaps that waited too long or overflowed)."""
        out: list[bytes] = []
        while self._held and self._next is not None:
            item = self._held.pop(self._next, None)
            if item is not None:
                out.append(item[0])
                self._next = (self._next + 1) & 0xFFFF
                continue
            oldest = min(t for _, t in self._held.values())
            if len(self._held) < self.depth and now - oldest < HOLD_S:
                break
            # Give the gap up: skip to the lowest sequence number held.
            first = min(self._held, key=lambda s: (s - self._next) & 0xFFFF)  # type: ignore[operator]
            self.stats.lost += (first - self._next) & 0xFFFF
            self._next = first
        return out


def parse_rtp(data: bytes) -> tuple[int, int, bytes] | None:
    """(sequence number, SSRC, payload) of an RTP packet, None if it is not one."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    cc = data[0] & 0x0F
    seq, _ts, ssrc = struct.unpack_from("!HII", data, 2)
    start = 12 + 4 * cc
    if data[0] & 0x10:  # header extension
        if len(data) < start + 4:
            return None
        start += 4 + 4 * struct.unpack_from("!H", data, start + 2)[0]
    end = len(data)
    if data[0] & 0x20:  # padding
        end -= data[-1]
    if start > end:
        return None
    return seq, ssrc, data[start:end]


class RtpReceiver:
    """One stream's RTP socket and jitter buffer; :meth:`read` gives PS bytes in order."""

    def __init__(self, host: str, port: int, transport: str, depth: int, name: str) -> None:
        self.port = port
        self.transport = transport
        self.name = name
        self.stats = RtpStats()
        self.ssrc: int | None = None
        """Only this SSRC is accepted once set (the one the 200 OK carried)."""
        self.timeout_s = 5.0
        self.reason: str | None = None
        """Why reading ended (timeout, the peer closed), when it did."""
        self.call_id: str | None = None
        """The dialog that feeds it (a BYE or the device going offline ends this stream)."""
        self._jitter = JitterBuffer(depth, self.stats)
        self._ready: list[bytes] = []
        self._pending = b""
        self._closed = threading.Event()
        self._last_rx = time.monotonic()
        self._conn: socket.socket | None = None
        self._tcp_buf = bytearray()
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self._sock = socket.socket(socket.AF_INET, kind)
        try:
            if transport == "udp":
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            else:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
            if transport == "tcp":
                self._sock.listen(1)
        except OSError:
            self._sock.close()
            raise
        self._sock.setblocking(False)

    def start_clock(self) -> None:
        """Start the no-data timeout now (the INVITE was answered)."""
        self._last_rx = time.monotonic()

    def interrupt(self) -> None:
        """Make :meth:`read` return b'' soon (any thread)."""
        self._closed.set()

    def close(self) -> None:
        """Close the sockets (reader thread)."""
        self._closed.set()
        for s in (self._conn, self._sock):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass

    def read(self, size: int) -> bytes:
        """Up to ``size`` PS bytes, blocking; b'' at the end (see :attr:`reason`)."""
        while not self._pending:
            if self._ready:
                self._pending = b"".join(self._ready)
                self._ready.clear()
                break
            if self._closed.is_set():
                return b""
            if not self._receive():
                return b""
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def _receive(self) -> bool:
        """Wait for packets (up to POLL_S); False when the stream is over."""
        sock = self._conn if self.transport == "tcp" else self._sock
        if self.transport == "tcp" and sock is None:
            sock = self._sock  # still waiting for the device to connect
        assert sock is not None
        readable, _, _ = select.select([sock], [], [], POLL_S)
        now = time.monotonic()
        if readable:
            if self.transport == "udp":
                for _ in range(256):
                    try:
                        data = self._sock.recv(MAX_RTP_BYTES)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:
                        self.reason = f"RTP socket error: {exc}"
                        return False
                    self._packet(data, now)
            elif self._conn is None:
                conn, _addr = self._sock.accept()
                conn.setblocking(False)
                self._conn = conn
            else:
                try:
                    chunk = self._conn.recv(1 << 16)
                except (BlockingIOError, InterruptedError):
                    chunk = None
                except OSError as exc:
                    self.reason = f"RTP connection error: {exc}"
                    return False
                if chunk == b"":
                    self.reason = "the device closed the RTP connection"
                    return False
                if chunk:
                    self._tcp_buf += chunk
                    self._frames(now)
        self._ready.extend(self._jitter.pop_ready(now))
        if not self._ready and now - self._last_rx > self.timeout_s:
            self.reason = f"no RTP for {self.timeout_s:g} s"
            return False
        return True

    def _frames(self, now: float) -> None:
        buf = self._tcp_buf
        pos = 0
        while len(buf) - pos >= 2:
            n = (buf[pos] << 8) | buf[pos + 1]
            if len(buf) - pos - 2 < n:
                break
            self._packet(bytes(buf[pos + 2 : pos + 2 + n]), now)
            pos += 2 + n
        del buf[:pos]

    def _packet(self, data: bytes, now: float) -> None:
        rtp = parse_rtp(data)
        if rtp is None or (self.ssrc is not None and rtp[1] != self.ssrc):
            self.stats.foreign += 1
            if self.stats.foreign in (1, 100, 10_000):
                log.warning(
                    "%s: dropped %d packets that are not RTP of SSRC %s", self.name, self.stats.foreign, self.ssrc
                )
            return
        seq, _ssrc, payload = rtp
        self._last_rx = now
        self.stats.packets += 1
        self.stats.bytes += len(payload)
        self._jitter.put(seq, payload, now)
