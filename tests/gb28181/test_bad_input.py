"""Bad input to the GB/T 28181 platform: each answered or dropped and counted, nothing else disturbed."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from pathlib import Path
from typing import Any

from streams.gb28181 import sip
from streams.gb28181.sip import SipMessage
from tests.calls.conftest import api, poll
from tests.gb28181.conftest import DEVICE, PASSWORD, SERVER, gb_settings, metric
from tests.gb28181.test_platform import _cameras, _state, _watch
from tests.hub.conftest import serve

DOMAIN = "3505020000"


class SipClient:
    """A bare UDP SIP peer for hand-made messages."""

    def __init__(self, port: int) -> None:
        self.addr = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def request(
        self, method: str, user: str, body: bytes = b"", extra: list[tuple[str, str]] | None = None
    ) -> SipMessage:
        msg = SipMessage(method=method, uri=f"sip:{SERVER}@{DOMAIN}")
        msg.headers += [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch={sip.new_branch()}"),
            ("From", f"<sip:{user}@{DOMAIN}>;tag={sip.new_tag()}"),
            ("To", f"<sip:{user}@{DOMAIN}>"),
            ("Call-ID", sip.new_tag() + "@test"),
            ("CSeq", f"1 {method}"),
            ("Contact", f"<sip:{user}@127.0.0.1:{self.port}>"),
            *(extra or []),
        ]
        msg.body = body
        return msg

    async def send(self, data: bytes, answer: bool = True) -> SipMessage | None:
        loop = asyncio.get_running_loop()
        self.sock.sendto(data, self.addr)
        if not answer:
            return None
        try:
            async with asyncio.timeout(3):
                while True:  # the hub's own requests (a Catalog query once registered) are not the answer
                    msg = sip.parse(await loop.sock_recv(self.sock, 65536))
                    if not msg.is_request:
                        return msg
        except TimeoutError:
            return None

    async def register(self, user: str, password: str) -> SipMessage | None:
        first = await self.send(self.request("REGISTER", user).encode())
        if first is None or first.status != 401:
            return first
        auth = sip.authorization(
            first.get("www-authenticate") or "", user, password, "REGISTER", f"sip:{SERVER}@{DOMAIN}"
        )
        return await self.send(self.request("REGISTER", user, extra=[("Authorization", auth)]).encode())

    def close(self) -> None:
        self.sock.close()


BOMB = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n'
    b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>&c;</DeviceID></Notify>"
)


async def test_bad_sip_and_xml_are_answered_or_dropped_and_counted(
    tmp_path: Path, peers: Any, gb_device: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    other = "35050200001180000009"
    settings = gb_settings(tmp_path, devices=[{"id": DEVICE}, {"id": other}], rate_per_s=50, max_message_bytes=16384)
    async with serve(settings) as rh:
        dev = await gb_device(settings, "--channels", "1")
        async with await api(rh, "dispatcher") as c:
            (camera_id,) = await poll(lambda: _cameras(c), 30, "the GB camera")
            await poll(lambda: _state(c, camera_id, "online"), 40, f"{camera_id} online")
        viewer = await _watch(rh, peers, camera_id, 5)
        client = SipClient(settings.gb28181.port)
        try:
            # Malformed SIP: garbage is dropped; a request with a broken header line answers 400.
            assert await client.send(b"\x00\x01 not sip at all \xff" * 20, answer=False) is None
            bad = (
                client.request("OPTIONS", other)
                .encode()
                .replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 OPTIONS\r\nno colon here")
            )
            res = await client.send(bad)
            assert res is not None and res.status == 400
            # An unknown device, then a wrong digest: 403, each counted.
            res = await client.register("35050200001180000404", PASSWORD)
            assert res is not None and res.status == 403 and "not configured" in res.reason
            res = await client.register(other, "wrong password")
            assert res is not None and res.status == 403
            # A MESSAGE before registering: 403.
            ka = client.request("MESSAGE", other, b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN></Notify>")
            res = await client.send(ka.encode())
            assert res is not None and res.status == 403
            # Registered: entity expansion and an oversized body are refused with 400, nothing parsed.
            res = await client.register(other, PASSWORD)
            assert res is not None and res.status == 200
            res = await client.send(client.request("MESSAGE", other, BOMB).encode())
            assert res is not None and res.status == 400
            huge = b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><X>" + b"a" * 20_000 + b"</X></Notify>"
            res = await client.send(client.request("MESSAGE", other, huge).encode())  # over the limit: not parsed
            assert res is not None and res.status == 400 and "over the 16384-byte limit" in res.reason
            # RTP with a foreign SSRC at the live stream's port, and RTP at a port nobody invited.
            rx_port = next(iter(rh.hub.gb.platform._live_rx)).port
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(50):
                rtp.sendto(
                    struct.pack("!BBHII", 0x80, 96, i, 0, 0xDEADBEEF) + b"\x00\x00\x01\xba" + b"x" * 100,
                    ("127.0.0.1", rx_port),
                )
                rtp.sendto(b"\x80\x60garbage", ("127.0.0.1", settings.gb28181.media_ports[1]))
            rtp.close()
            # A flood from one address: beyond rate_per_s it is dropped before parsing.
            flood = client.request("OPTIONS", other).encode()
            accepted = rh.hub.gb.platform.transport.received
            await asyncio.to_thread(_flood, client, flood, 2000)
            await asyncio.sleep(0.5)
            accepted = rh.hub.gb.platform.transport.received - accepted
        finally:
            client.close()
        async with await rh.client("admin") as a:
            m = await poll(lambda: _metrics_with(a, "skyhub_gb_rtp_foreign_total", 50), 10, "foreign RTP counted")
        assert metric(m, 'skyhub_gb_sip_dropped_total{reason="malformed"}') >= 3
        assert metric(m, 'skyhub_gb_sip_dropped_total{reason="rate"}') > 0
        assert accepted <= 200  # the burst (2 × 50) and 50 a second: not the 2,000 sent
        assert metric(m, 'skyhub_gb_refused_total{reason="unknown_device"}') == 1
        assert metric(m, 'skyhub_gb_refused_total{reason="auth"}') == 1
        assert metric(m, 'skyhub_gb_refused_total{reason="xml"}') == 1
        assert metric(m, 'skyhub_gb_refused_total{reason="unregistered"}') == 1
        # Nothing else disturbed: the device stays online and its video keeps coming.
        frames = viewer.frames[0]
        await poll(lambda: viewer.frames[0] >= frames + 20, 20, "video after the bad input")
        async with await api(rh, "dispatcher") as c:
            assert await _state(c, camera_id, "online")
        assert not dev.seen("unregistered") and rh.hub.gb.platform.devices[DEVICE].online


def _flood(client: SipClient, data: bytes, count: int) -> None:
    for i in range(count):
        client.sock.sendto(data, client.addr)
        if i % 50 == 0:
            time.sleep(0.001)  # let the hub's loop read: the kernel would drop them otherwise


async def _metrics_with(a: Any, name: str, at_least: float) -> str | None:
    text = (await a.get("/metrics")).text
    return text if metric(text, name) >= at_least else None


async def test_catalogue_that_never_reaches_sumnum_is_used_after_the_timeout(
    tmp_path: Path, gb_device: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path, catalog_timeout_s=2)
    async with serve(settings) as rh:
        await gb_device(settings, "--channels", "2", "--sum-num", "5")
        async with await api(rh, "dispatcher") as c:
            cams = await poll(lambda: _two(c), 20, "the two channels that came")
            assert len(cams) == 2
        async with await rh.client("admin") as a:
            m = (await a.get("/metrics")).text
        assert metric(m, 'skyhub_gb_refused_total{reason="catalog_incomplete"}') == 1


async def _two(c: Any) -> dict[str, Any] | None:
    cams = await _cameras(c)
    return cams if len(cams) == 2 else None


async def test_ps_garbage_does_not_stop_the_video(tmp_path: Path, peers: Any, gb_device: Any, monkeypatch: Any) -> None:
    """A tenth of the frames with random bytes spliced into the PS: the demuxer resynchronises at
    the next pack header, the camera stays online, its viewer keeps decoding pictures, and the
    damaged packets are counted."""
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path)
    async with serve(settings) as rh:
        dev = await gb_device(settings, "--channels", "1", "--garbage", "0.1")
        async with await api(rh, "dispatcher") as c:
            (camera_id,) = await poll(lambda: _cameras(c), 30, "the GB camera")
            await poll(lambda: _state(c, camera_id, "online"), 40, f"{camera_id} online")
            viewer = await _watch(rh, peers, camera_id, 30)
            frames = viewer.frames[0]
            await poll(lambda: viewer.frames[0] >= frames + 60, 30, "60 more pictures through the garbage")
            assert await _state(c, camera_id, "online")
            assert len(dev.seen("invite")) == 1  # never re-invited: the stream did not break
            # The analysis decodes every packet: what the garbage broke is counted, and skipped.
            await poll(lambda: _corrupt(c, camera_id), 30, "damaged video counted")


async def _corrupt(c: Any, camera_id: str) -> dict[str, Any] | None:
    cam = (await _cameras(c)).get(camera_id)
    return cam if cam is not None and cam["corrupt_packets"] > 0 else None
