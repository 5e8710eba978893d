"""SIGKILL in the middle of a burst of appends: nothing answered is lost, ids go on without gaps."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import REPO, free_port
from tests.hub.conftest import PASSWORD, SECRET, TEST_HASHER


class HubProcess:
    """`python -m hub run` as a real process on a loopback port."""

    def __init__(self, config: Path, data: Path) -> None:
        self.config, self.data = config, data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "SKYHUB_SECRET": SECRET}
        with (self.data.parent / "hub-stderr.log").open("ab") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hub",
                    "run",
                    "--config",
                    str(self.config),
                    "--port",
                    str(self.port),
                    "--data",
                    str(self.data),
                    "--log-level",
                    "warning",
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def stderr(self) -> str:
        """The end of what the hub wrote to stderr (for failure messages)."""
        path = self.data.parent / "hub-stderr.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as c, asyncio.timeout(30):
            while True:
                assert self.proc is not None and self.proc.poll() is None, "hub exited at startup: " + self.stderr()
                try:
                    if (await c.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    def kill_now(self) -> None:
        """SIGKILL at once, without waiting: called from the loop in the middle of a burst (a thread
        hop could queue behind the client's own executor work and land after the burst)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def hub_process(tmp_path: Path) -> Iterator[HubProcess]:
    cfg = {"users": [{"username": "dispatcher", "roles": ["dispatcher"], "password_hash": TEST_HASHER.hash(PASSWORD)}]}
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(cfg))
    hp = HubProcess(path, tmp_path / "data")
    yield hp
    hp.kill()


async def test_sigkill_mid_burst_loses_no_answered_append(hub_process: HubProcess) -> None:
    hub_process.start()
    await hub_process.wait_ready()
    async with httpx.AsyncClient(base_url=hub_process.url, timeout=10) as c:
        r = await c.post("/api/auth/login", json={"username": "dispatcher", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    answered: dict[int, str] = {}
    enough = asyncio.Event()

    async def writer(n: int) -> None:
        async with httpx.AsyncClient(base_url=hub_process.url, headers=headers, timeout=10) as c:
            for seq in range(100_000):
                text = f"w{n}-{seq}"
                try:
                    r = await c.post("/api/journal", json={"text": text})
                except httpx.TransportError:
                    return  # the hub is gone: this append was never answered
                assert r.status_code == 201
                answered[r.json()["id"]] = text
                if len(answered) >= 400:
                    enough.set()

    tasks = [asyncio.create_task(writer(n)) for n in range(16)]
    await asyncio.wait_for(enough.wait(), 60)
    hub_process.kill_now()
    await asyncio.to_thread(hub_process.kill)  # reap it
    await asyncio.wait_for(asyncio.gather(*tasks), 30)

    hub_process.start()
    await hub_process.wait_ready()
    async with httpx.AsyncClient(base_url=hub_process.url, headers=headers, timeout=10) as c:
        stored: dict[int, str] = {}
        ids: list[int] = []
        since = 0
        while True:
            page = (await c.get("/api/events", params={"since": since, "limit": 1000})).json()
            if not page["events"]:
                break
            for e in page["events"]:
                ids.append(e["id"])
                if e["type"] == "journal.entry":
                    stored[e["id"]] = e["data"]["text"]
            since = page["last_id"]
        assert ids == list(range(1, len(ids) + 1)), "ids must have no gaps or repeats"
        missing = {i: t for i, t in answered.items() if stored.get(i) != t}
        assert not missing, f"{len(missing)} answered appends lost or changed"
        r = await c.post("/api/journal", json={"text": "after restart"})
        assert r.json()["id"] == ids[-1] + 1
