"""ICE: nothing public by default, configured servers and host addresses honoured."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiortc import RTCPeerConnection
from pydantic import ValidationError

from hub.calls.ice import pin_host_addresses, rtc_configuration
from hub.config import IceServerConfig, Settings, apply_env


def test_no_public_stun_by_default() -> None:
    assert Settings().calls.ice_servers == []
    config = rtc_configuration([])
    assert config.iceServers == []  # an explicit empty list: aiortc adds Google's STUN for None


def test_configured_turn_with_password_from_environment() -> None:
    servers = [IceServerConfig(urls=["turn:turn.example:3478"], username="hub", credential_env="TURN_PASSWORD")]
    (server,) = rtc_configuration(servers, env={"TURN_PASSWORD": "s3cret"}).iceServers
    assert server.urls == ["turn:turn.example:3478"] and server.credential == "s3cret"
    with pytest.raises(ValidationError):
        IceServerConfig(urls=["http://example"])


def test_ice_addresses_from_environment(tmp_path: Path) -> None:
    data = apply_env({}, {"SKYHUB_ICE_ADDRESSES": "127.0.0.1, 10.0.0.5"})
    assert Settings.model_validate(data).server.ice_addresses == ["127.0.0.1", "10.0.0.5"]


async def test_only_pinned_addresses_are_announced() -> None:
    pc = RTCPeerConnection(rtc_configuration([]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    pin_host_addresses(pc, ["127.0.0.1"])
    await pc.setLocalDescription(await pc.createOffer())
    candidates = [ln for ln in pc.localDescription.sdp.splitlines() if ln.startswith("a=candidate")]
    await pc.close()
    assert candidates and all(" 127.0.0.1 " in ln and " typ host" in ln for ln in candidates)


def test_mdns_candidates_are_dropped_from_offers() -> None:
    from hub.calls.peer import without_mdns_candidates

    offer = (
        "v=0\r\na=candidate:1 1 udp 2122260223 4f0c-11.local 50000 typ host\r\n"
        "a=candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host\r\n"
    )
    assert without_mdns_candidates(offer) == "v=0\r\na=candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host\r\n"
