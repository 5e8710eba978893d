"""The analysis layer on its own: ``python -m alerts.offline`` with only ``streams`` and ``alerts`` there."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from hub.cli import analyze_command
from tests.alerts.test_offline import make_video

REPO = Path(__file__).resolve().parents[2]

RUN_WITHOUT_HUB = textwrap.dedent(
    """
    import runpy, sys
    from importlib.abc import MetaPathFinder

    class NoHub(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "hub" or name.startswith("hub."):
                raise ImportError(f"the analysis imported {name}")
            return None

    sys.meta_path.insert(0, NoHub())
    sys.path.insert(0, sys.argv[1])
    sys.argv = ["python -m alerts.offline", *sys.argv[2:]]
    try:
        runpy.run_module("alerts.offline", run_name="__main__")
    finally:
        import alerts, streams
        sys.stderr.write("FROM " + alerts.__file__ + " " + streams.__file__ + "\\n")
    """
)


def test_analysis_runs_without_the_hub(tmp_path: Path) -> None:
    video = make_video(tmp_path / "walk.mp4")
    alone = tmp_path / "alone"
    for package in ("streams", "alerts"):
        shutil.copytree(REPO / package, alone / package, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_HUB, str(alone), str(video), "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"FROM {alone / 'alerts' / '__init__.py'} {alone / 'streams' / '__init__.py'}" in proc.stderr
    *events, summary = [json.loads(line) for line in proc.stdout.splitlines()]
    assert summary["type"] == "summary" and summary["alerts"] == 1

    # The same events as `skyhub analyze` on the same file.
    out = io.StringIO()
    assert analyze_command(video, None, None, True, out) == 0
    *hub_events, _ = [json.loads(line) for line in out.getvalue().splitlines()]

    def same(evs: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in e.items() if k != "alert_id"} for e in evs]  # ids are random

    assert same(events) == same(hub_events)
    assert [(e["type"], e["kind"]) for e in events] == [("alert.started", "motion"), ("alert.ended", "motion")]
