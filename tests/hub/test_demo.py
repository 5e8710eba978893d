"""`skyhub demo` as a newcomer runs it: prints the URL and logins, serves generated cameras."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import REPO, SHARED_MEDIA, free_port


def launch_demo(port: int, data: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """The demo exactly as the README's command runs it (after setup), on a free port; its log
    (stderr) goes to ``demo.log`` beside ``data``, for a failure to quote."""
    with (data.parent / "demo.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "hub", "demo", "--port", str(port), "--data", str(data)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )


async def test_demo_runs_with_generated_cameras(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SKYHUB_SECRET", "SKYHUB_DEMO_PASSWORD")}
    proc = launch_demo(port, tmp_path / "data", env)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any(line.startswith("  worker3") for line in lines):
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
            assert line, "demo exited early"
            lines.append(line)
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in text
        logins = dict(re.findall(r"^  (\w+)\s+(\S+)$", text, re.M))
        assert set(logins) == {"admin", "dispatcher", "coordinator", "worker1", "worker2", "worker3"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            async with asyncio.timeout(60):
                while True:
                    try:
                        if (await c.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.2)
            r = await c.post("/api/auth/login", json={"username": "dispatcher", "password": logins["dispatcher"]})
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            async with asyncio.timeout(60):
                while True:
                    cams = {x["id"]: x for x in (await c.get("/api/cameras", headers=headers)).json()}
                    if cams and all(x["state"] == "online" for x in cams.values()):
                        break
                    await asyncio.sleep(0.5)
            assert {"ferry-square", "school-gate"} <= set(cams)
            if SHARED_MEDIA.is_dir():
                assert {"lab-entrance", "harbour-road", "market-stall"} <= set(cams)
            assert cams["ferry-square"]["width"] == 640 and cams["ferry-square"]["codec"] == "h264"
            snap = await c.get("/api/cameras/ferry-square/snapshot.jpg", headers=headers)
            assert snap.status_code == 200 and snap.content[:3] == b"\xff\xd8\xff"
            assert (tmp_path / "data" / "scenes" / "street.mp4").is_file()
            # A worker sees only the cameras of their grid.
            r = await c.post("/api/auth/login", json={"username": "worker3", "password": logins["worker3"]})
            mine = (await c.get("/api/cameras", headers={"Authorization": f"Bearer {r.json()['access_token']}"})).json()
            assert {x["grid"] for x in mine} == {"grid-o1"}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("demo did not stop within 20 s of SIGINT") from None
    # A graceful stop on Ctrl-C exits with the shell's code for it (128 + SIGINT).
    log = (tmp_path / "demo.log").read_text(errors="replace")
    assert proc.returncode == 128 + signal.SIGINT, f"exit code {proc.returncode}; the demo's log ends:\n{log[-3000:]}"


def test_demo_with_a_short_secret_says_so_and_starts_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "SKYHUB_SECRET": "short"}
    r = subprocess.run(
        [sys.executable, "-m", "hub", "demo", "--port", str(free_port()), "--data", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "SKYHUB_SECRET must be at least 32 characters" in r.stderr and "Traceback" not in r.stderr
    assert "logins" not in r.stdout  # no logins printed for a hub that never starts
