"""``skyhub demo --gb-port PORT``: the demo is also a GB/T 28181 upper platform, with a simulated
NVR (``scripts/gb_device.py``) registered beside it so GB channels show next to the generated cameras."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hub.config import Settings

REPO = Path(__file__).resolve().parent.parent.parent
SIMULATOR = REPO / "scripts" / "gb_device.py"
SHARED_CLIP = REPO.parent / "shared" / "media" / "car-detection.mp4"
SERVER_ID = "35050200002000000001"
DOMAIN = "3505020000"
DEMO_DEVICE = "35050200001180000001"
DEMO_GRID = "grid-d1"


def with_gb(settings: Settings, host: str, port: int, password: str) -> Settings:
    """The demo settings with the platform on ``host:port`` (UDP and TCP), any device accepted that
    knows the demo password (set as ``SKYHUB_GB_PASSWORD`` in this process)."""
    os.environ["SKYHUB_GB_PASSWORD"] = password
    announce = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    gb = settings.gb28181.model_copy(
        update={
            "enabled": True,
            "id": SERVER_ID,
            "domain": DOMAIN,
            "host": host,
            "port": port,
            "media_host": host,
            "announce": announce,
            "accept_any": True,
            "placement": [{"civil_code": "350502", "grid": DEMO_GRID}],
        }
    )
    data = settings.model_dump(mode="python", exclude={"auth": {"secret"}})
    data["gb28181"] = gb.model_dump(mode="python")
    return Settings.model_validate(data)


def describe(settings: Settings) -> list[str]:
    """The fields a device asks for, to print with the logins."""
    gb = settings.gb28181
    return [
        "GB/T 28181 upper platform (point a device or a lower platform here):",
        f"  SIP server id {gb.id}, domain {gb.domain}, address {gb.announce}:{gb.port} (UDP and TCP)",
        "  any 20-digit device id; SIP password: the demo password",
    ]


def start_simulator(settings: Settings, password: str) -> subprocess.Popen[bytes] | None:
    """A simulated NVR with three channels registering with the demo (None when the repository's
    scripts are not there, as in an installed package)."""
    if not SIMULATOR.exists():
        return None
    clip = SHARED_CLIP
    if not clip.exists():
        from streams.synthetic import ensure_scene

        clip = ensure_scene("street", settings.data_dir)
    gb = settings.gb28181
    env = {**os.environ, "SKYHUB_GB_PASSWORD": password}
    args = [
        sys.executable,
        str(SIMULATOR),
        "--server",
        f"{gb.announce}:{gb.port}",
        "--server-id",
        gb.id,
        "--domain",
        gb.domain,
        "--device",
        DEMO_DEVICE,
        "--channels",
        "3",
        "--file",
        str(clip),
        "--keepalive",
        str(min(gb.keepalive_s, 30.0)),
    ]
    return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
