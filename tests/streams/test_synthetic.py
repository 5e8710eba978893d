"""Synthetic street scenes: rendered once, cached, playable as a looped live camera."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest

from streams.synthetic import ensure_scene
from tests.conftest import wait_until
from tests.streams.conftest import ManagerFactory


def _gray_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray") for f in c.decode(video=0)]


@pytest.mark.parametrize("name", ["street", "plaza"])
def test_scene_is_a_camera_like_h264_file(scene_dir: Path, name: str) -> None:
    path = ensure_scene(name, scene_dir)
    assert path == scene_dir / "scenes" / f"{name}.mp4"
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.width, s.height) == ("h264", 640, 360)
        assert s.codec_context.pix_fmt == "yuv420p"
        assert s.codec_context.profile in ("Baseline", "Constrained Baseline", "Main")
        fps = float(s.average_rate)
        assert 10 <= fps <= 15
        keys = [float(p.pts * p.time_base) for p in c.demux(s) if p.is_keyframe]
        duration = s.frames / fps  # inside: PyAV 18 refuses to read a closed container's streams
    assert 20 <= duration <= 30
    gaps = np.diff(keys)
    assert len(keys) >= 10 and np.all(np.abs(gaps - 2.0) < 0.5), keys


def test_scene_has_moving_figures_and_layouts_differ(scene_dir: Path) -> None:
    street = _gray_frames(ensure_scene("street", scene_dir))
    plaza = _gray_frames(ensure_scene("plaza", scene_dir))
    # Something moves through the whole scene, not just at the start.
    for i in range(0, len(street) - 12, 12):
        moved = np.count_nonzero(np.abs(street[i].astype(int) - street[i + 12].astype(int)) > 25)
        assert moved > 200, f"no motion around frame {i}"
    assert np.mean(np.abs(street[0].astype(int) - plaza[0].astype(int))) > 10


def test_scene_is_cached_and_rerender_is_atomic(tmp_path: Path) -> None:
    t0 = time.monotonic()
    first = ensure_scene("plaza", tmp_path)
    assert time.monotonic() - t0 < 20
    mtime = first.stat().st_mtime_ns
    assert ensure_scene("plaza", tmp_path) == first
    assert first.stat().st_mtime_ns == mtime
    assert [p.name for p in (tmp_path / "scenes").iterdir()] == ["plaza.mp4"]  # no temp files left


def test_unknown_scene_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown synthetic scene"):
        ensure_scene("moon", tmp_path)


async def test_synthetic_url_plays_live_and_loops(make_manager: ManagerFactory) -> None:
    m = await make_manager({"id": "s", "url": "synthetic://street", "analysis": {"fps": 2}})
    cam = m.get("s")
    assert cam is not None
    await wait_until(lambda: cam.state == "online", 15, "synthetic camera online")
    sub = cam.subscribe()
    first = await sub.get()
    assert first.keyframe
    t0 = time.monotonic()
    n, last_dts = 0, first.dts
    while time.monotonic() - t0 < 2.0:
        p = await sub.get()
        assert p.dts > last_dts
        last_dts = p.dts
        n += 1
    # Paced at the native 12 fps, not as fast as the disk allows.
    assert 12 <= n <= 40
