#!/usr/bin/env python3
"""A GB/T 28181 device (an NVR with a few cameras) for tests, demos and benchmarks.

It registers with a platform over SIP (UDP or TCP, MD5 digest), sends keepalives, answers Catalog
queries with GBK-encoded channel names split over several MESSAGEs, answers DeviceInfo, answers
INVITEs (optionally with another SSRC than the one offered) and streams a video file as MPEG-PS
over RTP (UDP, or TCP active with RFC 4571 framing, as the offer asks), with optional packet
loss, reordering and garbage. It logs every PTZ command it receives. With ``--h265`` it sends
its file re-encoded to H.265 (libx265, at start), as many cameras do by default; an INVITE for the
sub-stream (``a=streamnumber:1`` or ``a=streamprofile:1``) then gets the file's own H.264 with
``--sub-h264``, else the same H.265 (a device without a second stream).

It prints one JSON object per line on stdout for whoever drives it (``{"event": "registered"}``,
``{"event": "invite", ...}``...) and takes commands on stdin, one per line: ``pause`` (stop
keepalives), ``resume``, ``register``, ``unregister``, ``mute`` (stop sending the RTP of every
stream, keeping the dialogs: an encoder that hung), ``quit``.

    SKYHUB_GB_PASSWORD=secret python scripts/gb_device.py --server 127.0.0.1:5060 \\
        --device 35050200001320000001 --channels 2 --file ../shared/media/car-detection.mp4
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import re
import socket
import struct
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.gb28181 import manscdp, ptz, sip  # noqa: E402
from streams.gb28181.sip import SipMessage  # noqa: E402

NAMES = ["东门入口", "南广场", "社区北路口", "停车场", "菜市场", "学校门口", "河滨步道", "地铁站口"]
RTP_PAYLOAD_BYTES = 1400
DEFAULT_FILE = str(Path(__file__).resolve().parent.parent.parent / "shared/media/car-detection.mp4")


def emit(event: str, **data: Any) -> None:
    """One JSON line for the driver."""
    print(json.dumps({"event": event, "t": time.time(), **data}, ensure_ascii=False), flush=True)


class _Collect(io.RawIOBase):
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.chunks.append(bytes(b))
        return len(b)


class Streamer:
    """Sends one channel's video as PS over RTP in a thread until stopped."""

    def __init__(
        self, args: argparse.Namespace, host: str, port: int, tcp: bool, ssrc: int, channel: str, file: str
    ) -> None:
        self.args = args
        self.file = file
        self.addr = (host, port)
        self.tcp = tcp
        self.ssrc = ssrc
        self.channel = channel
        self.stop = threading.Event()
        self.sent = 0
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, name=f"rtp-{channel}", daemon=True)
        self.rng = random.Random(args.seed)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            self._stream()
        except Exception as exc:  # the driver sees why the stream ended
            emit("stream_error", channel=self.channel, error=f"{type(exc).__name__}: {exc}")
        emit("stream_end", channel=self.channel, sent=self.sent, dropped=self.dropped)

    def _stream(self) -> None:
        if self.tcp:
            sock = socket.create_connection(self.addr, timeout=5)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        seq = self.rng.randrange(65536)
        held: list[bytes] = []
        frames, length_s = ps_frames(self.file)
        t0 = time.monotonic()
        emit("stream_start", channel=self.channel)

        def send(packet: bytes) -> None:
            nonlocal held
            if self.args.drop and self.rng.random() < self.args.drop:
                self.dropped += 1
                return
            if self.args.reorder and not self.tcp and self.rng.random() < self.args.reorder:
                held.append(packet)  # goes out after the next packet
                return
            out = [packet, *held]
            held = []
            for p in out:
                if self.tcp:
                    sock.sendall(struct.pack("!H", len(p)) + p)
                else:
                    sock.sendto(p, self.addr)
                self.sent += 1

        loop = 0
        while not self.stop.is_set():
            for at_s, data in frames:
                offset = loop * length_s + at_s
                delay = t0 + offset - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    break
                if self.args.garbage and self.rng.random() < self.args.garbage:
                    data = data[:100] + os.urandom(min(len(data), 400)) + data[100:]
                ts = int(offset * 90000) & 0xFFFFFFFF
                for i in range(0, len(data), RTP_PAYLOAD_BYTES):
                    marker = 0x80 if i + RTP_PAYLOAD_BYTES >= len(data) else 0
                    header = struct.pack("!BBHII", 0x80, marker | 96, seq, ts, self.ssrc)
                    seq = (seq + 1) & 0xFFFF
                    send(header + data[i : i + RTP_PAYLOAD_BYTES])
            loop += 1
        sock.close()


_PS_CACHE: dict[str, tuple[list[tuple[float, bytes]], float]] = {}
_PS_LOCK = threading.Lock()


def ps_frames(path: str) -> tuple[list[tuple[float, bytes]], float]:
    """The file's video muxed as MPEG-PS once (PyAV's ``mpeg`` muxer): (seconds, PS bytes) per
    frame, and the loop length. Every channel and every INVITE replays the same bytes."""
    with _PS_LOCK:
        if path in _PS_CACHE:
            return _PS_CACHE[path]
        inp = av.open(path)
        vs = inp.streams.video[0]
        cc = vs.codec_context
        bsf = av.BitStreamFilterContext(f"{cc.name}_mp4toannexb", vs) if cc.extradata[:1] == b"\x01" else None
        sink = _Collect()
        out = av.open(sink, "w", format="mpeg", buffer_size=4096)
        ostream = out.add_stream_from_template(vs)
        tb = float(vs.time_base or 0)
        frames: list[tuple[float, bytes]] = []
        first: float | None = None
        last = 0.0
        for pkt in inp.demux(vs):
            if pkt.size == 0 or pkt.dts is None:
                continue
            dts = pkt.dts * tb
            first = dts if first is None else first
            last = dts - first
            for p in bsf.filter(pkt) if bsf is not None else [pkt]:
                p.stream = ostream
                out.mux(p)
            if sink.chunks:
                frames.append((last, b"".join(sink.chunks)))
                sink.chunks.clear()
        out.close()
        if sink.chunks:
            frames.append((last, b"".join(sink.chunks)))
        fps = float(vs.average_rate or 25)  # PyAV 18: a closed container's streams cannot be read
        inp.close()
        _PS_CACHE[path] = (frames, last + 1.0 / fps)
        return _PS_CACHE[path]


def hevc_copy(path: str, seconds: float) -> str:
    """The first ``seconds`` of the video at ``path`` re-encoded to H.265 (libx265 through PyAV),
    made once and kept beside the system's temporary files."""
    if "libx265" not in av.codec.codecs_available:
        raise SystemExit("--h265 needs PyAV with libx265")
    st = os.stat(path)
    out_path = Path(tempfile.gettempdir()) / f"gb-device-hevc-{st.st_ino}-{st.st_size}-{st.st_mtime_ns}-{seconds:g}.mp4"
    if out_path.exists():
        return str(out_path)
    tmp = out_path.with_suffix(f".{os.getpid()}.part.mp4")
    inp = av.open(path)
    vs = inp.streams.video[0]
    fps = vs.average_rate or 25
    out = av.open(str(tmp), "w")
    stream = out.add_stream("libx265", rate=fps)
    stream.width, stream.height, stream.pix_fmt = vs.codec_context.width, vs.codec_context.height, "yuv420p"
    # A camera's bitrate (about 2 Mbit/s at 720p, 25 fps), not x265's default for a still scene.
    stream.bit_rate = int(stream.width * stream.height * float(fps) * 0.09)
    keyint = max(1, round(float(fps) * 2))
    stream.options = {"preset": "ultrafast", "x265-params": f"log-level=none:keyint={keyint}:bframes=0"}
    for i, frame in enumerate(inp.decode(vs)):
        if i >= seconds * float(fps):
            break
        picture = frame.reformat(format="yuv420p")
        picture.pts, picture.time_base = i, Fraction(1, 1) / fps  # one tick of the stream's rate per frame
        for packet in stream.encode(picture):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    inp.close()
    os.replace(tmp, out_path)
    return str(out_path)


class Device:
    """The device's SIP side."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        host, _, port = args.server.rpartition(":")
        self.server = (host, int(port))
        self.transport: asyncio.DatagramTransport | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.waiting: dict[str, asyncio.Future[SipMessage]] = {}
        self.keepalive = True
        self.cseq = 1
        self.call_id = sip.new_tag() + "@gbdevice"
        self.tag = sip.new_tag()
        self.local_port = 0
        self.streams: dict[str, Streamer] = {}
        self.sn = 1
        self.channels = [f"{args.device[:10]}132{i + 1:07d}" for i in range(args.channels)]
        self.main_file = hevc_copy(args.file, args.h265_seconds) if args.h265 else args.file
        self.sub_file = args.file if args.sub_h264 else self.main_file

    # -- wire -------------------------------------------------------------------------------------

    def write(self, msg: SipMessage) -> None:
        data = msg.encode()
        if self.writer is not None:
            self.writer.write(data)
        elif self.transport is not None:
            self.transport.sendto(data, self.server)

    def incoming(self, data: bytes) -> None:
        try:
            msg = sip.parse(data)
        except sip.SipError as exc:
            emit("bad_sip", error=str(exc))
            return
        if not msg.is_request:
            fut = self.waiting.pop(msg.branch, None)
            if fut is not None and not fut.done() and msg.status >= 200:
                fut.set_result(msg)
            return
        asyncio.get_running_loop().create_task(self.handle(msg))

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.args.transport == "tcp":
            reader, self.writer = await asyncio.open_connection(*self.server)
            self.local_port = self.writer.get_extra_info("sockname")[1]
            loop.create_task(self._read_tcp(reader))
        else:
            dev = self

            class Proto(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                    dev.incoming(data)

            self.transport, _ = await loop.create_datagram_endpoint(Proto, local_addr=("127.0.0.1", 0))
            self.local_port = self.transport.get_extra_info("sockname")[1]

    async def _read_tcp(self, reader: asyncio.StreamReader) -> None:
        buf = bytearray()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                emit("sip_closed")
                return
            buf += chunk
            while (n := sip.frame_length(buf)) is not None and len(buf) >= n:
                self.incoming(bytes(buf[:n]))
                del buf[:n]

    def request(
        self, method: str, to_user: str, body: bytes = b"", ctype: str = "", extra: list[tuple[str, str]] | None = None
    ) -> SipMessage:
        a = self.args
        self.cseq += 1
        branch = sip.new_branch()
        msg = SipMessage(method=method, uri=f"sip:{to_user}@{a.domain}")
        msg.headers += [
            ("Via", f"SIP/2.0/{a.transport.upper()} 127.0.0.1:{self.local_port};rport;branch={branch}"),
            ("From", f"<sip:{a.device}@{a.domain}>;tag={self.tag}"),
            ("To", f"<sip:{a.device if method == 'REGISTER' else to_user}@{a.domain}>"),
            ("Call-ID", self.call_id if method == "REGISTER" else sip.new_tag() + "@gbdevice"),
            ("CSeq", f"{self.cseq} {method}"),
            ("Max-Forwards", "70"),
            ("User-Agent", "gb_device.py"),
            *(extra or []),
        ]
        if ctype:
            msg.headers.append(("Content-Type", ctype))
        msg.body = body
        return msg

    async def send(self, msg: SipMessage, timeout_s: float = 5.0) -> SipMessage | None:
        fut: asyncio.Future[SipMessage] = asyncio.get_running_loop().create_future()
        self.waiting[msg.branch] = fut
        for _ in range(4 if self.writer is None else 1):
            self.write(msg)
            try:
                return await asyncio.wait_for(asyncio.shield(fut), timeout_s / 4 if self.writer is None else timeout_s)
            except TimeoutError:
                continue
        self.waiting.pop(msg.branch, None)
        return None

    # -- device behaviour -------------------------------------------------------------------------

    async def register(self, expires: int | None = None) -> bool:
        a = self.args
        expires = a.expires if expires is None else expires
        contact = [("Contact", f"<sip:{a.device}@127.0.0.1:{self.local_port}>"), ("Expires", str(expires))]
        res = await self.send(self.request("REGISTER", a.server_id, extra=contact))
        if res is not None and res.status == 401:
            challenge = res.get("www-authenticate") or ""
            uri = f"sip:{a.server_id}@{a.domain}"
            auth = sip.authorization(challenge, a.device, a.password, "REGISTER", uri)
            msg = self.request("REGISTER", a.server_id, extra=[*contact, ("Authorization", auth)])
            res = await self.send(msg)
        status = res.status if res is not None else None
        emit(
            "registered" if status == 200 and expires else "unregistered" if status == 200 else "register_failed",
            status=status,
            reason=res.reason if res is not None else "no answer",
        )
        return status == 200

    async def keepalives(self) -> None:
        registered = time.monotonic()
        while True:
            await asyncio.sleep(self.args.keepalive)
            if not self.keepalive:
                continue
            if time.monotonic() - registered > self.args.expires / 2:  # refresh before it runs out
                registered = time.monotonic()
                await self.register()
            body = manscdp.build("Notify", "Keepalive", self.next_sn(), self.args.device, Status="OK")
            res = await self.send(self.request("MESSAGE", self.args.server_id, body, "Application/MANSCDP+xml"))
            emit("keepalive", status=res.status if res is not None else None)

    def next_sn(self) -> int:
        self.sn += 1
        return self.sn

    async def handle(self, msg: SipMessage) -> None:
        if msg.method == "MESSAGE":
            self.write(sip.response(msg, 200, sip.new_tag()))
            try:
                doc = manscdp.parse(msg.body)
            except manscdp.ManscdpError as exc:
                emit("bad_manscdp", error=str(exc))
                return
            if doc.cmd == "Catalog":
                await self.catalog(doc.sn)
            elif doc.cmd == "DeviceInfo":
                body = manscdp.build(
                    "Response",
                    "DeviceInfo",
                    doc.sn,
                    self.args.device,
                    DeviceName="模拟NVR",
                    Manufacturer="skyhub",
                    Model="gb_device.py",
                    Firmware="1.0",
                    Result="OK",
                )
                await self.send(self.request("MESSAGE", self.args.server_id, body, "Application/MANSCDP+xml"))
            elif doc.cmd == "DeviceControl":
                cmd = doc.fields.get("PTZCmd", "")
                try:
                    parts = ptz.decode(cmd)
                except ValueError as exc:
                    parts = {"error": str(exc)}
                print(f"PTZ {doc.device_id}: {cmd} {parts}", file=sys.stderr, flush=True)
                emit("ptz", channel=doc.device_id, command=cmd, **parts)
        elif msg.method == "INVITE":
            await self.invite(msg)
        elif msg.method == "ACK":
            pass
        elif msg.method == "BYE":
            self.write(sip.response(msg, 200))
            streamer = self.streams.pop(msg.call_id, None)
            if streamer is not None:
                streamer.stop.set()
            emit("bye", call_id=msg.call_id, channel=streamer.channel if streamer else None)
        else:
            self.write(sip.response(msg, 405))

    async def catalog(self, sn: int) -> None:
        a = self.args
        total = a.sum_num if a.sum_num is not None else len(self.channels)
        per = max(1, a.per_message)
        for i in range(0, len(self.channels), per):
            items = ""
            for j, cid in enumerate(self.channels[i : i + per], start=i):
                name = NAMES[j % len(NAMES)] + (f"{j // len(NAMES) + 1}" if j >= len(NAMES) else "")
                items += (
                    f"<Item><DeviceID>{cid}</DeviceID><Name>{name}</Name><Manufacturer>skyhub</Manufacturer>"
                    f"<Model>IPC</Model><Owner>0</Owner><CivilCode>{a.civil_code}</CivilCode>"
                    f"<Address>{name}</Address><Parental>0</Parental><ParentID>{a.device}</ParentID>"
                    f"<SafetyWay>0</SafetyWay><RegisterWay>1</RegisterWay><Secrecy>0</Secrecy><Status>ON</Status>"
                    f"<Info><PTZType>{a.ptz_type}</PTZType></Info></Item>"
                )
            n = len(self.channels[i : i + per])
            text = (
                '<?xml version="1.0" encoding="GB2312"?>\r\n<Response>\r\n<CmdType>Catalog</CmdType>\r\n'
                f"<SN>{sn}</SN>\r\n<DeviceID>{a.device}</DeviceID>\r\n<SumNum>{total}</SumNum>\r\n"
                f'<DeviceList Num="{n}">{items}</DeviceList>\r\n</Response>\r\n'
            )
            res = await self.send(
                self.request("MESSAGE", a.server_id, text.encode("gb18030"), "Application/MANSCDP+xml")
            )
            emit("catalog_part", items=n, status=res.status if res is not None else None)

    async def invite(self, msg: SipMessage) -> None:
        a = self.args
        channel = sip.uri_user(msg.uri)
        sdp = msg.body.decode("utf-8", "replace")
        m = re.search(r"(?m)^m=video (\d+) (\S+)", sdp)
        c = re.search(r"(?m)^c=IN IP4 (\S+)", sdp)
        y = re.search(r"(?m)^y=(\d+)", sdp)
        if channel not in self.channels or m is None or c is None:
            self.write(sip.response(msg, 404 if channel not in self.channels else 488))
            emit("invite_refused", channel=channel)
            return
        port, proto = int(m.group(1)), m.group(2)
        tcp = proto.upper().startswith("TCP")
        sub = re.search(r"(?m)^a=(streamnumber|streamprofile):1\s*$", sdp) is not None
        ssrc = a.ssrc if a.ssrc else (y.group(1) if y else "0100000001")
        to_tag = sip.new_tag()
        res = sip.response(msg, 200, to_tag)
        res.headers.append(("Contact", f"<sip:{channel}@127.0.0.1:{self.local_port}>"))
        res.headers.append(("Content-Type", "APPLICATION/SDP"))
        res.body = (
            f"v=0\r\no={channel} 0 0 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=video 9 {'TCP/RTP/AVP' if tcp else 'RTP/AVP'} 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\n"
            + ("a=setup:active\r\na=connection:new\r\n" if tcp else "")
            + f"y={ssrc}\r\n"
        ).encode()
        self.write(res)
        emit(
            "invite",
            channel=channel,
            port=port,
            transport="tcp" if tcp else "udp",
            ssrc=ssrc,
            offered=y.group(1) if y else None,
            stream=1 if sub else 0,
        )
        streamer = Streamer(a, c.group(1), port, tcp, int(ssrc), channel, self.sub_file if sub else self.main_file)
        self.streams[msg.call_id] = streamer
        streamer.start()

    async def commands(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str] = asyncio.Queue()

        def read() -> None:
            for line in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line.strip())
            loop.call_soon_threadsafe(queue.put_nowait, "eof")

        threading.Thread(target=read, daemon=True).start()
        while True:
            cmd = await queue.get()
            if cmd == "pause":
                self.keepalive = False
                emit("paused")
            elif cmd == "resume":
                self.keepalive = True
                emit("resumed")
            elif cmd == "register":
                self.call_id = sip.new_tag() + "@gbdevice"
                await self.register()
            elif cmd == "unregister":
                await self.register(0)
            elif cmd == "mute":
                for streamer in self.streams.values():
                    streamer.stop.set()
                emit("muted", streams=len(self.streams))
            elif cmd == "quit":
                return
            elif cmd == "eof":
                await asyncio.Event().wait()  # no driver: run until killed


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1:5060", help="platform SIP address HOST:PORT")
    p.add_argument("--server-id", default="35050200002000000001")
    p.add_argument("--domain", default="3505020000")
    p.add_argument("--device", default="35050200001180000001", help="this device's 20-digit id")
    p.add_argument("--password", default=os.environ.get("SKYHUB_GB_PASSWORD", ""))
    p.add_argument("--transport", choices=["udp", "tcp"], default="udp", help="SIP transport")
    p.add_argument("--channels", type=int, default=2)
    p.add_argument("--per-message", type=int, default=1, help="catalogue items per MESSAGE")
    p.add_argument("--sum-num", type=int, default=None, help="SumNum to claim (more than sent: never complete)")
    p.add_argument("--civil-code", default="350502")
    p.add_argument("--ptz-type", default="1", help="PTZType in the catalogue: 1 dome, 2 half-dome, 3 fixed, 4 remote")
    p.add_argument("--file", default=DEFAULT_FILE, help="video to stream (H.264 or H.265)")
    p.add_argument("--h265", action="store_true", help="send the file re-encoded to H.265 (libx265)")
    p.add_argument("--h265-seconds", type=float, default=10.0, help="how much of the file --h265 re-encodes")
    p.add_argument("--sub-h264", action="store_true", help="with --h265: the sub-stream is the file's own H.264")
    p.add_argument("--keepalive", type=float, default=60.0)
    p.add_argument("--expires", type=int, default=3600)
    p.add_argument("--ssrc", default="", help="answer INVITEs with this SSRC instead of the offered one")
    p.add_argument("--drop", type=float, default=0.0, help="share of RTP packets dropped")
    p.add_argument("--reorder", type=float, default=0.0, help="share of RTP packets sent one late")
    p.add_argument("--garbage", type=float, default=0.0, help="share of frames with random bytes spliced in")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    dev = Device(args)
    delay = 0.5
    while True:  # as a real device does: until the platform is there and takes it
        try:
            if dev.transport is None and dev.writer is None:
                await dev.start()
            if await dev.register():
                break
        except OSError as exc:
            emit("register_failed", status=None, reason=str(exc))
        await asyncio.sleep(delay)
        delay = min(2 * delay, 5.0)
    ka = asyncio.get_running_loop().create_task(dev.keepalives())
    try:
        await dev.commands()
    finally:
        ka.cancel()
        for s in dev.streams.values():
            s.stop.set()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
