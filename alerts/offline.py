"""Offline runner: the camera analysis on a video file, as fast as the CPU allows.

The body of ``skyhub analyze VIDEO [--config PATH --camera ID] [--json]``. Frames are decoded with
PyAV, only those the analysis rate asks for are converted (``frame.reformat(w, h, "gray")``, the
Y plane at the analysis size), and fed to the same :class:`~alerts.pipeline.CameraAnalyzer` the
live runner uses. Event times are seconds into the video.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import av
import numpy as np

from alerts.config import AnalysedCameraConfig
from alerts.events import AlertEvent, AlertType
from alerts.geometry import ZoneError
from alerts.pipeline import CameraAnalyzer

log = logging.getLogger(__name__)

TRUNCATION_SLACK_S = 1.5
"""A file whose frames stop this long before its stated duration is reported as truncated."""


class VideoError(Exception):
    """The file cannot be analysed: missing, not a video, truncated or damaged."""


@dataclass
class AnalysisReport:
    """What an offline run found."""

    events: list[AlertEvent] = field(default_factory=list)
    """Every alert event, in order (updates included)."""
    frames: int = 0
    """Frames analysed."""
    video_s: float = 0.0
    """Seconds of video covered."""
    elapsed_s: float = 0.0
    """Wall time of the run."""
    error: str | None = None
    """Why the run stopped early, if it did."""


def iter_frames(path: Path, width: int, height: int, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds into the video, ``height x width`` gray frame) at about ``fps`` frames per second.

    Raises :class:`VideoError` for a missing file, a file without video, or damage that stops decoding.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: not a readable video ({exc})") from None
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base
        start = float(stream.start_time * tb) if stream.start_time is not None and tb is not None else 0.0
        duration = float(stream.duration * tb) if stream.duration is not None and tb is not None else None
        step = 1.0 / fps
        next_t = -1.0
        last_t = None
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                t = float(frame.time) - start
                last_t = t
                if t + 1e-6 < next_t:
                    continue
                next_t = max(next_t + step, t + step / 2) if next_t >= 0 else t + step
                yield t, frame.reformat(width, height, format="gray").to_ndarray()
        except av.FFmpegError as exc:
            where = f" at {last_t:.2f} s" if last_t is not None else ""
            raise VideoError(f"{path}: damaged or truncated video{where} ({exc})") from None
        if last_t is None:
            raise VideoError(f"{path}: no decodable video frames (truncated or damaged)")
        if duration is not None and last_t < duration - TRUNCATION_SLACK_S:
            raise VideoError(f"{path}: truncated: frames stop at {last_t:.2f} s of {duration:.2f} s")


def analyze_file(path: Path, config: AnalysedCameraConfig, analyzer: CameraAnalyzer | None = None) -> AnalysisReport:
    """Run the analysis over a whole file; errors after the start end the run with ``report.error``."""
    a = config.analysis
    analyzer = analyzer or CameraAnalyzer(config)
    report = AnalysisReport()
    t0 = time.perf_counter()
    last = 0.0
    try:
        for ts, gray in iter_frames(path, a.width, a.height, a.fps):
            report.events.extend(analyzer.process(gray, ts))
            report.frames += 1
            last = ts
    except VideoError as exc:
        if report.frames == 0:
            raise
        report.error = str(exc)
    report.events.extend(analyzer.close(last))
    report.video_s = last
    report.elapsed_s = time.perf_counter() - t0
    return report


def _line(ev: AlertEvent) -> dict[str, object]:
    return {
        "type": ev.type.value,
        "kind": ev.kind.value,
        "camera": ev.camera,
        "zone": ev.zone,
        "t": round(ev.ts, 3),
        "score": round(ev.score, 4),
        "alert_id": ev.alert_id,
    }


def analyze_video(video: Path, camera: AnalysedCameraConfig | None, as_json: bool, out: TextIO | None = None) -> int:
    """Print the alert starts and ends of a video file, then a summary; the exit code.

    ``camera`` gives the zones and settings (``skyhub analyze`` finds it in a config file); without one
    the shipped defaults analyse the whole picture.
    """
    out = out or sys.stdout
    video = Path(video)
    try:
        camera = camera or AnalysedCameraConfig(id="video", url=video.resolve().as_uri())
        report = analyze_file(video, camera)
    except (VideoError, ZoneError) as exc:
        print(f"skyhub analyze: {exc}", file=sys.stderr)
        return 1
    shown = [ev for ev in report.events if ev.type in (AlertType.STARTED, AlertType.ENDED)]
    for ev in shown:
        if as_json:
            print(json.dumps(_line(ev)), file=out)
        else:
            print(
                f"{ev.ts:9.2f} s  {ev.type.value:<14} {ev.kind.value:<17} zone={ev.zone} score={ev.score:.3f}", file=out
            )
    kinds = Counter(ev.kind.value for ev in shown if ev.type is AlertType.STARTED)
    speed = report.frames / report.elapsed_s if report.elapsed_s > 0 else 0.0
    summary = {
        "type": "summary",
        "camera": camera.id,
        "frames": report.frames,
        "video_s": round(report.video_s, 2),
        "elapsed_s": round(report.elapsed_s, 3),
        "frames_per_s": round(speed, 1),
        "alerts": sum(kinds.values()),
        "by_kind": dict(sorted(kinds.items())),
        "error": report.error,
    }
    if as_json:
        print(json.dumps(summary), file=out)
    else:
        by_kind = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"
        print(
            f"{camera.id}: {report.frames} frames ({report.video_s:.1f} s of video) in {report.elapsed_s:.2f} s "
            f"({speed:.0f} frames/s): {summary['alerts']} alerts ({by_kind})",
            file=out,
        )
    if report.error:
        print(f"skyhub analyze: {report.error}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m alerts.offline VIDEO [--json]``: the analysis alone, without the hub installed."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m alerts.offline", description=main.__doc__)
    parser.add_argument("video", type=Path, help="a video file")
    parser.add_argument("--json", action="store_true", help="one JSON object per alert event")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return analyze_video(args.video, None, args.json)


if __name__ == "__main__":
    sys.exit(main())
