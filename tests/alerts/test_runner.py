"""Live runner against a stand-in camera at the streams boundary (its real frame slot)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import alerts.runner as runner_mod
from alerts.events import AlertEvent, AlertType
from alerts.lifecycle import QUIET_S
from alerts.pipeline import CameraAnalyzer
from alerts.runner import AnalysisRunner
from hub.config import CameraConfig
from hub.edge.metrics import analysis_metrics
from streams.frames import FrameSlot
from streams.media import CameraState, Frame
from streams.workpool import MediaPools
from tests.alerts.scene import Scene, camera, still, walk

T_BASE = 1_700_000_000.0


class StandInCamera:
    """The public surface of streams' CameraStream that the runner uses."""

    def __init__(self, camera_id: str) -> None:
        self.id = camera_id
        self.state = CameraState.ONLINE
        self.supervisor = SimpleNamespace(reason="")
        self.slots: list[FrameSlot] = []
        self.clips: list[tuple[Path, float, float]] = []
        self.seq = 0
        self.pools = MediaPools()

    def frames(self) -> FrameSlot:
        slot = FrameSlot(self.id)
        self.slots.append(slot)
        return slot

    def push(self, image: np.ndarray, ts: float) -> None:
        self.seq += 1
        for slot in self.slots:
            slot.put(Frame(image, ts, self.seq))

    async def snapshot_jpeg(self, timeout_s: float = 5.0, *, evidence: bool = False) -> bytes:
        return b"\xff\xd8 snapshot \xff\xd9"

    async def save_clip(self, path: Path, start_ts: float, end_ts: float) -> Path:
        self.clips.append((Path(path), start_ts, end_ts))
        await asyncio.to_thread(Path(path).write_bytes, b"clip")
        return Path(path)


class Streams:
    def __init__(self, *cams: StandInCamera) -> None:
        self.cams = {c.id: c for c in cams}

    def get(self, camera_id: str) -> StandInCamera | None:
        return self.cams.get(camera_id)


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    async def emit(self, event_type: str, camera_id: str, data: dict[str, Any]) -> None:
        self.events.append((event_type, camera_id, data))

    def types(self) -> list[str]:
        return [t for t, _, _ in self.events]


async def until(cond: Callable[[], bool], within_s: float = 10.0) -> None:
    """Wait for ``cond`` (generous bound: the machine may be loaded)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def feed(runner: AnalysisRunner, cam: StandInCamera, frames: list[tuple[float, np.ndarray]]) -> None:
    """Push frames one by one, each after the previous one was analysed (no skips)."""
    await until(lambda: bool(cam.slots) and not cam.slots[-1].closed)
    for ts, img in frames:
        done = runner.stats()[cam.id]["frames"]
        cam.push(img, T_BASE + ts)
        await until(lambda done=done: runner.stats()[cam.id]["frames"] > done)  # type: ignore[misc]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[StandInCamera, Log, CameraConfig, Path]:
    cfg = camera().model_copy(update={"preroll_s": 3.0})
    return StandInCamera(cfg.id), Log(), cfg, tmp_path


async def test_an_alert_is_published_with_snapshot_and_clip(setup: Any) -> None:
    cam, log, cfg, data_dir = setup
    runner = AnalysisRunner([cfg], Streams(cam), log.emit, data_dir, postroll_s=2.0)
    hooked: list[AlertEvent] = []
    runner.on_alert.append(lambda ev, data: hooked.append(ev))
    await runner.start()
    try:
        scene = Scene()
        await feed(runner, cam, still(scene, 0, 3) + walk(scene, 3, 6, 10, 140) + still(scene, 6, 9))
        await until(lambda: "alert.ended" in log.types() and any(d.get("clip_ready") for _, _, d in log.events))
    finally:
        await runner.stop()
    started = next(d for t, _, d in log.events if t == "alert.started")
    assert started["kind"] == "motion" and started["zone"] == "frame" and started["camera"] == cfg.id
    snapshot = await asyncio.to_thread(Path(started["snapshot"]).read_bytes)
    assert snapshot.startswith(b"\xff\xd8")
    assert Path(started["snapshot"]).parent == data_dir / "alerts" / cfg.id
    clip_path, start_ts, end_ts = cam.clips[0]
    assert str(clip_path) == started["clip"]
    assert start_ts == pytest.approx(started["ts"] - 3.0) and end_ts == pytest.approx(started["ts"] + 2.0)
    assert {ev.alert_id for ev in hooked} == {started["alert_id"]}
    assert all(c == cfg.id for _, c, _ in log.events)


async def test_a_crashing_analysis_is_restarted_and_reported(setup: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cam, log, cfg, data_dir = setup
    monkeypatch.setattr(runner_mod, "RESTART_BACKOFF_S", 0.01)
    built: list[CameraAnalyzer] = []

    def factory(c: CameraConfig) -> CameraAnalyzer:
        a = CameraAnalyzer(c)
        if not built:

            def boom(gray: np.ndarray, ts: float, skipped: int = 0) -> list[AlertEvent]:
                raise RuntimeError("detector bug")

            a.process = boom  # type: ignore[method-assign]
        built.append(a)
        return a

    runner = AnalysisRunner([cfg], Streams(cam), log.emit, data_dir, analyzer_factory=factory)
    await runner.start()
    try:
        scene = Scene()
        await until(lambda: bool(cam.slots))
        cam.push(scene.frame(), T_BASE)
        await until(lambda: "analysis.restarted" in log.types())
        await until(lambda: len(cam.slots) == 2)
        await feed(runner, cam, still(scene, 1, 2))
    finally:
        await runner.stop()
    restarted = next(d for t, _, d in log.events if t == "analysis.restarted")
    assert "detector bug" in restarted["error"] and restarted["restarts"] == 1
    assert runner.stats()[cfg.id]["restarts"] == 1 and len(built) == 2
    # Operators see it on /metrics too.
    samples = {(m.name, s.labels.get("camera")): s.value for m in analysis_metrics(runner) for s in m.samples}
    assert samples[("skyhub_analysis_restarts", cfg.id)] == 1
    assert samples[("skyhub_analysis_frames", cfg.id)] >= 2
    assert samples[("skyhub_analysis_clips_dropped", None)] == 0
    assert cam.slots[0].closed  # the crashed loop let go of its frames


async def test_signal_loss_is_an_alert(setup: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cam, log, cfg, data_dir = setup
    monkeypatch.setattr(runner_mod, "SIGNAL_CHECK_S", 0.05)
    runner = AnalysisRunner([cfg], Streams(cam), log.emit, data_dir)
    await runner.start()
    try:
        cam.state = CameraState.STALLED
        cam.supervisor.reason = "no packets for 10 s"
        await until(lambda: "alert.started" in log.types())
        cam.state = CameraState.ONLINE
        cam.push(Scene().frame(), T_BASE)
        await until(lambda: "alert.ended" in log.types())
    finally:
        await runner.stop()
    started = next(d for t, _, d in log.events if t == "alert.started")
    assert started["kind"] == "tamper.signal_lost" and started["reason"] == "no packets for 10 s"


async def test_frames_arriving_while_busy_are_skipped_and_counted(setup: Any) -> None:
    cam, log, cfg, data_dir = setup
    runner = AnalysisRunner([cfg], Streams(cam), log.emit, data_dir)
    await runner.start()
    try:
        await until(lambda: bool(cam.slots))
        scene = Scene()
        for i in range(10):
            cam.push(scene.frame(), T_BASE + i / 5)  # no await in between: the slot keeps only the newest
        await until(lambda: runner.stats()[cfg.id]["frames"] >= 1)
        await asyncio.sleep(0.1)
    finally:
        await runner.stop()
    s = runner.stats()[cfg.id]
    assert s["skipped"] >= 8 and s["frames"] + s["skipped"] == 10


async def test_stop_is_idempotent_and_ends_open_alerts(setup: Any) -> None:
    cam, log, cfg, data_dir = setup
    runner = AnalysisRunner([cfg], Streams(cam), log.emit, data_dir)
    await runner.start()
    await runner.start()
    scene = Scene()
    await feed(runner, cam, still(scene, 0, 3) + walk(scene, 3, 4, 10, 60))
    await until(lambda: "alert.started" in log.types())
    await runner.stop()
    await runner.stop()
    assert log.types().count("alert.ended") == 1
    assert all(slot.closed for slot in cam.slots)


async def test_cameras_without_ingest_or_analysis_are_left_alone(tmp_path: Path) -> None:
    log = Log()
    off = camera().model_copy(update={"id": "off", "analysis": camera().analysis.model_copy(update={"enabled": False})})
    missing = camera().model_copy(update={"id": "missing"})
    runner = AnalysisRunner([off, missing], Streams(), log.emit, tmp_path)
    await runner.start()
    await asyncio.sleep(0.05)
    await runner.stop()
    assert log.events == [] and list(runner.stats()) == ["missing"]


async def test_the_clip_post_roll_comes_from_the_camera_config(setup: Any) -> None:
    cam, log, cfg, data_dir = setup
    cfg = cfg.model_copy(update={"postroll_s": 1.5})
    runner = AnalysisRunner([cfg], Streams(cam), log.emit, data_dir)
    await runner.start()
    try:
        scene = Scene()
        await feed(runner, cam, still(scene, 0, 3) + walk(scene, 3, 5, 10, 140))
        await until(lambda: any(d.get("clip_ready") for _, _, d in log.events))
    finally:
        await runner.stop()
    started = next(d for t, _, d in log.events if t == "alert.started")
    _path, start_ts, end_ts = cam.clips[0]
    assert start_ts == pytest.approx(started["ts"] - 3.0) and end_ts == pytest.approx(started["ts"] + 1.5)


async def test_a_camera_that_keeps_crashing_is_still_retried_after_a_thousand_crashes(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2 ** 1025 once overflowed the backoff inside the except block, which killed the restart task
    # silently: the camera was never analysed again.
    cam, log, cfg, data_dir = setup
    monkeypatch.setattr(runner_mod, "RESTART_BACKOFF_S", 1e-5)
    monkeypatch.setattr(runner_mod, "RESTART_BACKOFF_MAX_S", 1e-4)
    failures = 1100
    built: list[CameraAnalyzer] = []

    def factory(c: CameraConfig) -> CameraAnalyzer:
        if len(log.types()) < failures:
            raise OSError("ignore mask unreadable")  # e.g. the mask file on a share that is down
        built.append(CameraAnalyzer(c))
        return built[-1]

    runner = AnalysisRunner([cfg], Streams(cam), log.emit, data_dir, analyzer_factory=factory)
    await runner.start()
    try:
        await until(lambda: bool(built), within_s=60.0)
        scene = Scene()
        await feed(runner, cam, still(scene, 0, 3) + walk(scene, 3, 5, 10, 140))
        await until(lambda: "alert.started" in log.types())
    finally:
        await runner.stop()
    restarted = [d for t, _, d in log.events if t == "analysis.restarted"]
    assert len(restarted) == failures and restarted[-1]["in_a_row"] == failures
    assert [d["retry_in_s"] for d in restarted[:6]] == pytest.approx([1e-5, 2e-5, 4e-5, 8e-5, 1e-4, 1e-4])
    assert restarted[-1]["retry_in_s"] == pytest.approx(1e-4)
    # …and the camera is analysed once its analyzer can be built again.
    assert runner.stats()[cfg.id]["restarts"] == failures and runner.stats()[cfg.id]["frames"] > 0


def test_the_restart_backoff_doubles_up_to_its_cap_at_any_streak() -> None:
    assert [runner_mod.restart_delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert runner_mod.restart_delay(6) == runner_mod.restart_delay(10**6) == runner_mod.RESTART_BACKOFF_MAX_S


async def test_a_crash_after_a_clean_run_waits_the_first_backoff_again(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cam, log, cfg, data_dir = setup
    monkeypatch.setattr(runner_mod, "RESTART_BACKOFF_S", 0.01)
    monkeypatch.setattr(runner_mod, "RESTART_RESET_S", 0.5)
    crash = [True]

    def factory(c: CameraConfig) -> CameraAnalyzer:
        a = CameraAnalyzer(c)
        real = a.process

        def process(gray: np.ndarray, ts: float, skipped: int = 0) -> list[AlertEvent]:
            if crash[0]:
                raise RuntimeError("detector bug")
            return real(gray, ts, skipped)

        a.process = process  # type: ignore[method-assign]
        return a

    runner = AnalysisRunner([cfg], Streams(cam), log.emit, data_dir, analyzer_factory=factory)
    await runner.start()
    scene = Scene()
    try:
        for n in range(1, 4):  # three crashes in a row: the wait doubles
            await until(lambda n=n: len(cam.slots) == n and not cam.slots[-1].closed)  # type: ignore[misc]
            cam.push(scene.frame(), T_BASE + n)
            await until(lambda n=n: log.types().count("analysis.restarted") == n)  # type: ignore[misc]
        crash[0] = False
        await until(lambda: len(cam.slots) == 4)
        await feed(runner, cam, still(scene, 10, 12))  # runs cleanly for longer than RESTART_RESET_S
        await asyncio.sleep(0.5)
        crash[0] = True
        cam.push(scene.frame(), T_BASE + 20)
        await until(lambda: log.types().count("analysis.restarted") == 4)
    finally:
        await runner.stop()
    restarted = [d for t, _, d in log.events if t == "analysis.restarted"]
    assert [d["in_a_row"] for d in restarted] == [1, 2, 3, 1]
    assert [d["retry_in_s"] for d in restarted] == pytest.approx([0.01, 0.02, 0.04, 0.01])
    assert [d["restarts"] for d in restarted] == [1, 2, 3, 4]


async def test_open_alerts_end_when_frames_stop_at_the_last_frame(setup: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A camera that stops sending frames (before the ingest calls it stalled) must not leave its
    # alerts open; the end is the last frame's time, not stretched over the outage.
    cam, log, cfg, data_dir = setup
    monkeypatch.setattr(runner_mod, "SIGNAL_CHECK_S", 0.05)
    runner = AnalysisRunner([cfg], Streams(cam), log.emit, data_dir)
    await runner.start()
    scene = Scene()
    try:
        frames = still(scene, 0, 3) + walk(scene, 3, 5, 10, 70)  # the walker is mid-frame when frames stop
        await feed(runner, cam, frames)
        await until(lambda: "alert.started" in log.types())
        stopped = asyncio.get_running_loop().time()
        await until(lambda: "alert.ended" in log.types())
        waited = asyncio.get_running_loop().time() - stopped
        # Frames come back 4 s (camera time) later, the walker still there: a new alert.
        await feed(runner, cam, walk(scene, 9, 11, 70, 140))
        await until(lambda: log.types().count("alert.started") == 2)
    finally:
        await runner.stop()
    assert waited >= QUIET_S - 0.1
    started = [d for t, _, d in log.events if t == "alert.started"]
    ended = [d for t, _, d in log.events if t == "alert.ended"]
    assert ended[0]["alert_id"] == started[0]["alert_id"] and ended[0]["ts"] == T_BASE + frames[-1][0]
    assert ended[0]["no_frames"] is True and ended[0]["kind"] == "motion"
    assert started[1]["alert_id"] != started[0]["alert_id"] and started[1]["ts"] >= T_BASE + 9


async def test_stopping_a_camera_mid_frame_ends_every_alert_that_frame_started(setup: Any) -> None:
    # The frame in a worker thread when the camera stops finishes on the same alert book: what it
    # starts is published, then ended; the book is never changed from two threads at once.
    cam, log, cfg, data_dir = setup
    entered, release = threading.Event(), threading.Event()

    def factory(c: CameraConfig) -> CameraAnalyzer:
        a = CameraAnalyzer(c)
        process = a.process

        def slow_when_asked(gray: np.ndarray, ts: float, skipped: int = 0) -> list[AlertEvent]:
            events = process(gray, ts, skipped)
            if any(ev.type is AlertType.STARTED for ev in events) and not entered.is_set():
                entered.set()  # the alert is open in the book; the loop has not published it yet
                release.wait(5)
            return events

        a.process = slow_when_asked  # type: ignore[method-assign]
        return a

    runner = AnalysisRunner([cfg], Streams(cam), log.emit, data_dir, analyzer_factory=factory)
    await runner.start()
    try:
        scene = Scene()
        await feed(runner, cam, still(scene, 0, 3))
        frames = walk(scene, 3, 6, 10, 140)
        for ts, img in frames:
            cam.push(img, T_BASE + ts)
            await asyncio.sleep(0.05)
            if entered.is_set():
                break
        await until(entered.is_set)
        stopping = asyncio.create_task(runner.stop_camera(cfg.id))
        await asyncio.sleep(0.2)
        release.set()
        assert await stopping
    finally:
        release.set()
        await runner.stop()
    started = [d["alert_id"] for t, _, d in log.events if t == "alert.started"]
    ended = [d["alert_id"] for t, _, d in log.events if t == "alert.ended"]
    assert started and sorted(started) == sorted(ended), log.types()
