"""GB/T 28181 tests: a real hub on loopback and ``scripts/gb_device.py`` as a real device process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from tests.calls.conftest import calls_settings, peers  # noqa: F401 - the fixture
from tests.conftest import REPO, free_port, require_shared_media

DEVICE_SCRIPT = REPO / "scripts" / "gb_device.py"
PASSWORD = "gb-device-password-42"
DEVICE = "35050200001180000001"
SERVER = "35050200002000000001"
CLIP = REPO.parent / "shared" / "media" / "car-detection.mp4"
NAMES = ["东门入口", "南广场", "社区北路口"]


def gb_settings(tmp: Path, **gb: Any) -> Settings:
    """Hub settings with the GB platform on a free SIP port and a small media port range."""
    base = free_port()
    section: dict[str, Any] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": free_port(),
        "media_host": "127.0.0.1",
        "media_ports": [base, base],
        "devices": [{"id": DEVICE}],
        "placement": [{"civil_code": "350502", "grid": "g1"}],
        "keepalive_s": 1.0,
    }
    section.update(gb)
    first, last = section["media_ports"]
    if first == last == base:  # a few consecutive ports that were free a moment ago
        section["media_ports"] = [base, base + 16]
    return calls_settings(tmp, cameras=[], gb28181=section)


class GbDevice:
    """``scripts/gb_device.py`` in a subprocess: its JSON events, its stdin commands."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                pass

    def seen(self, event: str, **match: Any) -> list[dict[str, Any]]:
        """Events of this kind whose fields match."""
        return [e for e in self.events if e["event"] == event and all(e.get(k) == v for k, v in match.items())]

    async def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._task.cancel()


@pytest.fixture
async def gb_device() -> Any:
    """Factory: ``await gb_device(settings, *args)`` starts a simulated device against that hub."""
    require_shared_media()
    made: list[GbDevice] = []

    async def start(settings: Settings, *args: str, password: str = PASSWORD, device: str = DEVICE) -> GbDevice:
        env = {**os.environ, "SKYHUB_GB_PASSWORD": password}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(DEVICE_SCRIPT),
            "--server",
            f"127.0.0.1:{settings.gb28181.port}",
            "--device",
            device,
            "--file",
            str(CLIP),
            "--keepalive",
            str(settings.gb28181.keepalive_s),
            *args,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        dev = GbDevice(proc)
        made.append(dev)
        return dev

    yield start
    for dev in made:
        await dev.close()


def metric(text: str, name: str) -> float:
    """The value of a /metrics sample line (``name`` with its labels, as written)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
