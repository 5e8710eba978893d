"""A real hub process on loopback for the fuzzers (the tests and scripts/fuzz.py), with a login of
each role, and the checks made after a run: still healthy, and the event log whole."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import yaml

from tests.conftest import REPO, free_port, seed_scenes
from tests.hub.conftest import _HASH, BASE_CONFIG, PASSWORD, SECRET

CAMERA = "cam-street"
"""A synthetic camera in grid g1 (worker1's), encoded by the hub itself: offers reach its SDP checks."""

ROLES: dict[str, str | None] = {
    "admin": "admin",
    "dispatcher": "dispatcher",
    "coordinator": "coordinator",
    "worker": "worker1",
    "viewer": "viewer",
    "none": None,
}
"""Each role the fuzzers act as, by the login that has it (``none``: no token at all)."""


def scaled(examples: int) -> int:
    """``examples`` times ``SKYHUB_FUZZ_SCALE`` (1 in the suite; scripts/fuzz.py raises it for a long run)."""
    return max(1, int(examples * float(os.environ.get("SKYHUB_FUZZ_SCALE", "1"))))


def fuzz_config() -> dict[str, Any]:
    data = copy.deepcopy(BASE_CONFIG)
    for u in data["users"]:
        u["password_hash"] = _HASH
    data["server"] = {"ice_addresses": ["127.0.0.1"]}
    data["cameras"] = [{"id": CAMERA, "url": "synthetic://street", "grid": "g1", "analysis": {"enabled": False}}]
    data["calls"] = {"video_width": 320, "video_height": 180, "video_fps": 10, "video_bitrate_bps": 300_000}
    return data


@dataclass
class FuzzHub:
    """``python -m hub run`` on a free loopback port, with the fuzz configuration."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "hub-stderr.log"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "hub.yaml"
        config.write_text(yaml.safe_dump(fuzz_config()))
        seed_scenes(self.workdir / "data", (c["url"] for c in fuzz_config()["cameras"]))
        env = {**os.environ, "SKYHUB_SECRET": SECRET}
        with self.log_path.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub", "run", "--config", str(config), "--port", str(self.port)]
                + ["--data", str(self.workdir / "data"), "--log-level", "warning"],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=self.url, timeout=5) as c:
            while True:
                assert self.proc.poll() is None, "hub exited at startup: " + self.log()
                try:
                    if c.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "hub did not start in 60 s: " + self.log()
                time.sleep(0.2)
            for role, username in ROLES.items():
                if username is not None:
                    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
                    r.raise_for_status()
                    self.tokens[role] = r.json()["access_token"]

    def headers(self, role: str) -> dict[str, str]:
        token = self.tokens.get(role)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> FuzzHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def log_problems(hub: FuzzHub) -> list[str]:
    """What the hub logged that no input should cause: tracebacks and errors."""
    lines = hub.log().splitlines()
    return [line for line in lines if "Traceback" in line or " ERROR " in line or line.startswith("ERROR")]


def minted_token(username: str, ttl_s: int = 3600) -> str:
    """A token signed with the hub's secret outside it (no session: a fuzzed logout cannot end it)."""
    now = int(time.time())
    return jwt.encode({"sub": username, "iat": now, "exp": now + ttl_s}, SECRET, algorithm="HS256")


def event_log_gaps(hub: FuzzHub) -> tuple[int, list[int]]:
    """``(head, missing ids)``: every event id from 1 to the head, read back as an admin."""
    seen: list[int] = []
    since = 0
    auth = {"Authorization": f"Bearer {minted_token('admin')}"}
    with httpx.Client(base_url=hub.url, timeout=10) as c:
        while True:
            page = c.get("/api/events", params={"since": since, "limit": 1000}, headers=auth).raise_for_status().json()
            seen += [e["id"] for e in page["events"]]
            if not page["events"]:
                head = page["head_id"]
                break
            since = page["events"][-1]["id"]
    expected = set(range(1, head + 1))
    return head, sorted(expected - set(seen))
