"""A peer this project did not write: sipp plays a GB/T 28181 device's REGISTER (digest) and keepalives."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.gb28181.conftest import PASSWORD, SERVER, gb_settings
from tests.gb28181.test_platform import _event
from tests.hub.conftest import serve

SCENARIO = Path(__file__).parent / "sipp" / "register_keepalive.xml"
SIPP_DEVICE = "35050200001110000077"


async def _sipp(port: int, password: str, transport: str, tmp: Path) -> tuple[int, str]:
    cmd = [
        "sipp",
        f"127.0.0.1:{port}",
        "-sf",
        str(SCENARIO),
        "-m",
        "1",
        "-t",
        "u1" if transport == "udp" else "t1",
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        "-au",
        SIPP_DEVICE,
        "-ap",
        password,
        "-key",
        "device",
        SIPP_DEVICE,
        "-key",
        "server",
        SERVER,
        "-key",
        "domain",
        "3505020000",
        "-timeout",
        "20s",
        "-trace_err",
        "-error_file",
        str(tmp / "sipp-errors.log"),
        "-nostdin",
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=tmp
    )
    _, err = await asyncio.wait_for(proc.communicate(), 40)
    errors = (tmp / "sipp-errors.log").read_text(errors="replace") if (tmp / "sipp-errors.log").exists() else ""
    return proc.returncode or 0, err.decode(errors="replace") + errors


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sipp_registers_with_digest_and_keeps_alive(tmp_path: Path, monkeypatch: Any, transport: str) -> None:
    require(shutil.which("sipp") is not None, "sipp (Debian package sip-tester) is not installed")
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path, devices=[{"id": SIPP_DEVICE}], keepalive_s=2.0)
    async with serve(settings) as rh:
        code, text = await _sipp(settings.gb28181.port, "not the password", transport, tmp_path)
        assert code != 0  # 403 where it expected 200: sipp reports the call failed
        assert await _event(rh, "gb.device.online") is None
        code, text = await _sipp(settings.gb28181.port, PASSWORD, transport, tmp_path)
        assert code == 0, text
        online = await _event(rh, "gb.device.online")
        assert online is not None and online["subject"] == f"gb-device-{SIPP_DEVICE}"
        assert rh.hub.gb.platform.devices[SIPP_DEVICE].online
        assert rh.hub.gb.platform.refused["auth"] == 1
