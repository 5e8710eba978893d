"""``skyhub analyze`` on files: JSON lines and summary, zones from a config, and bad files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from alerts.offline import iter_frames
from hub.cli import analyze_command
from tests.alerts.scene import background

FPS = 10


def make_video(path: Path, seconds: float = 8.0, faststart: bool = False) -> Path:
    """A 320x180 H.264 clip: a still scene, a figure walking across from 3 s to 6 s, still again."""
    bg = cv2.cvtColor(background(seed=4, w=320, h=180), cv2.COLOR_GRAY2BGR)
    options = {"movflags": "faststart"} if faststart else {}
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "20"}
        for i in range(int(seconds * FPS)):
            t = i / FPS
            img = bg.copy()
            if 3.0 <= t < 6.0:
                x = int(20 + (t - 3.0) / 3.0 * 260)
                cv2.rectangle(img, (x, 40), (x + 24, 120), (20, 20, 20), -1)
            img = cv2.add(img, rng.integers(0, 3, img.shape, dtype=np.uint8))
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "walk.mp4")


def run(video: Path, config: Path | None = None, camera: str | None = None) -> tuple[int, list[dict[str, object]]]:
    out = io.StringIO()
    code = analyze_command(video, config, camera, True, out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_and_summary(video: Path) -> None:
    code, lines = run(video)
    assert code == 0
    *events, summary = lines
    assert [(e["type"], e["kind"], e["zone"], e["camera"]) for e in events] == [
        ("alert.started", "motion", "frame", "video"),
        ("alert.ended", "motion", "frame", "video"),
    ]
    assert 3.0 <= float(events[0]["t"]) <= 3.5  # type: ignore[arg-type]
    assert 6.0 <= float(events[1]["t"]) <= 8.0  # type: ignore[arg-type]
    assert 0 < float(events[0]["score"]) <= 1  # type: ignore[arg-type]
    assert summary["type"] == "summary" and summary["alerts"] == 1 and summary["frames"] >= 38


def test_human_output(video: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert analyze_command(video, None, None, False) == 0
    out = capsys.readouterr().out
    assert "alert.started" in out and "1 alerts (motion 1)" in out


def test_frames_are_decoded_at_the_analysis_rate(video: Path) -> None:
    frames = list(iter_frames(video, 160, 90, 5.0))
    assert 38 <= len(frames) <= 41
    assert frames[0][1].shape == (90, 160) and frames[0][1].dtype == np.uint8
    gaps = np.diff([t for t, _ in frames])
    assert gaps.min() >= 0.19 and gaps.max() <= 0.21


def test_zones_come_from_the_config(video: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "hub.yaml"
    cfg.write_text(
        "cameras:\n"
        "  - id: lobby\n"
        "    url: file:///dev/null\n"
        "    analysis: {cooldown_s: 0}\n"
        "    zones:\n"
        "      - {id: left, kind: intrusion, polygon: [[0, 0], [0.3, 0], [0.3, 1], [0, 1]]}\n"
        "      - {id: right, kind: intrusion, polygon: [[0.75, 0], [1, 0], [1, 1], [0.75, 1]]}\n"
        "  - id: other\n"
        "    url: file:///dev/null\n"
    )
    code, lines = run(video, cfg, "lobby")
    assert code == 0
    started = [(e["zone"], e["camera"]) for e in lines if e.get("type") == "alert.started"]
    assert started == [("left", "lobby"), ("right", "lobby")]
    # Two cameras and no --camera: say which.
    assert run(video, cfg, None)[0] == 1
    assert run(video, cfg, "nope")[0] == 1


def test_a_bad_config_is_a_clear_error(video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "cameras:\n  - id: c\n    url: x\n    zones:\n      - {id: z, kind: intrusion, polygon: [[0, 0], [1, 1]]}\n"
    )
    assert run(video, cfg, "c")[0] == 1
    assert "at least 3 points" in capsys.readouterr().err


def test_missing_and_non_video_files_fail_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "nope.mp4")[0] == 1
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    assert run(junk)[0] == 1
    assert "not a readable video" in capsys.readouterr().err


@pytest.mark.parametrize("faststart", [False, True])
def test_a_truncated_file_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str], faststart: bool) -> None:
    full = make_video(tmp_path / "full.mp4", faststart=faststart)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 6 // 10])
    code, _lines = run(cut)
    assert code == 1
    err = capsys.readouterr().err
    assert "truncated" in err or "not a readable video" in err


def test_the_ignore_mask_image_of_the_config_is_used(
    video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mask = tmp_path / "all.png"
    cv2.imwrite(str(mask), np.full((180, 320), 255, np.uint8))
    cfg = tmp_path / "hub.yaml"
    cfg.write_text(f"cameras:\n  - id: lobby\n    url: file:///dev/null\n    analysis: {{ignore_mask: {mask}}}\n")
    code, lines = run(video, cfg)
    assert code == 0 and lines[-1]["alerts"] == 0
    cfg.write_text(
        f"cameras:\n  - id: lobby\n    url: file:///dev/null\n    analysis: {{ignore_mask: {tmp_path}/x.png}}\n"
    )
    assert run(video, cfg)[0] == 1
    err = capsys.readouterr().err
    assert "hub.yaml:4:" in err and "x.png: no such file" in err
