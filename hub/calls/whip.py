"""Field video in over WHIP (RFC 9725): a worker's phone or a body camera publishes as a camera.

``POST /whip/field-<name>`` with an SDP offer that sends H.264 makes a peer connection whose video
becomes camera ``field-<name>`` (:class:`streams.published.PublishedCamera`): listed with the
other cameras while live, placed at the publisher's grid or last known position, watched over WHEP
like any camera — the publisher's own H.264 passed through, never decoded or re-encoded — with
snapshots and clips from the same packet relay and clip ring.

Who may publish where: a login token publishes only as ``field-<its username>``; a device listed
under ``whip.devices`` publishes as ``field-<device id>`` with the token held in the environment
variable its entry names. A wrong, expired or revoked token is 401, counted in
:attr:`WhipService.refused` (``skyhub_whip_refused`` in /metrics).

The seam in aiortc: its ``RTCRtpReceiver`` reassembles each frame in its jitter buffer and hands
``(codec, JitterFrame)`` to a decoder thread through a queue. The receiver of a publisher gets an
:class:`AccessUnitTap` as that queue: the depayloaded access unit (Annex B, as the publisher's
packetiser cut it) goes straight to the camera on the event loop, and nothing is decoded.

A publish ends — and the camera goes ``offline`` with the reason — on DELETE, on ICE consent loss
or a transport error (:mod:`hub.calls.sessions`), or when no video came for ``whip.stall_timeout_s``.
A published camera is analysed when its device's ``analysis`` (or, for workers' phones,
``whip.analysis``) is enabled: the hub then decodes its video (see
:class:`streams.published.AnalysisDecoder`) from when it goes live until it stops.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import queue
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.rtcpeerconnection import is_codec_compatible

from hub.access.auth import Authenticator, AuthError
from hub.calls.dtls import interoperable_ciphers, take_server_role
from hub.calls.errors import CallError
from hub.calls.ice import consent_as_rfc_7675, pin_host_addresses
from hub.calls.peer import Offer, h264_codecs, new_peer_connection, parse_offer
from hub.calls.sessions import PeerSession, SessionRegistry
from hub.config import CallsConfig, CameraConfig, GeoPoint, Role, WhipConfig
from hub.people.directory import Directory
from hub.people.positions import Positions
from streams.config import ID_PATTERN
from streams.published import PublishedCamera

log = logging.getLogger(__name__)

CAMERA_PREFIX = "field-"
"""Published cameras are named ``field-<username>`` or ``field-<device id>``."""
SWEEP_PERIOD_S = 5.0
"""How often ended field cameras past ``whip.offline_kept_s`` are forgotten."""
LOOP_LAG_S = 1.0
"""A stall check this much later than the previous one (they run every 0.25 s) follows a held-up
event loop, not a silent publisher: it is skipped."""
REFUSALS = ("missing", "wrong", "expired", "revoked")
"""Why a publish token was refused (the label of the counter)."""


@dataclass(frozen=True)
class Publisher:
    """Who publishes, and where their video is placed."""

    name: str
    """Username or device id."""
    kind: str
    """``worker`` (a login) or ``device`` (a publish token)."""
    camera_id: str
    """``field-<name>``."""
    display: str
    """The camera's display name."""
    grid: str | None
    """Grid the camera is placed in."""
    location: GeoPoint | None
    """Where it is, when known."""


class AccessUnitTap(queue.Queue[Any]):
    """Stands in for the decoder queue of one aiortc ``RTCRtpReceiver``: encoded frames go to
    ``on_unit`` (on the event loop, where the receiver runs) instead of a decoder thread.

    Only the end-of-stream ``None`` reaches the queue itself, so the receiver's idle decoder thread
    ends and the remote track with it, as aiortc expects.
    """

    def __init__(self, on_unit: Callable[[bytes, int], None]) -> None:
        super().__init__()
        self._on_unit = on_unit
        self.other_codecs = 0
        """Frames of a codec other than H.264 (ignored)."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Hand an encoded frame on (or let the end through to the decoder thread)."""
        if item is None:
            super().put(None)
            return
        codec, frame = item
        if codec.mimeType.lower() != "video/h264":
            self.other_codecs += 1
            return
        self._on_unit(frame.data, frame.timestamp)


def tap_receiver(receiver: RTCRtpReceiver, on_unit: Callable[[bytes, int], None]) -> AccessUnitTap:
    """Make ``receiver`` hand its reassembled access units to ``on_unit`` instead of decoding them.

    Call before the connection starts receiving (aiortc starts the decoder thread with this queue
    in ``receive()``, once DTLS is up).
    """
    tap = AccessUnitTap(on_unit)
    receiver._RTCRtpReceiver__decoder_queue = tap  # type: ignore[attr-defined]
    return tap


def require_h264_publish(offer: Offer) -> None:
    """422 unless the offer's first video section sends H.264 (packetization-mode 1)."""
    videos = [m for m in offer.parsed.media if m.kind == "video"]
    if not videos:
        raise CallError(422, "the offer has no video section: WHIP publishes video (H.264)")
    video = videos[0]
    if video.direction not in (None, "sendonly", "sendrecv"):
        raise CallError(422, f"the offer's video is {video.direction}: a WHIP publisher sends (sendonly)")
    ours = h264_codecs()
    h264 = [c for c in video.rtp.codecs if c.mimeType.lower() == "video/h264"]
    if any(is_codec_compatible(mine, theirs) for theirs in h264 for mine in ours):
        return
    if any(str(c.parameters.get("packetization-mode", "0")) == "1" for c in h264):
        levels = sorted({str(c.parameters.get("profile-level-id", "?")) for c in h264})
        raise CallError(
            422,
            f"no usable video codec: H.264 profile-level-id {', '.join(levels)} is not taken; offer (constrained) "
            "baseline, e.g. profile-level-id=42e01f, which every viewer's browser plays",
        )
    offered = sorted({c.mimeType.split("/")[-1] for c in video.rtp.codecs if c.mimeType.lower() != "video/rtx"})
    raise CallError(
        422,
        "no usable video codec: the hub takes H.264 with packetization-mode=1 (passed through to viewers "
        f"as it is); the offer's video has {', '.join(offered) or 'no codec'}",
    )


class WhipService:
    """The publishers of one hub node and the field cameras they feed."""

    def __init__(
        self,
        config: WhipConfig,
        calls: CallsConfig,
        ice_addresses: list[str],
        sessions: SessionRegistry,
        auth: Authenticator,
        directory: Directory,
        positions: Positions,
        cameras: Callable[[], Awaitable[Any]],
        analysis: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.config = config
        self.calls = calls
        self.ice_addresses = ice_addresses
        self.sessions = sessions
        self.auth = auth
        self.directory = directory
        self.positions = positions
        self._cameras = cameras
        self._analysis = analysis
        """The frame analysis (``alerts.runner.AnalysisRunner``), made on first use."""
        self.analysed: set[str] = set()
        """Field cameras analysed now (their device or ``whip.analysis`` asks for it)."""
        self.devices = {d.id: d for d in config.devices}
        self.live: dict[str, PeerSession | None] = {}
        """Camera id → its publisher's session (None while the offer is being answered)."""
        self.ended_m: dict[str, float] = {}
        """Camera id → when its last publisher stopped (monotonic), until it is forgotten."""
        self.refused = dict.fromkeys(REFUSALS, 0)
        """Publish tokens refused, by reason."""
        self.publishes = 0
        """Publishes accepted so far."""
        self.keyframe_requests = 0
        """PLIs sent to publishers (none came for ``keyframe_interval_s``)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweep: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start forgetting long-ended field cameras (idempotent)."""
        if self._sweep is None:
            self._sweep = asyncio.create_task(self._sweep_loop(), name="whip-sweep")

    async def aclose(self) -> None:
        """Stop the sweep and the keyframe requests in flight (sessions close with the registry)."""
        tasks = [t for t in (self._sweep, *self._tasks) if t is not None]
        self._sweep, self._tasks = None, set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- who -----------------------------------------------------------------------------------

    def _refuse(self, reason: str, detail: str) -> CallError:
        self.refused[reason] += 1
        return CallError(401, detail, {"WWW-Authenticate": "Bearer"})

    async def authenticate(self, camera_id: str, token: str | None) -> Publisher:
        """The publisher a bearer token makes of ``camera_id``: 404 (not a field camera), 401, 403."""
        if not camera_id.startswith(CAMERA_PREFIX) or len(camera_id) == len(CAMERA_PREFIX):
            raise CallError(404, f"WHIP publishes to field-<your username> or field-<device id>, not {camera_id!r}")
        name = camera_id[len(CAMERA_PREFIX) :]
        if not re.fullmatch(ID_PATTERN, camera_id):
            raise CallError(422, f"{camera_id[:80]!r} cannot be a camera id (letters, digits, _ . -; at most 64)")
        if not token:
            raise self._refuse("missing", "a publish token is required (Authorization: Bearer …)")
        device = self.devices.get(name)
        if device is not None:
            if device.revoked:
                raise self._refuse("revoked", f"the publish token of device {name} is revoked")
            expected = os.environ.get(device.token_env, "")
            if not expected or not hmac.compare_digest(expected.encode(), token.encode()):
                log.warning("whip %s: publish token refused", camera_id)
                raise self._refuse("wrong", f"wrong publish token for device {name}")
            where = device.location
            return Publisher(name, "device", camera_id, device.name or camera_id, device.grid, where)
        try:
            who = self.auth.verify(token)
        except AuthError as exc:
            log.warning("whip %s: token refused: %s", camera_id, exc)
            raise self._refuse("expired" if "expired" in str(exc) else "wrong", str(exc)) from None
        if who.username != name:
            raise CallError(403, f"you may publish only as {CAMERA_PREFIX}{who.username}")
        person = self.directory.people.get(who.person)
        grid = sorted(who.grids)[0] if who.grids else None
        last = await self.positions.last({who.person})
        location = GeoPoint(lat=last[0].lat, lon=last[0].lon) if last else None
        display = person.name if person is not None else who.username
        return Publisher(name, "worker", camera_id, display, grid, location)

    def may_manage(self, session: PeerSession, token: str | None) -> bool:
        """Whether ``token`` may PATCH or DELETE ``session``: its publisher's token, or an admin's login."""
        if not token:
            return False
        device = self.devices.get(session.owner)
        if device is not None and not device.revoked:
            expected = os.environ.get(device.token_env, "")
            if expected and hmac.compare_digest(expected.encode(), token.encode()):
                return True
        try:
            who = self.auth.verify(token)
        except AuthError:
            return False
        return who.username == session.owner or Role.ADMIN in who.roles

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, pub: Publisher, offer_sdp: str) -> tuple[PeerSession, str]:
        """Answer a WHIP offer; the publisher's video becomes camera ``pub.camera_id``.

        400/422 for an offer the hub cannot use (nothing is set up), 409 while the camera is being
        published, 503 when the hub holds as many publishers or peer connections as it may.
        """
        offer = parse_offer(offer_sdp)
        require_h264_publish(offer)
        camera_id = pub.camera_id
        if camera_id in self.live:
            raise CallError(
                409,
                f"{camera_id} is already being published; stop that publisher first (DELETE its session)",
                {"Retry-After": str(round(self.config.stall_timeout_s))},
            )
        cameras = await self._cameras()
        if camera_id in cameras.ids() and not isinstance(cameras.get(camera_id), PublishedCamera):
            raise CallError(409, f"{camera_id} is a configured camera")
        if len(self.live) >= self.config.max_publishers:
            raise CallError(
                503, f"this hub takes {self.config.max_publishers} publishers at once", {"Retry-After": "10"}
            )
        if self.sessions.full():
            raise CallError(503, "the hub holds as many peer connections as it may", {"Retry-After": "10"})
        if camera_id in self.live:  # taken while we awaited
            raise CallError(409, f"{camera_id} is already being published")
        self.live[camera_id] = None  # reserved: a second offer now gets 409
        try:
            holder: list[PublishedCamera] = []
            session, sdp = await self._answer(pub, offer, holder)
            # Only now the camera: a refused offer leaves none behind. No packet can come before the
            # publisher has our answer, which it gets when this returns.
            cfg = CameraConfig(
                id=camera_id,
                name=pub.display,
                url=f"whip://{pub.name}",
                grid=pub.grid,
                location=pub.location,
                stall_timeout_s=self.config.stall_timeout_s,
                **self._analysis_of(pub),
            )
            try:
                stream = await cameras.published_camera(cfg)
            except ValueError as exc:
                await self.sessions.close(session, "offer refused")
                raise CallError(409, str(exc)) from None
        except BaseException:
            self.live.pop(camera_id, None)
            raise
        self.directory.cameras[camera_id] = cfg
        stream.begin(pub.name, cfg)
        holder.append(stream)
        if session.closed.is_set():  # it ended while we set the camera up: say so
            stream.end(f"{pub.name} stopped publishing: {session.reason or 'ended'}")
        else:
            self.live[camera_id] = session
            if cfg.analysis.enabled and self._analysis is not None:
                if (await self._analysis()).add_camera(cfg):
                    self.analysed.add(camera_id)
                    log.info("whip %s: analysed while live", camera_id)
        self.ended_m.pop(camera_id, None)
        self.publishes += 1
        log.info("whip %s: %s %s publishing (session %s)", camera_id, pub.kind, pub.name, session.id)
        return session, sdp

    def published_entries(self) -> list[dict[str, object]]:
        """The cameras published here now, for this node's registry entry: other nodes list them and
        send their viewers here (307)."""
        out: list[dict[str, object]] = []
        for camera_id, session in self.live.items():
            cfg = self.directory.cameras.get(camera_id)
            if session is None or cfg is None:
                continue
            where = cfg.location.model_dump() if cfg.location else None
            out.append({"id": camera_id, "name": cfg.name or camera_id, "grid": cfg.grid, "location": where})
        return out

    async def _stop_analysis(self, camera_id: str) -> None:
        assert self._analysis is not None
        await (await self._analysis()).stop_camera(camera_id)

    def _analysis_of(self, pub: Publisher) -> dict[str, Any]:
        """The analysis settings and zones of a publisher's camera: its device's, or the workers' ones."""
        device = self.devices.get(pub.name) if pub.kind == "device" else None
        if device is not None:
            return {"analysis": device.analysis, "zones": device.zones}
        return {"analysis": self.config.analysis}

    async def _answer(self, pub: Publisher, offer: Offer, holder: list[PublishedCamera]) -> tuple[PeerSession, str]:
        """The peer connection and its answer; ``holder`` gets the camera once it is set up."""
        pc = new_peer_connection(self.calls)
        session = self.sessions.add(pc, "whip", pub.name, pub.camera_id)
        video = pc.addTransceiver("video", direction="recvonly")
        video.setCodecPreferences(h264_codecs())
        receiver = video.receiver
        last_pli = [float("-inf")]
        interval = self.config.keyframe_interval_s
        stall_s = self.config.stall_timeout_s

        def on_unit(data: bytes, timestamp: int) -> None:
            if not holder:
                return
            stream = holder[0]
            keyframe = stream.push(data, timestamp)
            now = time.monotonic()
            overdue = stream.last_keyframe_m is None or now - stream.last_keyframe_m > interval
            if not keyframe and overdue and now - last_pli[0] > interval:
                last_pli[0] = now
                self._spawn(self._ask_keyframe(receiver, pub.camera_id), f"whip-pli:{pub.camera_id}")

        checked_m = [time.monotonic()]

        def stalled() -> str | None:
            now = time.monotonic()
            late = now - checked_m[0] > LOOP_LAG_S
            checked_m[0] = now
            if session.connected_m is None or not holder or late:
                # After the loop was held up, datagrams that arrived meanwhile may still be waiting
                # behind this check: judge at the next one, not against a stale last_unit_m.
                return None
            last = max(session.connected_m, holder[0].last_unit_m or 0.0)
            return f"no video for {stall_s:g} s" if now - last > stall_s else None

        def released(s: PeerSession) -> None:
            if self.live.get(pub.camera_id) is s:
                del self.live[pub.camera_id]
            if holder:
                self.ended_m[pub.camera_id] = time.monotonic()
                holder[0].end(f"{pub.name} stopped publishing: {s.reason or 'ended'}")
                if pub.camera_id in self.analysed:  # its open alerts end with the video
                    self.analysed.discard(pub.camera_id)
                    self._spawn(self._stop_analysis(pub.camera_id), f"analysis-stop-{pub.camera_id}")

        tap_receiver(receiver, on_unit)
        session.checks.append(stalled)
        session.on_close.append(released)
        try:
            try:
                await pc.setRemoteDescription(offer.description)
            except Exception as exc:  # aiortc rejects incompatible offers with ValueError / OperationError
                raise CallError(422, f"the offer cannot be used: {exc}") from None
            for t in pc.getTransceivers():
                if t is not video:  # audio and further video: not taken (nothing would read them)
                    t.direction = "inactive"
            take_server_role(pc, offer.parsed)
            interoperable_ciphers(pc)
            pin_host_addresses(pc, self.ice_addresses)
            consent_as_rfc_7675(pc, self.calls.consent_expiry_s)
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            await self.sessions.close(session, "offer refused")
            raise
        remote_ice = next(m.ice for m in offer.parsed.media if m.ice is not None)
        session.remote_ice_ufrag, session.remote_ice_pwd = remote_ice.usernameFragment, remote_ice.password
        sdp = str(pc.localDescription.sdp)
        ufrag = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.MULTILINE)
        session.etag = f'"{ufrag.group(1) if ufrag else session.id}"'
        return session, sdp

    async def _ask_keyframe(self, receiver: RTCRtpReceiver, camera_id: str) -> None:
        sources = receiver.getSynchronizationSources()
        if not sources:
            return
        ssrc = max(sources, key=lambda s: s.timestamp).source
        self.keyframe_requests += 1
        log.debug("whip %s: asking the publisher for a keyframe", camera_id)
        await receiver._send_rtcp_pli(ssrc)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_PERIOD_S)
            now = time.monotonic()
            for camera_id, ended in list(self.ended_m.items()):
                if camera_id in self.live or now - ended < self.config.offline_kept_s:
                    continue
                del self.ended_m[camera_id]
                cameras = await self._cameras()
                if await cameras.remove_published(camera_id):
                    self.directory.cameras.pop(camera_id, None)
                    log.info("whip %s: forgotten after %.0f s offline", camera_id, now - ended)

    def stats(self) -> dict[str, Any]:
        """Figures for /metrics."""
        return {
            "publishers": sum(1 for s in self.live.values() if s is not None),
            "publishes": self.publishes,
            "refused": dict(self.refused),
            "keyframe_requests": self.keyframe_requests,
        }
