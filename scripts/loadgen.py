"""Shared pieces of the benchmarks: a hub process, a cheap HTTP client, percentiles, CPU time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
PASSWORD = "bench-password"


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def machine() -> str:
    """Cores, Python and the load average: a reader can tell a quiet run from a busy one."""
    one, five, _ = os.getloadavg()
    py = sys.version.split()[0]
    return f"{os.cpu_count()} cores; python {py}; load average {one:.2f} (1 min), {five:.2f} (5 min)"


def proc_cpu_s(pid: int) -> float:
    """User+system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_rtsp_stand_in(port: int, *mounts: str) -> subprocess.Popen[str]:
    """GStreamer's RTSP stand-in (``scripts/rtsp_server.py``) on ``port`` with ``mounts``, once it
    says READY; the caller terminates it."""
    args = [a for m in mounts for a in ("--mount", m)]
    server = subprocess.Popen(
        ["/usr/bin/python3", str(REPO / "scripts" / "rtsp_server.py"), "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    if "READY" not in server.stdout.readline():
        server.kill()
        server.wait(10)
        raise RuntimeError("RTSP stand-in did not start")
    return server


def start_hub(
    tmp: Path, port: int, queue_events: int = 512, extra: dict[str, Any] | None = None
) -> subprocess.Popen[bytes]:
    """``skyhub run`` on a config with one dispatcher login ``bench`` (plus ``extra`` sections)."""
    from argon2 import PasswordHasher

    cfg = tmp / "bench.yaml"
    h = PasswordHasher().hash(PASSWORD)
    cfg.write_text(
        yaml.safe_dump(
            {
                "server": {"ws_queue_events": queue_events},
                "users": [{"username": "bench", "roles": ["dispatcher"], "password_hash": h}],
                **(extra or {}),
            }
        )
    )
    env = {**os.environ, "SKYHUB_SECRET": SECRET}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub",
            "run",
            "--config",
            str(cfg),
            "--port",
            str(port),
            "--data",
            str(tmp / "data"),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def scratch_postgres(admin: str) -> Iterator[str]:
    """A fresh database for one run, dropped afterwards."""
    import uuid

    import psycopg

    name = f"skyhub_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def wait_http(url: str) -> None:
    """Wait (bounded) until ``url`` answers 200."""
    import httpx

    async with httpx.AsyncClient() as c:
        for _ in range(300):
            try:
                if (await c.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def login(base: str) -> str:
    """A token for the ``bench`` user."""
    import httpx

    async with httpx.AsyncClient(base_url=base) as c:
        r = await c.post("/api/auth/login", json={"username": "bench", "password": PASSWORD})
        r.raise_for_status()
        return str(r.json()["access_token"])


class RawHttp:
    """A minimal HTTP/1.1 keep-alive client: the load generator must cost far less than the hub."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        """Send one request on the kept-alive connection; ``(status, body)``."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = body.encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.token}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + payload)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    async def post_json(self, path: str, body: bytes) -> int:
        """POST a JSON body; the status code."""
        status, _ = await self.request("POST", path, body.decode())
        return status
