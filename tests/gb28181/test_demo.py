"""`skyhub demo --gb-port PORT`: the demo is a GB/T 28181 platform with a simulated NVR beside it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import REPO, free_port
from tests.gb28181.conftest import NAMES


def launch(port: int, gb_port: int, data: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """The demo as the README runs it, with the GB port given."""
    args = ["demo", "--port", str(port), "--gb-port", str(gb_port), "--data", str(data)]
    return subprocess.Popen(
        [sys.executable, "-m", "hub", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


async def test_demo_shows_gb_channels_next_to_its_cameras(tmp_path: Path) -> None:
    port, gb_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SKYHUB_SECRET", "SKYHUB_DEMO_PASSWORD")}
    proc = launch(port, gb_port, tmp_path, env)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any("SIP password" in line for line in lines):
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
            assert line, "demo exited early"
            lines.append(line)
        text = "".join(lines)
        assert f"SIP server id 35050200002000000001, domain 3505020000, address 127.0.0.1:{gb_port}" in text
        logins = dict(re.findall(r"^  (\w+)\s+(\S+)$", text, re.M))
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
            async with asyncio.timeout(90):
                while True:
                    cams = {x["id"]: x for x in (await c.get("/api/cameras", headers=headers)).json()}
                    gb = {k: v for k, v in cams.items() if v["source"] == "gb28181"}
                    if len(gb) == 3 and all(v["state"] == "online" for v in gb.values()):
                        break
                    await asyncio.sleep(0.5)
            assert sorted(v["name"] for v in gb.values()) == sorted(NAMES)
            assert all(re.fullmatch(r"gb-\d{20}", k) for k in gb)
            assert {v["grid"] for v in gb.values()} == {"grid-d1"}
            assert "ferry-square" in cams  # beside the generated cameras
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("demo did not stop within 20 s of SIGINT") from None
