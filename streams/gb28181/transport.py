"""SIP over UDP and TCP for the platform: endpoints, a per-address rate limit, a bounded inbox and
transactions (retransmission over UDP, answers cached for retransmitted requests).

Every datagram or framed TCP message is rate-limited per source address *before* it is parsed,
then parsed and queued; one task handles the queue in order. A flood therefore costs a token-bucket
check per packet and never grows memory: what does not fit is dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from streams.gb28181 import sip
from streams.gb28181.sip import SipError, SipMessage

log = logging.getLogger(__name__)

INBOX_MESSAGES = 1024
"""Parsed messages waiting to be handled; more are dropped (counted)."""
T1_S = 0.5
T2_S = 4.0
TRANSACTION_S = 32.0
"""Timer B/F: a request with no final answer by then failed (64 × T1)."""
ANSWER_CACHE = 4096
"""Answers kept to resend when a request is retransmitted."""
RATE_KEYS = 4096
TCP_BUFFER_BYTES = 1 << 18


@dataclass(frozen=True)
class Peer:
    """Where a message came from, and how to answer there."""

    transport: str
    """``udp`` or ``tcp``."""
    host: str
    port: int
    conn: asyncio.StreamWriter | None = field(default=None, compare=False, hash=False)
    """The TCP connection (answers and requests to a device registered over TCP go on it)."""

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"


Handler = Callable[[SipMessage, Peer], Awaitable[None]]


class TokenBuckets:
    """Per-key token buckets (``rate`` per second, ``burst`` deep), at most RATE_KEYS keys."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        """Take a token for ``key``; False when it has none left."""
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        ok = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if ok else tokens, now)
        if len(self._buckets) > RATE_KEYS:
            self._buckets.popitem(last=False)
        return ok


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner._incoming(data, Peer("udp", addr[0], addr[1]))


class SipTransport:
    """The platform's SIP sockets and transactions; ``handler`` gets each new request and each
    response no transaction of ours waits for."""

    def __init__(self, host: str, port: int, handler: Handler, rate_per_s: float, max_bytes: int) -> None:
        self.host = host
        self.port = port
        self._handler = handler
        self._max_bytes = max_bytes
        self._buckets = TokenBuckets(rate_per_s, max(2 * rate_per_s, 10.0))
        self._inbox: asyncio.Queue[tuple[SipMessage, Peer]] = asyncio.Queue(INBOX_MESSAGES)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._waiting: dict[tuple[str, str], asyncio.Future[SipMessage]] = {}
        self._answers: OrderedDict[tuple[str, str, str], tuple[bytes, Peer]] = OrderedDict()
        self.dropped: Counter[str] = Counter()
        """Messages dropped, by reason (``rate``, ``queue``, ``malformed``)."""
        self.received = 0
        """Messages accepted into the inbox."""
        self._last_warn: dict[str, float] = {}

    async def start(self) -> None:
        """Bind UDP and TCP on the same port (a port of 0 picks one free for both)."""
        loop = asyncio.get_running_loop()
        self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port, limit=TCP_BUFFER_BYTES)
        if self.port == 0:
            self.port = self._tcp.sockets[0].getsockname()[1]
        udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(self.host, self.port))
        self._udp = udp
        self._task = asyncio.create_task(self._run(), name="gb28181-sip")
        log.info("gb28181: SIP on udp and tcp %s:%d", self.host, self.port)

    async def aclose(self) -> None:
        """Stop listening, close connections, end the handler task (idempotent)."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        for task in list(self._conns):
            task.cancel()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._conns:
            await asyncio.wait(self._conns, timeout=2.0)
        for fut in self._waiting.values():
            if not fut.done():
                fut.cancel()

    # -- in ---------------------------------------------------------------------------------------

    def _warn(self, key: str, text: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last_warn.get(key, -60.0) >= 10.0:  # a flood logs a line every 10 s, not per packet
            if len(self._last_warn) >= RATE_KEYS:  # many (spoofed) addresses: forget, stay bounded
                self._last_warn.clear()
            self._last_warn[key] = now
            log.warning(text, *args)

    def _incoming(self, data: bytes, peer: Peer) -> None:
        if not data.strip():  # CRLF keepalives (RFC 5626)
            return
        if not self._buckets.allow(peer.host, time.monotonic()):
            self.dropped["rate"] += 1
            self._warn(
                "rate:" + peer.host, "gb28181: %s sends too fast; dropping (%d so far)", peer, self.dropped["rate"]
            )
            return
        try:
            msg = sip.parse(data, self._max_bytes)
        except SipError as exc:
            self.dropped["malformed"] += 1
            self._warn("bad:" + peer.host, "gb28181: malformed SIP from %s dropped: %s", peer, exc)
            if peer.transport == "udp" and self._udp is not None and data[:4] != b"SIP/":
                self._bad_request(data, peer, str(exc))
            return
        if not msg.is_request:
            try:
                key = (msg.branch, msg.cseq[1])
            except SipError:
                return
            fut = self._waiting.get(key)
            if fut is not None:
                if msg.status >= 200 and not fut.done():
                    fut.set_result(msg)
                elif msg.status < 200:
                    fut.provisional = True  # type: ignore[attr-defined]
                return
        elif msg.method != "ACK":
            cached = self._answers.get((msg.branch, msg.call_id, msg.method or ""))
            if cached is not None:  # a retransmission: the same answer again
                self._write(cached[0], peer)
                return
        try:
            self._inbox.put_nowait((msg, peer))
            self.received += 1
        except asyncio.QueueFull:
            self.dropped["queue"] += 1
            self._warn("queue", "gb28181: SIP inbox full; dropped a message from %s", peer)

    def _bad_request(self, data: bytes, peer: Peer, reason: str) -> None:
        """A 400 when enough of the message is there to answer it (Via, Call-ID, CSeq...)."""
        try:
            head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
            msg = SipMessage(method="X", uri="x")
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                msg.headers.append((name.strip(), value.strip()))
            if not msg.get("via") or not msg.get("call-id") or not msg.get("cseq"):
                return
            res = sip.response(msg, 400, reason=reason.replace("\r", " ").replace("\n", " ")[:100])
            self._write(res.encode(), peer)
        except Exception:  # answering garbage is a courtesy; nothing to do when it fails
            return

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        addr = writer.get_extra_info("peername") or ("?", 0)
        peer = Peer("tcp", addr[0], addr[1], writer)
        buf = bytearray()
        try:
            while True:
                chunk = await reader.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                while True:
                    while buf[:2] == b"\r\n":
                        del buf[:2]
                    n = sip.frame_length(buf)
                    if n is None:
                        if len(buf) > self._max_bytes:
                            self.dropped["malformed"] += 1
                            log.warning("gb28181: %s sent %d bytes without a message end; closing", peer, len(buf))
                            return
                        break
                    if n > self._max_bytes:
                        self.dropped["malformed"] += 1
                        log.warning("gb28181: %s sent a %d-byte message; closing", peer, n)
                        return
                    if len(buf) < n:
                        break
                    self._incoming(bytes(buf[:n]), peer)
                    del buf[:n]
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._conns.discard(task)
            writer.close()

    async def _run(self) -> None:
        while True:
            msg, peer = await self._inbox.get()
            try:
                await self._handler(msg, peer)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("gb28181: error handling %s from %s", msg.method or msg.status, peer)

    # -- out --------------------------------------------------------------------------------------

    def _write(self, data: bytes, peer: Peer) -> None:
        if peer.transport == "tcp":
            if peer.conn is not None and not peer.conn.is_closing():
                peer.conn.write(data)
        elif self._udp is not None:
            self._udp.sendto(data, (peer.host, peer.port))

    def answer(self, request: SipMessage, res: SipMessage, peer: Peer) -> None:
        """Send a response to ``peer`` (the request's source: rport/received) and keep it for retransmissions."""
        if peer.transport == "udp" and res.headers and res.headers[0][0].lower() == "via":
            via = res.headers[0][1]
            params = sip.via_params(via)
            if "rport" in params:
                via = via.replace(";rport;", f";rport={peer.port};").replace(";rport,", f";rport={peer.port},")
                if via.endswith(";rport"):
                    via = via[: -len(";rport")] + f";rport={peer.port}"
            if "received" not in params:
                via += f";received={peer.host}"
            res.headers[0] = (res.headers[0][0], via)
        data = res.encode()
        self._write(data, peer)
        if request.method != "INVITE" or res.status >= 200:
            self._answers[(request.branch, request.call_id, request.method or "")] = (data, peer)
            if len(self._answers) > ANSWER_CACHE:
                self._answers.popitem(last=False)

    def send(self, msg: SipMessage, peer: Peer) -> None:
        """Send without waiting for anything (ACK)."""
        self._write(msg.encode(), peer)

    async def request(self, msg: SipMessage, peer: Peer, timeout_s: float = TRANSACTION_S) -> SipMessage:
        """Send a request and wait for its final answer, retransmitting over UDP; TimeoutError."""
        key = (msg.branch, msg.cseq[1])
        fut: asyncio.Future[SipMessage] = asyncio.get_running_loop().create_future()
        self._waiting[key] = fut
        data = msg.encode()
        try:
            async with asyncio.timeout(timeout_s):
                self._write(data, peer)
                interval = T1_S
                while True:
                    done, _ = await asyncio.wait({fut}, timeout=interval)
                    if done:
                        return fut.result()
                    if peer.transport == "udp" and not getattr(fut, "provisional", False):
                        self._write(data, peer)
                    interval = min(2 * interval, T2_S)
        finally:
            self._waiting.pop(key, None)
