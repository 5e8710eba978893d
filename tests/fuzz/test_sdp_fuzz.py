"""WHEP offers made by Hypothesis from a real browser-like offer: truncated, lines dropped, doubled,
swapped or replaced by garbage, numbers and candidates bent, bytes that are not UTF-8, no SDP at
all. Each gets 201 (then the session is ended) or a 4xx with its reason; never a 5xx, never a hang,
nothing in the hub's log, and another client's live feed notices nothing."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from hub.calls.ice import pin_host_addresses
from tests.fuzz.hubproc import CAMERA, FuzzHub, log_problems, scaled

ANSWER_S = 5.0


async def _offer() -> list[str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    offer = await pc.createOffer()
    pin_host_addresses(pc, ["127.0.0.1"])
    await pc.setLocalDescription(offer)
    lines = str(pc.localDescription.sdp).splitlines()
    await pc.close()
    return lines


OFFER = asyncio.run(_offer())
"""A real offer (aiortc's, loopback candidates), as lines: what the mutations start from."""

garbage_lines = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["a=", "m=", "m=video", "m=video x UDP/TLS/RTP/SAVPF", "c=IN IP4", "a=candidate:", "=", "v=1"]),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from("vosctmab"), st.text(max_size=60)),
    st.builds(
        lambda n: f"a=candidate:1 1 udp {n} 127.0.0.1 {n} typ host",
        st.integers(min_value=-(2**40), max_value=2**40),
    ),
    st.builds(lambda n: f"m=video {n} UDP/TLS/RTP/SAVPF 96", st.integers(min_value=-(2**40), max_value=2**40)),
    st.sampled_from(["a=fingerprint:sha-256 zz", "a=fingerprint:md5 00:11", "a=setup:nonsense", "a=rtpmap:96 H264"]),
)


@st.composite
def offers(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "truncated", "text", "bytes", "huge"]))
    if kind == "text":
        return draw(st.text(max_size=400))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    whole = "\r\n".join(OFFER) + "\r\n"
    if kind == "truncated":
        return whole[: draw(st.integers(0, len(whole) - 1))]
    if kind == "huge":
        return whole + "a=x-pad:" + "p" * draw(st.sampled_from([60_000, 70_000, 300_000])) + "\r\n"
    lines = list(OFFER)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "double", "swap", "replace", "insert"]))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "double":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "replace":
            lines[i] = draw(garbage_lines)
        else:
            lines.insert(i, draw(garbage_lines))
    return draw(st.sampled_from(["\r\n", "\n"])).join(lines) + "\r\n"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzHub]:
    with FuzzHub(Path(tmp_path_factory.mktemp("sdp-fuzz"))) as h:
        yield h


class Feed:
    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.cond = threading.Condition()

    def wait_for(self, event_id: int, timeout_s: float = 10) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: event_id in self.ids, timeout_s)


@pytest.fixture(scope="module")
def feed(hub: FuzzHub) -> Iterator[Feed]:
    """A dispatcher's live feed in a thread, opened before the fuzz (it must keep going throughout)."""
    got = Feed()
    url = f"ws://127.0.0.1:{hub.port}/ws/events?token={hub.tokens['dispatcher']}"
    with ExitStack() as stack:
        ws = stack.enter_context(connect(url, max_size=None, ping_interval=None))

        def read() -> None:
            for raw in ws:
                msg = json.loads(raw)
                if isinstance(msg, list):
                    with got.cond:
                        got.ids.update(int(e["id"]) for e in msg)
                        got.cond.notify_all()

        threading.Thread(target=read, daemon=True).start()
        yield got


@settings(
    max_examples=scaled(40),
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(offer=offers(), role=st.sampled_from(["admin", "dispatcher", "worker", "viewer"]))
def test_fuzzed_offers_get_an_answer_or_a_reason(hub: FuzzHub, feed: Feed, offer: str | bytes, role: str) -> None:
    headers = {**hub.headers(role), "Content-Type": "application/sdp"}
    with httpx.Client(base_url=hub.url, timeout=ANSWER_S) as c:
        r = c.post(f"/whep/{CAMERA}", content=offer, headers=headers)
        if r.status_code == 201:  # still a usable offer: end the session at once
            assert r.headers["content-type"].startswith("application/sdp")
            assert c.delete(r.headers["location"], headers=hub.headers(role)).status_code == 204
            return
        assert r.status_code in (400, 415, 422), (r.status_code, r.text, offer)
        assert r.json()["detail"], r.text


def test_after_the_fuzzed_offers_the_hub_still_serves_and_logged_nothing(hub: FuzzHub, feed: Feed) -> None:
    # Runs after the fuzz in this module (same hub): a fresh offer still gets its answer, and the
    # feed opened before the fuzz still delivers.
    whole = "\r\n".join(OFFER) + "\r\n"
    headers = {**hub.headers("admin"), "Content-Type": "application/sdp"}
    r = httpx.post(f"{hub.url}/whep/{CAMERA}", content=whole, headers=headers, timeout=ANSWER_S)
    assert r.status_code == 201, r.text
    httpx.delete(f"{hub.url}{r.headers['location']}", headers=hub.headers("admin"), timeout=ANSWER_S)
    entry = httpx.post(
        f"{hub.url}/api/journal", json={"subject": "fuzz", "text": "after"}, headers=hub.headers("admin")
    ).json()["id"]
    assert feed.wait_for(entry), "the feed opened before the fuzz stopped delivering"
    assert not log_problems(hub), "\n".join(log_problems(hub))
