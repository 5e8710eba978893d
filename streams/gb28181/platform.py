"""The hub as a GB/T 28181 upper platform: registrar, keepalives, catalogue, INVITE/BYE.

Devices register (MD5 digest), keep alive with MESSAGEs and report their channels in Catalog
answers that may span several MESSAGEs; the platform tells its owner through callbacks
(``on_device`` when a device goes online or offline, ``on_channels`` when a catalogue is
complete) and invites channels for the camera sources (:mod:`streams.gb28181.source`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from streams.gb28181 import manscdp, sip
from streams.gb28181.config import Gb28181Config
from streams.gb28181.manscdp import Channel, ManscdpError
from streams.gb28181.rtp import RtpReceiver, RtpStats
from streams.gb28181.sip import NonceMaker, SipMessage
from streams.gb28181.source import Invited
from streams.gb28181.transport import Peer, SipTransport
from streams.packets import SourceError

log = logging.getLogger(__name__)

PASSWORD_ENV = "SKYHUB_GB_PASSWORD"
MONITOR_S = 0.25
BYE_ON_CLOSE_S = 1.0
"""How long a stopping platform waits for its BYEs' answers, all together."""
WARN_EVERY_S = 10.0
WARN_KEYS = 4096


@dataclass
class Device:
    """A registered (or once registered) device."""

    id: str
    peer: Peer
    """Where it registered from (requests to it go there, on its TCP connection if it used one)."""
    contact: str = ""
    registered_until: float = 0.0
    """Monotonic time the registration runs out."""
    last_seen: float = 0.0
    """Monotonic time of its newest REGISTER or keepalive."""
    online: bool = False
    info: dict[str, str] = field(default_factory=dict)
    """DeviceInfo answer (Manufacturer, Model, Firmware…)."""
    channels: dict[str, Channel] = field(default_factory=dict)
    """Its video channels from the newest complete catalogue."""
    catalog_sn: int = 0
    catalog_sum: int | None = None
    catalog_items: dict[str, Channel] = field(default_factory=dict)
    catalog_deadline: float | None = None
    next_catalog: float = 0.0


@dataclass
class Dialog:
    """An INVITE dialog the platform started."""

    call_id: str
    device: str
    channel: str
    local_tag: str
    remote_tag: str
    target: str
    peer: Peer
    cseq: int
    receiver: RtpReceiver | None = None


DeviceFn = Callable[[str, bool, str, dict[str, str]], Awaitable[None]]
ChannelsFn = Callable[[str, list[Channel]], Awaitable[None]]


class GbPlatform:
    """The SIP server side of GB/T 28181; also the :class:`~streams.gb28181.source.Gate` of GB sources."""

    def __init__(
        self, config: Gb28181Config, on_device: DeviceFn, on_channels: ChannelsFn, env: dict[str, str] | None = None
    ) -> None:
        self.config = config
        self._env = dict(os.environ if env is None else env)
        self._on_device = on_device
        self._on_channels = on_channels
        self.transport = SipTransport(
            config.host, config.port, self._handle, config.rate_per_s, config.max_message_bytes
        )
        self.devices: dict[str, Device] = {}
        self.dialogs: dict[str, Dialog] = {}
        self._nonces = NonceMaker()
        self._sn = itertools.count(1)
        self._ssrc = itertools.count(1)
        self._cseq = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._ports_lock = threading.Lock()
        self._free_ports = list(range(config.media_ports[0], config.media_ports[1] + 1))
        self._rx_lock = threading.Lock()
        self._live_rx: set[RtpReceiver] = set()
        self._retired = RtpStats()
        self._warned: dict[tuple[str, str], float] = {}
        self.refused: Counter[str] = Counter()
        """Requests refused, by reason (``auth``, ``unknown_device``, ``xml``, ``catalog_incomplete``…)."""
        self.media_host = config.media_host
        self.media_transport = config.transport
        self.jitter_packets = config.jitter_packets
        self.invite_timeout_s = config.invite_timeout_s
        self.rtp_timeout_s = config.rtp_timeout_s

    # -- life -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen and start the keepalive monitor."""
        self._loop = asyncio.get_running_loop()
        await self.transport.start()
        self._task = asyncio.create_task(self._monitor(), name="gb28181-monitor")

    @property
    def port(self) -> int:
        """The SIP port (UDP and TCP)."""
        return self.transport.port

    async def aclose(self) -> None:
        """BYE every stream, stop listening (bounded, idempotent)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        dialogs = list(self.dialogs.values())
        if dialogs:  # all at once, one bound for all: a dead device must not hold up the shutdown
            byes = [asyncio.ensure_future(self._bye(d)) for d in dialogs]
            _, pending = await asyncio.wait(byes, timeout=BYE_ON_CLOSE_S)
            for late in pending:
                late.cancel()
            await asyncio.gather(*byes, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        await self.transport.aclose()

    def _spawn(self, coro: Awaitable[object], name: str) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- figures ----------------------------------------------------------------------------------

    def rtp_stats(self) -> RtpStats:
        """RTP counters of every stream so far."""
        total = RtpStats()
        with self._rx_lock:
            total.add(self._retired)
            for rx in self._live_rx:
                total.add(rx.stats)
        return total

    # -- requests in ------------------------------------------------------------------------------

    async def _handle(self, msg: SipMessage, peer: Peer) -> None:
        if not msg.is_request:
            return  # a late answer to a transaction that gave up
        method = msg.method
        if method == "REGISTER":
            await self._register(msg, peer)
        elif method == "MESSAGE":
            await self._message(msg, peer)
        elif method == "NOTIFY":
            self.transport.answer(msg, sip.response(msg, 200, sip.new_tag()), peer)
            dev = self.devices.get(sip.uri_user(msg.get("from") or ""))
            if dev is not None and dev.online:
                dev.next_catalog = 0.0  # a catalogue change: ask again
        elif method == "BYE":
            dialog = self.dialogs.pop(msg.call_id, None)
            self.transport.answer(msg, sip.response(msg, 200 if dialog else 481), peer)
            if dialog is not None:
                log.info("gb28181: device %s ended channel %s (BYE)", dialog.device, dialog.channel)
                if dialog.receiver is not None:
                    dialog.receiver.reason = f"device {dialog.device} ended the stream (BYE)"
                    dialog.receiver.interrupt()
        elif method == "ACK":
            return
        elif method == "OPTIONS":
            self.transport.answer(msg, sip.response(msg, 200, sip.new_tag()), peer)
        else:
            res = sip.response(msg, 405, sip.new_tag())
            res.headers.append(("Allow", "REGISTER, MESSAGE, NOTIFY, BYE, ACK, OPTIONS"))
            self.transport.answer(msg, res, peer)

    def _warn(self, kind: str, peer: Peer, text: str, *args: object) -> None:
        """A refusal in the log: once per kind and address every WARN_EVERY_S, so a flood of bad
        requests cannot flood the log (the counters still count each one)."""
        now = time.monotonic()
        key = (kind, peer.host)
        if now - self._warned.get(key, -WARN_EVERY_S) < WARN_EVERY_S:
            return
        if len(self._warned) >= WARN_KEYS:
            self._warned.clear()
        self._warned[key] = now
        log.warning(text, *args)

    def _password(self, device_id: str) -> str | None:
        for d in self.config.devices:
            if d.id == device_id:
                name = d.password[2:-1] if d.password else PASSWORD_ENV
                return self._env.get(name)
        if self.config.accept_any:
            return self._env.get(PASSWORD_ENV)
        return None

    def _challenge(self) -> str:
        return f'Digest realm="{self.config.domain}", nonce="{self._nonces.make()}", algorithm=MD5'

    def _known(self, device_id: str) -> bool:
        return self.config.accept_any or any(d.id == device_id for d in self.config.devices)

    async def _register(self, msg: SipMessage, peer: Peer) -> None:
        device_id = sip.uri_user(msg.get("from") or "")
        if not re.fullmatch(r"[0-9]{20}", device_id):
            self.refused["bad_id"] += 1
            self._warn(
                "bad_id",
                peer,
                "gb28181: REGISTER from %s with id %r refused: not a 20-digit GB id",
                peer,
                device_id[:40],
            )
            self.transport.answer(msg, sip.response(msg, 400, sip.new_tag(), "Not a 20-digit GB device id"), peer)
            return
        if not self._known(device_id):
            self.refused["unknown_device"] += 1
            self._warn("unknown", peer, "gb28181: device %s (%s) is not configured; REGISTER refused", device_id, peer)
            self.transport.answer(msg, sip.response(msg, 403, sip.new_tag(), "Device not configured"), peer)
            return
        password = self._password(device_id)
        if password is None:
            self.refused["no_password"] += 1
            log.warning("gb28181: device %s: no password in the environment; REGISTER refused", device_id)
            self.transport.answer(msg, sip.response(msg, 403, sip.new_tag(), "No password set for device"), peer)
            return
        if msg.get("authorization") is None:
            res = sip.response(msg, 401, sip.new_tag())
            res.headers.append(("WWW-Authenticate", self._challenge()))
            self.transport.answer(msg, res, peer)
            return
        problem = sip.check_digest(msg, self.config.domain, password, self._nonces)
        if problem is not None:
            self.refused["auth"] += 1
            self._warn("auth", peer, "gb28181: device %s (%s): REGISTER refused: %s", device_id, peer, problem)
            if problem.startswith("stale"):
                res = sip.response(msg, 401, sip.new_tag())
                res.headers.append(("WWW-Authenticate", self._challenge() + ", stale=TRUE"))
            else:
                res = sip.response(msg, 403, sip.new_tag(), "Wrong password")
            self.transport.answer(msg, res, peer)
            return
        contact = msg.get("contact") or ""
        asked = msg.get("expires") or sip.header_params(contact).get("expires") or str(self.config.expires_s)
        expires = min(int(asked), self.config.expires_s) if asked.isdigit() else self.config.expires_s
        res = sip.response(msg, 200, sip.new_tag())
        res.headers.append(("Date", time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())))
        res.headers.append(("Expires", str(expires)))
        if contact:
            res.headers.append(("Contact", contact))
        self.transport.answer(msg, res, peer)
        now = time.monotonic()
        dev = self.devices.get(device_id)
        if expires == 0:
            if dev is not None and dev.online:
                await self._offline(dev, "deregistered (Expires: 0)")
            return
        if dev is None:
            if len(self.devices) >= self.config.max_devices:
                self.refused["too_many_devices"] += 1
                return
            dev = self.devices[device_id] = Device(device_id, peer)
        dev.peer, dev.contact = peer, contact
        dev.registered_until = now + expires
        dev.last_seen = now
        if not dev.online:
            dev.online = True
            dev.next_catalog = 0.0
            log.info("gb28181: device %s registered from %s for %d s", device_id, peer, expires)
            await self._on_device(device_id, True, f"registered from {peer}", dict(dev.info))

    async def _message(self, msg: SipMessage, peer: Peer) -> None:
        device_id = sip.uri_user(msg.get("from") or "")
        dev = self.devices.get(device_id)
        if dev is None or not dev.online:
            self.refused["unregistered"] += 1
            self._warn(
                "unregistered",
                peer,
                "gb28181: MESSAGE from unregistered device %s (%s) refused",
                device_id or "?",
                peer,
            )
            self.transport.answer(msg, sip.response(msg, 403, sip.new_tag(), "Register first"), peer)
            return
        try:
            doc = manscdp.parse(msg.body, self.config.max_message_bytes)
        except ManscdpError as exc:
            self.refused["xml"] += 1
            self._warn("xml", peer, "gb28181: device %s: MESSAGE refused: %s", device_id, exc)
            self.transport.answer(msg, sip.response(msg, 400, sip.new_tag(), "Bad MANSCDP body"), peer)
            return
        self.transport.answer(msg, sip.response(msg, 200, sip.new_tag()), peer)
        if doc.cmd == "Keepalive":
            dev.last_seen = time.monotonic()
            if peer.transport == dev.peer.transport and peer.host == dev.peer.host:
                dev.peer = peer
        elif doc.cmd == "Catalog" and doc.root == "Response":
            await self._catalog_part(dev, doc)
        elif doc.cmd == "DeviceInfo" and doc.root == "Response":
            dev.info = {k: v for k, v in doc.fields.items() if k in ("DeviceName", "Manufacturer", "Model", "Firmware")}

    async def _catalog_part(self, dev: Device, doc: manscdp.Manscdp) -> None:
        total = doc.fields.get("SumNum", "")
        if dev.catalog_sum is None:
            dev.catalog_sum = int(total) if total.isdigit() else len(doc.channels)
            dev.catalog_items = {}
            dev.catalog_deadline = time.monotonic() + self.config.catalog_timeout_s
        for ch in doc.channels:
            if len(dev.catalog_items) < self.config.max_channels_per_device:
                dev.catalog_items[ch.id] = ch
        if len(dev.catalog_items) >= min(dev.catalog_sum, self.config.max_channels_per_device):
            await self._catalog_done(dev, complete=True)

    async def _catalog_done(self, dev: Device, complete: bool) -> None:
        items = dev.catalog_items
        if not complete:
            self.refused["catalog_incomplete"] += 1
            log.warning(
                "gb28181: device %s: catalogue incomplete after %.0f s (%d of SumNum %s); using what came",
                dev.id,
                self.config.catalog_timeout_s,
                len(items),
                dev.catalog_sum,
            )
        dev.catalog_sum, dev.catalog_deadline, dev.catalog_items = None, None, {}
        dev.channels = {c.id: c for c in items.values() if c.is_video}
        log.info("gb28181: device %s: %d video channels of %d catalogue entries", dev.id, len(dev.channels), len(items))
        await self._on_channels(dev.id, list(dev.channels.values()))

    # -- requests out -----------------------------------------------------------------------------

    def _via(self, peer: Peer) -> str:
        """Our Via header value for a request to ``peer``."""
        local = f"{self.config.announce}:{self.transport.port}"
        return f"SIP/2.0/{peer.transport.upper()} {local};rport;branch={sip.new_branch()}"

    def _request(self, method: str, dev: Device, to_user: str, body: bytes = b"", content_type: str = "") -> SipMessage:
        cfg = self.config
        local = f"{cfg.announce}:{self.transport.port}"
        transport = dev.peer.transport.upper()
        msg = SipMessage(method=method, uri=f"sip:{to_user}@{dev.peer.host}:{dev.peer.port}")
        msg.headers += [
            ("Via", f"SIP/2.0/{transport} {local};rport;branch={sip.new_branch()}"),
            ("From", f"<sip:{cfg.id}@{cfg.domain}>;tag={sip.new_tag()}"),
            ("To", f"<sip:{to_user}@{cfg.domain}>"),
            ("Call-ID", f"{sip.new_tag()}{sip.new_tag()}@{cfg.announce}"),
            ("CSeq", f"{next(self._cseq)} {method}"),
            ("Max-Forwards", "70"),
            ("User-Agent", "skyhub"),
        ]
        if content_type:
            msg.headers.append(("Content-Type", content_type))
        msg.body = body
        return msg

    async def query(self, dev: Device, cmd: str) -> None:
        """Send a MANSCDP Query (Catalog, DeviceInfo) to a device."""
        body = manscdp.build("Query", cmd, next(self._sn), dev.id)
        msg = self._request("MESSAGE", dev, dev.id, body, "Application/MANSCDP+xml")
        try:
            res = await self.transport.request(msg, dev.peer, timeout_s=8.0)
        except TimeoutError:
            log.warning("gb28181: device %s did not answer the %s query", dev.id, cmd)
            return
        if res.status >= 300:
            log.warning("gb28181: device %s refused the %s query: %d %s", dev.id, cmd, res.status, res.reason)

    async def control(self, device_id: str, channel: str, ptz_cmd: str) -> None:
        """Send a DeviceControl with ``ptz_cmd`` to a channel; SourceError when the device cannot be
        reached or refuses it."""
        dev = self.devices.get(device_id)
        if dev is None or not dev.online:
            raise SourceError(f"GB device {device_id} is offline")
        body = manscdp.build("Control", "DeviceControl", next(self._sn), channel, PTZCmd=ptz_cmd)
        msg = self._request("MESSAGE", dev, channel, body, "Application/MANSCDP+xml")
        try:
            res = await self.transport.request(msg, dev.peer, timeout_s=4.0)
        except TimeoutError:
            raise SourceError(f"GB device {device_id} did not answer the PTZ command") from None
        if res.status >= 300:
            raise SourceError(f"GB device {device_id} refused the PTZ command: {res.status} {res.reason}")

    async def _ask_catalog(self, dev: Device) -> None:
        dev.catalog_sum, dev.catalog_items = None, {}
        dev.catalog_deadline = time.monotonic() + self.config.catalog_timeout_s
        await self.query(dev, "Catalog")
        await self.query(dev, "DeviceInfo")

    def _offer(self, port: int, transport: str, ssrc: str, stream: int = 0) -> bytes:
        cfg = self.config
        proto = "TCP/RTP/AVP" if transport == "tcp" else "RTP/AVP"
        lines = [
            "v=0",
            f"o={cfg.id} 0 0 IN IP4 {cfg.announce}",
            "s=Play",
            f"c=IN IP4 {cfg.announce}",
            "t=0 0",
            f"m=video {port} {proto} 96",
            "a=recvonly",
            "a=rtpmap:96 PS/90000",
        ]
        if transport == "tcp":
            lines += ["a=setup:passive", "a=connection:new"]
        if stream:  # the 2022 edition's attribute, and the one Hikvision devices read
            lines += [f"a=streamnumber:{stream}", f"a=streamprofile:{stream}"]
        lines.append(f"y={ssrc}")
        return ("\r\n".join(lines) + "\r\n").encode()

    async def invite(self, device_id: str, channel: str, port: int, transport: str, stream: int = 0) -> Invited:
        """INVITE a channel's live video (``stream`` 1: its sub-stream) to our ``port``; SourceError
        when it cannot be had."""
        dev = self.devices.get(device_id)
        if dev is None or not dev.online:
            raise SourceError(f"GB device {device_id} is offline")
        ssrc = f"0{self.config.domain[3:8]}{next(self._ssrc) % 10000:04d}"
        msg = self._request("INVITE", dev, channel, self._offer(port, transport, ssrc, stream), "APPLICATION/SDP")
        msg.headers.append(("Contact", f"<sip:{self.config.id}@{self.config.announce}:{self.transport.port}>"))
        msg.headers.append(("Subject", f"{channel}:{ssrc},{self.config.id}:0"))
        try:
            res = await self.transport.request(msg, dev.peer, timeout_s=self.config.invite_timeout_s)
        except TimeoutError:
            raise SourceError(f"GB device {device_id} did not answer the INVITE of channel {channel}") from None
        if res.status >= 300:
            raise SourceError(f"GB device {device_id} refused channel {channel}: {res.status} {res.reason}")
        answer = res.body.decode("utf-8", "replace")
        m = re.search(r"(?m)^y=(\d{1,10})\s*$", answer)
        their = m.group(1) if m else ssrc
        if their != ssrc:
            log.info(
                "gb28181: channel %s: the device answers with SSRC %s instead of %s; following it", channel, their, ssrc
            )
        dialog = Dialog(
            msg.call_id,
            device_id,
            channel,
            sip.tag(msg.get("from") or ""),
            sip.tag(res.get("to") or ""),
            sip.uri_of(res.get("contact") or "") or msg.uri,
            dev.peer,
            msg.cseq[0],
        )
        self.dialogs[dialog.call_id] = dialog
        ack = SipMessage(method="ACK", uri=dialog.target)
        ack.headers += [
            ("Via", self._via(dev.peer)),
            ("From", msg.get("from") or ""),
            ("To", res.get("to") or ""),
            ("Call-ID", dialog.call_id),
            ("CSeq", f"{dialog.cseq} ACK"),
            ("Max-Forwards", "70"),
        ]
        self.transport.send(ack, dev.peer)
        return Invited(dialog.call_id, int(their))

    async def _bye(self, dialog: Dialog) -> None:
        self.dialogs.pop(dialog.call_id, None)
        cfg = self.config
        dialog.cseq += 1
        msg = SipMessage(method="BYE", uri=dialog.target)
        msg.headers += [
            ("Via", self._via(dialog.peer)),
            ("From", f"<sip:{cfg.id}@{cfg.domain}>;tag={dialog.local_tag}"),
            ("To", f"<sip:{dialog.channel}@{cfg.domain}>;tag={dialog.remote_tag}"),
            ("Call-ID", dialog.call_id),
            ("CSeq", f"{dialog.cseq} BYE"),
            ("Max-Forwards", "70"),
        ]
        try:
            await self.transport.request(msg, dialog.peer, timeout_s=4.0)
        except TimeoutError:
            log.info("gb28181: channel %s: no answer to BYE", dialog.channel)

    # -- Gate (reader threads) --------------------------------------------------------------------

    def take_port(self) -> int:
        """A free media port."""
        with self._ports_lock:
            if not self._free_ports:
                raise OSError("every media port is in use")
            return self._free_ports.pop(0)

    def give_port(self, port: int) -> None:
        """Return a media port (to the end: a late packet of the old stream goes nowhere soon)."""
        with self._ports_lock:
            if port not in self._free_ports:
                self._free_ports.append(port)

    def invite_blocking(
        self, device: str, channel: str, port: int, transport: str, timeout_s: float, stream: int = 0
    ) -> Invited:
        """:meth:`invite` from a reader thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise SourceError("the GB/T 28181 platform has stopped")
        fut = asyncio.run_coroutine_threadsafe(self.invite(device, channel, port, transport, stream), loop)
        try:
            return fut.result(timeout_s + 1.0)
        except TimeoutError:
            fut.cancel()
            raise SourceError(f"GB device {device} did not answer the INVITE of channel {channel}") from None

    def track(self, receiver: RtpReceiver) -> None:
        """Count a live stream's RTP in /metrics; its dialog learns of it (a BYE from the device ends it)."""
        with self._rx_lock:
            self._live_rx.add(receiver)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._bind_receiver, receiver)

    def _bind_receiver(self, receiver: RtpReceiver) -> None:
        dialog = self.dialogs.get(receiver.call_id or "")
        if dialog is not None:
            dialog.receiver = receiver

    def retire(self, receiver: RtpReceiver) -> None:
        """A stream ended: keep its counters."""
        with self._rx_lock:
            if receiver in self._live_rx:
                self._live_rx.discard(receiver)
                self._retired.add(receiver.stats)

    def bye_soon(self, call_id: str) -> None:
        """End a dialog from any thread (returns at once)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def go() -> None:
            dialog = self.dialogs.get(call_id)
            if dialog is not None:
                self._spawn(self._bye(dialog), f"gb28181-bye-{dialog.channel}")

        try:
            loop.call_soon_threadsafe(go)
        except RuntimeError:  # the loop closed meanwhile
            pass

    # -- keepalives, expiry, catalogue schedule ---------------------------------------------------

    async def _offline(self, dev: Device, reason: str) -> None:
        dev.online = False
        log.warning("gb28181: device %s offline: %s", dev.id, reason)
        for dialog in list(self.dialogs.values()):
            if dialog.device == dev.id:
                self.dialogs.pop(dialog.call_id, None)
                if dialog.receiver is not None:
                    dialog.receiver.reason = f"device {dev.id} is offline ({reason})"
                    dialog.receiver.interrupt()
        await self._on_device(dev.id, False, reason, dict(dev.info))

    async def _monitor(self) -> None:
        cfg = self.config
        while True:
            await asyncio.sleep(MONITOR_S)
            now = time.monotonic()
            for dev in list(self.devices.values()):
                if not dev.online:
                    continue
                silent = now - dev.last_seen
                if silent > cfg.keepalive_misses * cfg.keepalive_s:
                    await self._offline(dev, f"missed {cfg.keepalive_misses} keepalives ({silent:.1f} s silent)")
                elif now > dev.registered_until:
                    await self._offline(dev, "registration expired")
                elif dev.catalog_deadline is not None and now > dev.catalog_deadline:
                    await self._catalog_done(dev, complete=False)
                elif now >= dev.next_catalog and dev.catalog_deadline is None:
                    dev.next_catalog = now + cfg.catalog_refresh_s
                    self._spawn(self._ask_catalog(dev), f"gb28181-catalog-{dev.id}")
