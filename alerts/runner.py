"""Live analysis: every camera's frames through its :class:`CameraAnalyzer`, alerts to the log.

One task per camera takes the newest analysis frame from the camera's latest-only frame slot
(frames that arrive while the analysis is busy are skipped and counted by the slot), runs the
analyzer in a bounded thread pool — never on the event loop — and publishes the alert events:
``await emit("alert.started" | "alert.updated" | "alert.ended", camera_id, data)``. A started
alert gets a snapshot JPEG at once and a clip from the pre-roll to a post-roll (both from the
camera's config), remuxed by the camera (no re-encode) in a background task; the clip's path is
announced with the start and confirmed by an ``alert.updated`` when it is written. A camera whose analysis crashes is
restarted with a backoff and an ``analysis.restarted`` event. Signal loss (the camera stalled or
offline) is a ``tamper.signal_lost`` alert. While no frames come, open alerts end once their end
grace has passed, at the time of the last frame.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alerts.config import AnalysedCameraConfig
from alerts.events import AlertEvent, AlertType
from alerts.pipeline import CameraAnalyzer
from streams.workpool import WorkPool

log = logging.getLogger(__name__)

EmitFn = Callable[[str, str, dict[str, Any]], Awaitable[None]]
AlertHook = Callable[[AlertEvent, dict[str, Any]], Awaitable[None] | None]
"""Called after each alert event is emitted, with the event and its logged data."""

SIGNAL_CHECK_S = 1.0
"""How often a camera without frames is checked for signal loss."""
SNAPSHOT_TIMEOUT_S = 2.0
MAX_CLIP_TASKS = 8
"""Clips being written at once; an alert beyond this gets no clip (counted in ``clips_dropped``)."""
RESTART_BACKOFF_S = 1.0
"""Wait before the first restart of a crashed analysis; doubled for each crash in a row."""
RESTART_BACKOFF_MAX_S = 30.0
"""Longest wait before a restart."""
RESTART_DOUBLINGS_MAX = 20
"""The backoff doubles at most this often (2**n of a long crash streak would overflow a float)."""
RESTART_RESET_S = 60.0
"""An analysis that ran this long before crashing starts a new crash streak: its restart waits the
first backoff again, not the longest."""
LOST_STATES = frozenset({"stalled", "offline"})
LAST_FRAME_WAIT_S = 2.0
"""At a camera's stop, how long the frame still being analysed may take before its alerts are closed anyway."""


def restart_delay(streak: int) -> float:
    """Seconds to wait before restarting an analysis that crashed ``streak`` times in a row (1, 2, …)."""
    doublings = min(max(streak - 1, 0), RESTART_DOUBLINGS_MAX)
    return float(min(RESTART_BACKOFF_S * 2.0**doublings, RESTART_BACKOFF_MAX_S))


class _CameraStats:
    __slots__ = ("frames", "restarts", "alerts", "busy_s", "slot")

    def __init__(self) -> None:
        self.frames = 0
        self.restarts = 0
        self.alerts = 0
        self.busy_s = 0.0
        self.slot: Any = None


class AnalysisRunner:
    """Runs the frame analysis of every enabled camera and publishes its alerts."""

    def __init__(
        self,
        cameras: Sequence[AnalysedCameraConfig],
        streams: Any,
        emit: EmitFn,
        data_dir: Path,
        *,
        workers: int = 2,
        postroll_s: float | None = None,
        analyzer_factory: Callable[[AnalysedCameraConfig], CameraAnalyzer] = CameraAnalyzer,
    ) -> None:
        self._cameras = {c.id: c for c in cameras if c.enabled and c.analysis.enabled}
        self._streams = streams
        self._emit = emit
        self.alerts_dir = Path(data_dir) / "alerts"
        self.postroll_s = postroll_s
        """Post-roll for every camera's clips; None uses each camera's ``postroll_s``."""
        self._factory = analyzer_factory
        self._workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._clip_tasks: set[asyncio.Task[None]] = set()
        self._analyzers: dict[str, CameraAnalyzer] = {}
        self._jobs: dict[str, concurrent.futures.Future[list[AlertEvent]]] = {}
        """Each camera's latest frame handed to the pool."""
        self._stats: dict[str, _CameraStats] = {c: _CameraStats() for c in self._cameras}
        self.on_alert: list[AlertHook] = []
        """Hooks called with every alert event after it is emitted (the incident desk)."""
        self.clips_dropped = 0
        """Alerts that got no clip because too many clips were being written."""
        self.emit_failures = 0

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, only: Collection[str] | None = None) -> None:
        """Start one analysis task per enabled camera, or per enabled camera in ``only``."""
        if self._pool is not None:
            return
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="analysis")
        for cfg in self._cameras.values():
            if only is None or cfg.id in only:
                self.start_camera(cfg.id)
        log.info("analysis: %d cameras on %d worker threads", len(self._tasks), self._workers)

    def start_camera(self, camera_id: str) -> bool:
        """Start analysing one camera (its stream must run by now); False if it is not analysed here
        (disabled, analysis off, unknown, already running, or the runner is stopped)."""
        cfg = self._cameras.get(camera_id)
        running = self._tasks.get(camera_id)
        if cfg is None or self._pool is None or (running is not None and not running.done()):
            return False
        self._tasks[camera_id] = asyncio.create_task(self._supervise(cfg), name=f"analysis-{camera_id}")
        return True

    def add_camera(self, cfg: AnalysedCameraConfig) -> bool:
        """Analyse a camera found at run time (a GB/T 28181 channel) from now on, its stream already
        ingested; False when its analysis is off or it is analysed already."""
        if not (cfg.enabled and cfg.analysis.enabled):
            return False
        self._cameras[cfg.id] = cfg
        self._stats.setdefault(cfg.id, _CameraStats())
        return self.start_camera(cfg.id)

    async def stop_camera(self, camera_id: str) -> bool:
        """Stop analysing one camera and end its open alerts; False if it was not analysed here.

        A clip being written for one of its alerts finishes with what the camera delivered until it
        stopped (the relay closes with the camera).
        """
        task = self._tasks.pop(camera_id, None)
        if task is None:
            return False
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await self._close_analyzer(camera_id)
        log.info("camera %s: analysis stopped", camera_id)
        return True

    async def stop(self) -> None:
        """Cancel the camera tasks and clips, end open alerts, release the pool. Idempotent."""
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        tasks = list(self._tasks.values()) + list(self._clip_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._clip_tasks.clear()
        for camera_id in list(self._analyzers):
            await self._close_analyzer(camera_id)
        # Running jobs finish on their own (a frame takes milliseconds); do not block the loop.
        pool.shutdown(wait=False, cancel_futures=True)
        log.info("analysis: stopped")

    async def _close_analyzer(self, camera_id: str) -> None:
        analyzer = self._analyzers.pop(camera_id, None)
        job = self._jobs.pop(camera_id, None)
        if analyzer is None:
            return
        if job is not None and not job.cancelled():
            # The frame handed to a thread when the camera's task was cancelled may still be being
            # analysed, on the same alert book: let it finish (milliseconds) and publish what it
            # found, so every alert it started is also ended below.
            with contextlib.suppress(Exception):
                for ev in await asyncio.wait_for(asyncio.wrap_future(job), LAST_FRAME_WAIT_S):
                    await self._publish_data(camera_id, ev, ev.to_data())
        for ev in analyzer.close(time.time()):
            await self._publish_data(camera_id, ev, ev.to_data())

    def running(self) -> list[str]:
        """Ids of the cameras analysed now."""
        return [camera_id for camera_id, task in self._tasks.items() if not task.done()]

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per camera: frames analysed, frames skipped, restarts, alerts, alerts a cool-down held
        back (of the running analysis), busy seconds."""
        out: dict[str, dict[str, Any]] = {}
        for cam_id, s in self._stats.items():
            analyzer = self._analyzers.get(cam_id)
            out[cam_id] = {
                "frames": s.frames,
                "skipped": getattr(s.slot, "skipped", 0),
                "restarts": s.restarts,
                "alerts": s.alerts,
                "suppressed": analyzer.book.suppressed if analyzer is not None else 0,
                "busy_s": round(s.busy_s, 3),
            }
        return out

    # -- per camera ----------------------------------------------------------------------------

    async def _supervise(self, cfg: AnalysedCameraConfig) -> None:
        stats = self._stats[cfg.id]
        loop = asyncio.get_running_loop()
        streak = 0
        while True:
            started = loop.time()
            try:
                await self._run(cfg, stats)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                stats.restarts += 1
                # A crash after a long clean run is a new problem, not the old one again.
                streak = 1 if loop.time() - started >= RESTART_RESET_S else streak + 1
                delay = restart_delay(streak)
                log.exception(
                    "camera %s: analysis crashed; restart %d (%d in a row) in %.1f s",
                    cfg.id,
                    stats.restarts,
                    streak,
                    delay,
                )
                analyzer = self._analyzers.pop(cfg.id, None)
                self._jobs.pop(cfg.id, None)  # the frame that crashed it
                if analyzer is not None:
                    for ev in analyzer.book.close(time.time()):
                        await self._publish_data(cfg.id, ev, ev.to_data())
                data = {
                    "error": f"{type(exc).__name__}: {exc}",
                    "restarts": stats.restarts,
                    "in_a_row": streak,
                    "retry_in_s": delay,
                }
                await self._safe_emit("analysis.restarted", cfg.id, data)
                await asyncio.sleep(delay)

    async def _run(self, cfg: AnalysedCameraConfig, stats: _CameraStats) -> None:
        stream = self._streams.get(cfg.id)
        if stream is None:
            log.warning("camera %s: not ingested; no analysis", cfg.id)
            return
        loop = asyncio.get_running_loop()
        assert self._pool is not None
        analyzer = await loop.run_in_executor(self._pool, self._factory, cfg)
        self._analyzers[cfg.id] = analyzer
        slot = stream.frames()
        stats.slot = slot
        last_frame = loop.time()
        last_seq: int | None = None
        try:
            while True:
                try:
                    frame = await asyncio.wait_for(slot.wait_new(), SIGNAL_CHECK_S)
                except TimeoutError:
                    # No frames: open alerts must not stay open (or be stretched) across the outage.
                    for ev in analyzer.no_frames(loop.time() - last_frame):
                        await self._publish_data(cfg.id, ev, ev.to_data())
                    await self._check_signal(cfg.id, stream, analyzer)
                    continue
                except Exception as exc:  # the slot was closed: the camera is gone
                    if type(exc).__name__ == "FrameSlotClosed":
                        log.info("camera %s: frames ended; analysis stops", cfg.id)
                        return
                    raise
                await self._check_signal(cfg.id, stream, analyzer)
                pool = self._pool
                if pool is None:
                    return
                t0 = time.perf_counter()
                # Frames that came while this loop was busy (publishing an alert's evidence on a
                # loaded host) were replaced in the slot: the picture did not stop meanwhile.
                skipped = max(0, frame.seq - last_seq - 1) if last_seq is not None else 0
                last_seq = frame.seq
                job = pool.submit(analyzer.process, frame.image, frame.ts, skipped)
                self._jobs[cfg.id] = job  # a stop waits for it before it closes the alert book
                events = await asyncio.wrap_future(job)
                del self._jobs[cfg.id]  # its events are this loop's to publish
                stats.busy_s += time.perf_counter() - t0
                last_frame = loop.time()
                stats.frames += 1
                for ev in events:
                    await self._publish(cfg, stream, ev)
        finally:
            slot.close()

    async def _check_signal(self, camera_id: str, stream: Any, analyzer: CameraAnalyzer) -> None:
        state = getattr(getattr(stream, "state", None), "value", getattr(stream, "state", None))
        lost = state in LOST_STATES
        reason = str(getattr(getattr(stream, "supervisor", None), "reason", "") or state or "")
        for ev in analyzer.signal_lost(lost, time.time(), reason if lost else ""):
            await self._publish_data(camera_id, ev, ev.to_data())

    # -- publishing ----------------------------------------------------------------------------

    async def _publish(self, cfg: AnalysedCameraConfig, stream: Any, ev: AlertEvent) -> None:
        data = ev.to_data()
        if ev.type is AlertType.STARTED:
            self._stats[cfg.id].alerts += 1
            folder = self.alerts_dir / cfg.id
            data["snapshot"] = await self._snapshot(cfg.id, stream, folder / f"{ev.alert_id}.jpg")
            data["clip"] = self._start_clip(cfg, stream, ev, folder / f"{ev.alert_id}.mp4")
        await self._publish_data(cfg.id, ev, data)

    async def _publish_data(self, camera_id: str, ev: AlertEvent, data: dict[str, Any]) -> None:
        await self._safe_emit(ev.type.value, camera_id, data)
        for hook in list(self.on_alert):
            try:
                result = hook(ev, data)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("camera %s: alert hook failed for %s", camera_id, ev.alert_id)

    async def _safe_emit(self, event_type: str, camera_id: str, data: dict[str, Any]) -> None:
        try:
            await self._emit(event_type, camera_id, data)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.emit_failures += 1
            log.exception("camera %s: could not emit %s", camera_id, event_type)

    async def _snapshot(self, camera_id: str, stream: Any, path: Path) -> str | None:
        try:
            jpeg = await asyncio.wait_for(stream.snapshot_jpeg(evidence=True), SNAPSHOT_TIMEOUT_S)
            await _evidence_pool(stream).run(_write, path, jpeg)
            return str(path)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("camera %s: no snapshot for the alert (%s)", camera_id, exc)
            return None

    def _start_clip(self, cfg: AnalysedCameraConfig, stream: Any, ev: AlertEvent, path: Path) -> str | None:
        if len(self._clip_tasks) >= MAX_CLIP_TASKS:
            self.clips_dropped += 1
            log.warning("camera %s: %d clips being written; no clip for alert %s", cfg.id, MAX_CLIP_TASKS, ev.alert_id)
            return None
        task = asyncio.create_task(self._clip(cfg, stream, ev, path), name=f"clip-{cfg.id}-{ev.alert_id}")
        self._clip_tasks.add(task)
        task.add_done_callback(self._clip_tasks.discard)
        return str(path)

    async def _clip(self, cfg: AnalysedCameraConfig, stream: Any, ev: AlertEvent, path: Path) -> None:
        try:
            await _evidence_pool(stream).run(path.parent.mkdir, parents=True, exist_ok=True)
            postroll_s = cfg.postroll_s if self.postroll_s is None else self.postroll_s
            saved = await stream.save_clip(path, ev.ts - cfg.preroll_s, ev.ts + postroll_s)
            data = {**ev.to_data(), "clip": str(saved), "clip_ready": True}
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("camera %s: clip for alert %s failed (%s)", cfg.id, ev.alert_id, exc)
            data = {**ev.to_data(), "clip": None, "clip_error": str(exc)}
        update = AlertEvent(AlertType.UPDATED, ev.kind, ev.camera, ev.zone, ev.score, ev.ts, ev.alert_id, ev.details)
        await self._publish_data(cfg.id, update, data)


def _evidence_pool(stream: Any) -> WorkPool:
    """The camera's evidence threads (never the loop's default pool, which others can fill)."""
    pool: WorkPool = stream.pools.evidence
    return pool


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
