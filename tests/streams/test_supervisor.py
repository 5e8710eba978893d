"""Camera supervision against a real RTSP server: online, offline, back online, stalled."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable

import pytest

from streams.media import CameraState
from streams.supervisor import Supervisor
from tests.conftest import wait_until
from tests.streams.conftest import EventLog, ManagerFactory, RtspServer


async def test_rtsp_camera_online_then_killed_offline_then_restarted_online(
    make_manager: ManagerFactory, rtsp_server: Callable[..., RtspServer], events: EventLog
) -> None:
    server = rtsp_server(["cam=ball:320x240@10"])
    stall_s = 2.0
    m = await make_manager({"id": "c1", "url": server.url("cam"), "stall_timeout_s": stall_s, "reconnect_max_s": 0.5})
    cam = m.get("c1")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.ONLINE, 10, "camera online")
    await wait_until(lambda: cam.health()["input_fps"] > 5, 8, "input fps measured")
    h = cam.health()
    assert (h["codec"], h["width"], h["height"], h["browser_playable"]) == ("h264", 320, 240, True)
    await wait_until(lambda: events.of("c1")[:2] == ["camera.starting", "camera.online"], 2, "the online event")

    server.kill()
    took = await wait_until(lambda: cam.state == CameraState.OFFLINE, stall_s + 1.0, "offline after kill")
    assert took <= stall_s + 1.0
    assert "refused" in cam.supervisor.reason or "closed" in cam.supervisor.reason
    await asyncio.sleep(1.0)  # a few failed reconnects while the server is down

    server.start()  # same port: the camera comes back
    back = time.monotonic()
    await wait_until(lambda: cam.state == CameraState.ONLINE, 2.0, "online within 2 s of the server being back")
    assert time.monotonic() - back <= 2.0
    assert cam.health()["reconnects"] >= 2
    await wait_until(lambda: events.of("c1")[-1] == "camera.online", 2, "the online event after the outage")
    assert "camera.offline" in events.of("c1")
    assert events.last("c1", "camera.offline")["reason"]


async def test_connected_but_silent_server_gives_stalled(
    make_manager: ManagerFactory, rtsp_server: Callable[..., RtspServer], events: EventLog
) -> None:
    server = rtsp_server(["still=ball:320x240@10,stall_after=3"])
    m = await make_manager({"id": "s1", "url": server.url("still"), "stall_timeout_s": 1.0})
    cam = m.get("s1")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.ONLINE, 10, "online")
    await wait_until(lambda: cam.state == CameraState.STALLED, 8, "stalled")
    assert "no video" in cam.supervisor.reason
    # The state flips in the watchdog; its event reaches the log a moment later.
    expected = ["camera.starting", "camera.online", "camera.stalled"]
    await wait_until(lambda: events.of("s1")[:3] == expected, 2, "the stalled event")
    # The picture comes back (SIGUSR1 toggles the stall): online again, no reconnect needed.
    server.signal(signal.SIGUSR1)
    await wait_until(lambda: cam.state == CameraState.ONLINE, 5, "online after the stall ends")


async def test_first_connect_failing_is_retried_until_server_appears(
    make_manager: ManagerFactory, rtsp_server: Callable[..., RtspServer]
) -> None:
    from tests.conftest import free_port

    port = free_port()
    m = await make_manager(
        {"id": "late", "url": f"rtsp://127.0.0.1:{port}/cam", "reconnect_max_s": 0.5, "stall_timeout_s": 2}
    )
    cam = m.get("late")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.OFFLINE, 5, "offline while nothing listens")
    assert "refused" in cam.supervisor.reason
    rtsp_server(["cam=ball:320x240@10"], port=port)
    await wait_until(lambda: cam.state == CameraState.ONLINE, 5, "online once the server appears")


async def test_watchdog_and_event_order_without_a_source(events: EventLog) -> None:
    sup = Supervisor("w", 0.3, events.emit, {"name": "w"})
    sup.start()
    sup.connected("")
    await wait_until(lambda: sup.state == CameraState.STALLED, 3, "stalled after silence")
    sup.alive(time.time())
    assert sup.state == CameraState.ONLINE
    sup.failed("connection refused by x", 0.5)
    await sup.stop()
    await sup.stop()  # idempotent
    assert events.of("w") == ["camera.starting", "camera.online", "camera.stalled", "camera.online", "camera.offline"]
    assert events.last("w", "camera.offline")["retry_in_s"] == 0.5


async def test_emit_failures_do_not_stop_supervision() -> None:
    calls = []

    async def broken_emit(t: str, c: str, d: dict[str, object]) -> None:
        calls.append(t)
        raise RuntimeError("log down")

    sup = Supervisor("x", 5, broken_emit, {})
    sup.start()
    sup.connected("")
    sup.failed("gone", 1)
    await wait_until(lambda: len(calls) == 3, 2, "all events attempted")
    await sup.stop()


@pytest.mark.parametrize("disabled", [True, False])
async def test_disabled_camera_is_not_ingested(make_manager: ManagerFactory, events: EventLog, disabled: bool) -> None:
    m = await make_manager({"id": "d", "url": "rtsp://127.0.0.1:1/x", "enabled": not disabled, "reconnect_max_s": 1})
    cam = m.get("d")
    assert cam is not None
    readers = [t for t in threading.enumerate() if t.name in ("reader-d", "reader-d-analysis")]
    if disabled:
        await wait_until(lambda: events.of("d") == ["camera.disabled"], 2, "disabled event")
        assert cam.health()["state"] == "disabled" and readers == []
        await asyncio.sleep(0.5)
        assert events.of("d") == ["camera.disabled"]  # and nothing tries to connect
    else:  # the same camera enabled is ingested: it tries, fails and says why
        assert len(readers) == 1
        await wait_until(lambda: events.of("d")[:2] == ["camera.starting", "camera.offline"], 5, "offline event")
        assert cam.health()["state"] == "offline" and "refused" in cam.health()["reason"]
