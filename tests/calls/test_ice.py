"""ICE: nothing public by default, configured servers and host addresses honoured."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aioice.ice
import pytest
from aioice import Connection
from aiortc import RTCPeerConnection
from pydantic import ValidationError

import hub.calls.ice
from hub.calls.ice import _pin, pin_host_addresses, rfc_7675_consent, rtc_configuration
from hub.config import IceServerConfig, Settings, apply_env
from tests.calls.conftest import poll


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


async def connected_pair(relaxed: bool, expiry_s: float = 30.0) -> tuple[Connection, Connection]:
    """Two ICE agents connected over loopback; ``relaxed``: the first loses consent as RFC 7675 says
    (after ``expiry_s`` without an answer)."""
    a, b = Connection(ice_controlling=True, components=1), Connection(ice_controlling=False, components=1)
    for conn in (a, b):
        _pin(conn, ["127.0.0.1"])
        await conn.gather_candidates()
    for me, other in ((a, b), (b, a)):
        me.remote_username, me.remote_password = other.local_username, other.local_password
        for candidate in other.local_candidates:
            await me.add_remote_candidate(candidate)
        await me.add_remote_candidate(None)
    if relaxed:
        rfc_7675_consent(a, expiry_s)
    await asyncio.gather(a.connect(), b.connect())
    return a, b


def answer_late(conn: Connection, delay_s: float | None) -> None:
    """``conn`` answers connectivity and consent checks ``delay_s`` late (None: never)."""
    on_time = conn.request_received

    def late(*args: Any) -> None:
        if delay_s is not None:
            asyncio.get_running_loop().call_later(delay_s, on_time, *args)

    conn.request_received = late  # type: ignore[method-assign]


async def test_a_peer_that_answers_late_keeps_consent_and_a_silent_one_loses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A loaded process answers consent checks late: its sockets hold seconds of media ahead of each
    # check. aioice alone gives up after six answers later than 0.5 s (every peer of a loaded hub
    # dropped within half a minute, media still flowing); RFC 7675 counts an answer to any check
    # sent within the expiry, however late it comes. Checks go out 25 times more often here.
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    monkeypatch.setattr(hub.calls.ice, "CONSENT_INTERVAL", 0.2)
    late_s, expiry_s = 4.5, 6.0  # later than a check's retransmissions last (3.5 s)
    stock, stock_peer = await connected_pair(relaxed=False)
    ours, our_peer = await connected_pair(relaxed=True, expiry_s=expiry_s)
    try:
        answer_late(stock_peer, 0.7)
        answer_late(our_peer, late_s)
        t0 = time.monotonic()
        # aioice's own rule: six late answers in a row (0.7 s each) end consent.
        await poll(lambda: not stock._nominated, 15, "aioice giving up on late answers", period_s=0.05)
        # Ours holds well past the expiry, every answer 4.5 s late.
        await asyncio.sleep(max(0.0, t0 + expiry_s + 3 - time.monotonic()))
        assert ours._nominated, "late answers ended consent"
        answer_late(our_peer, None)  # now silent: consent ends once no check sent within the expiry is answered
        t_silent = time.monotonic()
        await poll(lambda: not ours._nominated, 15, "a silent peer losing consent", period_s=0.05)
        assert time.monotonic() - t_silent <= expiry_s + 1.2 * 0.2 + 1.0
    finally:
        for conn in (stock, stock_peer, ours, our_peer):
            await conn.close()
