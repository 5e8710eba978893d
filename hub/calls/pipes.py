"""A camera another hub node ingests, piped into this node's calls: its own H.264, never re-encoded.

A call lives on one node; the camera a dispatcher puts into it may be ingested by another (the
one holding its lease). This node then opens a **pipe**: a receive-only peer connection to the
owner's ``/whep/{camera}``, as a WHEP player would, whose receiver hands its reassembled access
units straight to a local packet relay (:func:`hub.calls.whip.tap_receiver`: nothing is decoded),
the relay the call's members are switched to. It is what mediasoup's PipeTransport or Janus'
streaming relays do between servers, over the WHEP the nodes already speak.

The pipe follows the camera: when the camera's lease passes to a third node, the same relay is
fed from the new owner (a gap, then its next keyframe group); when it comes to this node, the
calls are switched to the local camera and the pipe closes (:meth:`hub.calls.service.CallService.follow_cameras`).
A pipe no call uses any more closes. The owner records the view under the name of the user who
put the camera into the call, as it records any viewer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription

from hub.calls.ice import pin_host_addresses
from hub.calls.whip import tap_receiver
from hub.config import CallsConfig
from hub.logsafe import mask
from streams.config import SourceConfig
from streams.published import PublishedCamera
from streams.relay import PacketRelay

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
OFFER_TIMEOUT_S = 10.0
"""The owner's answer to the pipe's offer, and the connection after it."""
SILENT_S = 8.0
"""No access unit for this long from a connected pipe: it is opened again."""


async def _no_events(_type: str, _camera: str, _data: dict[str, object]) -> None:
    """A pipe's camera logs nothing: the owner logs the camera's states."""


class CameraPipe:
    """One camera of another node, received over WHEP into :attr:`relay` (see the module)."""

    def __init__(
        self, camera_id: str, owner_url: str, token: Callable[[], str], config: CallsConfig, ice: list[str], data: Path
    ) -> None:
        self.camera_id = camera_id
        self.owner_url = owner_url
        """The node it is piped from now."""
        self._token = token
        self._config = config
        self._ice = ice
        self._camera = PublishedCamera(
            SourceConfig(id=camera_id, url=f"pipe://{camera_id}", stall_timeout_s=SILENT_S), _no_events, data
        )
        self.connects = 0
        """Connections made to owners so far."""
        self.units = 0
        """Access units received in all."""
        self._moved = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    @property
    def relay(self) -> PacketRelay:
        """What the calls are switched to."""
        return self._camera.relay

    def start(self) -> None:
        """Connect (and keep connecting) in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"camera-pipe:{self.camera_id}")

    def move(self, owner_url: str) -> None:
        """The camera's lease passed to another node: pipe from there."""
        if owner_url != self.owner_url:
            log.info("camera pipe %s: the camera moved to %s", self.camera_id, mask(owner_url))
            self.owner_url = owner_url
            self._moved.set()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._camera.end("the pipe closed")
        await self._camera.stop()

    async def _run(self) -> None:
        await self._camera.start()
        delay = RETRY_FIRST_S
        while True:
            began = time.monotonic()
            try:
                await self._connection()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("camera pipe %s from %s: %s", self.camera_id, mask(self.owner_url), self.last_error)
            if self._moved.is_set() or time.monotonic() - began > 2 * RETRY_MAX_S:
                delay = RETRY_FIRST_S  # a move, or a connection that lasted: at once
            self._moved.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    async def _connection(self) -> None:
        """One connection to the owner, until it ends, goes silent or the camera moves."""
        url = f"{self.owner_url.rstrip('/')}/whep/{self.camera_id}"
        pc = RTCPeerConnection()
        location: str | None = None
        ended = asyncio.Event()

        @pc.on("connectionstatechange")
        def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                ended.set()

        def on_unit(data: bytes, timestamp: int) -> None:
            self.units += 1
            self._camera.push(data, timestamp)

        transceiver = pc.addTransceiver("video", direction="recvonly")
        tap_receiver(transceiver.receiver, on_unit)
        headers = {"Authorization": f"Bearer {self._token()}", "Content-Type": "application/sdp"}
        try:
            offer = await pc.createOffer()
            pin_host_addresses(pc, self._ice)
            await pc.setLocalDescription(offer)
            async with httpx.AsyncClient(timeout=OFFER_TIMEOUT_S) as client:
                r = await client.post(url, content=pc.localDescription.sdp, headers=headers)
                if r.status_code != 201:
                    raise RuntimeError(f"the owner answered {r.status_code}: {r.text[:200]}")
                location = r.headers.get("location")
                await pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
                self.connects += 1
                self._camera.begin(f"hub node {mask(self.owner_url)}")
                log.info("camera pipe %s: piped from %s", self.camera_id, mask(self.owner_url))
                while not ended.is_set() and not self._moved.is_set():
                    await asyncio.sleep(1.0)
                    if self._camera.silent_s() > SILENT_S:
                        raise RuntimeError(f"no video for {SILENT_S:.0f} s")
                if location is not None and not self._moved.is_set():
                    location = None  # the owner ended it: nothing to delete
                if location is not None:
                    target = location if location.startswith("http") else self.owner_url.rstrip("/") + location
                    try:
                        await client.delete(target, headers={"Authorization": headers["Authorization"]})
                    except httpx.HTTPError:
                        pass  # the old owner notices the connection end on its own
        finally:
            self._camera.relay.gap()  # the next owner's video starts afresh, at its keyframe
            await pc.close()
        if ended.is_set():
            raise RuntimeError(f"the connection {pc.connectionState}")


class CameraPipes:
    """The pipes of one node, by camera."""

    def __init__(
        self,
        owner_url: Callable[[str], str | None],
        token: Callable[[str], str],
        config: CallsConfig,
        ice: list[str],
        data: Path,
    ) -> None:
        self._owner_url = owner_url
        self._token = token
        self._config = config
        self._ice = ice
        self._data = data
        self.pipes: dict[str, CameraPipe] = {}

    def owner_url(self, camera_id: str) -> str | None:
        """The URL of the other node that ingests ``camera_id`` (None: this one, or nobody yet)."""
        return self._owner_url(camera_id)

    def relay(self, camera_id: str, viewer: str) -> PacketRelay | None:
        """The piped relay of a camera another node ingests (opened now if need be), or None."""
        pipe = self.pipes.get(camera_id)
        url = self.owner_url(camera_id)
        if url is None:
            return None
        if pipe is None:
            pipe = CameraPipe(camera_id, url, lambda: self._token(viewer), self._config, self._ice, self._data)
            self.pipes[camera_id] = pipe
            pipe.start()
        else:
            pipe.move(url)
        return pipe.relay

    async def keep(self, in_use: set[str]) -> None:
        """Close the pipes of cameras no call shows any more, or that this node ingests now."""
        for camera_id in list(self.pipes):
            if camera_id in in_use and self.owner_url(camera_id) is not None:
                continue
            pipe = self.pipes.pop(camera_id)
            await pipe.aclose()
            log.info("camera pipe %s: closed", camera_id)

    async def aclose(self) -> None:
        pipes, self.pipes = list(self.pipes.values()), {}
        for pipe in pipes:
            await pipe.aclose()
