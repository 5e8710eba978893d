"""The hub's WebSockets fed Hypothesis-made input: broken JSON, wrong types, unknown ids, binary
and large frames, receipts out of order. Each frame gets a clear answer (the worker channel: one
error or receipt per frame) or is ignored by a feed that takes no input, the socket stays usable,
and another client of the hub (a dispatcher's feed) notices nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from hub.edge.serving import WS_MAX_FRAME_BYTES
from tests.fuzz.hubproc import FuzzHub, scaled

CHANNELS = ("/ws/events", "/ws/worker", "/ws/calls")
ROLES = ("admin", "dispatcher", "worker", "viewer")

ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
)
steps = st.one_of(
    st.sampled_from(["delivered", "read", "ack", "reply"]), st.text(max_size=10), st.integers(), st.none()
)
receipts = st.fixed_dictionaries(
    {"type": steps, "id": ids},
    optional={"reply": st.one_of(st.text(max_size=40), st.integers(), st.lists(st.text(max_size=3), max_size=3))},
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def frames(draw: st.DrawFn) -> str | bytes | Large:
    kind = draw(st.sampled_from(["receipt", "json", "broken", "text", "binary", "large"]))
    if kind == "receipt":
        return json.dumps(draw(receipts))
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "broken":
        whole = json.dumps(draw(receipts))
        return whole[: draw(st.integers(0, max(0, len(whole) - 1)))]
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "binary":
        return draw(st.binary(max_size=200))
    return Large(draw(st.sampled_from([16 * 1024, 100 * 1024, WS_MAX_FRAME_BYTES + 1, 4 << 20])))


class Large(int):
    """A text frame of this many bytes (shown as its size in a failure report, not as its text)."""

    def frame(self) -> str:
        return '{"type": "ack", "id": 1, "reply": "' + "x" * (self - 33) + '"}'

    def __repr__(self) -> str:
        return f"Large({int(self)})"


def payload(frame: str | bytes | Large) -> str | bytes:
    return frame.frame() if isinstance(frame, Large) else frame


class Bystander:
    """A dispatcher's live feed, read in a thread: it must see every journal entry, and never close."""

    def __init__(self, hub: FuzzHub, stack: ExitStack) -> None:
        url = f"ws://127.0.0.1:{hub.port}/ws/events?token={hub.tokens['dispatcher']}"
        self.ws = stack.enter_context(connect(url, max_size=None, ping_interval=None))
        self.seen: set[int] = set()
        self.closed: Exception | None = None
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                msg = json.loads(raw)
                with self.cond:
                    if isinstance(msg, list):
                        self.seen.update(e["id"] for e in msg if e["type"] == "journal.entry")
                    self.cond.notify_all()
        except Exception as exc:  # the feed ended: recorded, the test fails on it
            self.closed = exc
        else:
            self.closed = RuntimeError(f"closed by the hub: {self.ws.close_code} {self.ws.close_reason}")

    def wait_for(self, event_id: int, timeout_s: float = 10) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: event_id in self.seen or self.closed is not None, timeout_s) and (
                event_id in self.seen
            )


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzHub]:
    with FuzzHub(Path(tmp_path_factory.mktemp("ws-fuzz"))) as h:
        yield h


@pytest.fixture(scope="module")
def bystander(hub: FuzzHub) -> Iterator[Bystander]:
    with ExitStack() as stack:
        yield Bystander(hub, stack)


def journal(hub: FuzzHub, text: str) -> int:
    r = httpx.post(
        f"{hub.url}/api/journal", json={"subject": "fuzz", "text": text, "grid": "g1"}, headers=hub.headers("admin")
    )
    r.raise_for_status()
    return int(r.json()["id"])


def receive_json(ws: ClientConnection, after: object = None) -> Any:
    try:
        return json.loads(ws.recv(timeout=10))
    except TimeoutError:
        raise AssertionError(f"no answer in 10 s (after {after!r:.300})") from None


@contextmanager
def open_channel(hub: FuzzHub, channel: str, role: str) -> Iterator[ClientConnection]:
    url = f"ws://127.0.0.1:{hub.port}{channel}?token={hub.tokens[role]}"
    with connect(url, max_size=None, open_timeout=10, ping_interval=None) as ws:
        yield ready(ws, channel)


def ready(ws: ClientConnection, channel: str) -> ClientConnection:
    first = receive_json(ws)  # each channel says it is ready: live (feed, worker) or the calls list
    if channel == "/ws/events":
        assert first == {"control": "live", "last_id": first["last_id"]} or isinstance(first, list)
    elif channel == "/ws/worker":
        while first.get("type") != "live":
            first = receive_json(ws)
    else:
        assert first["op"] == "calls"
    return ws


@settings(
    max_examples=scaled(25),
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(channel=st.sampled_from(CHANNELS), role=st.sampled_from(ROLES), sent=st.lists(frames(), min_size=1, max_size=8))
def test_fuzzed_frames_get_answers_and_disturb_no_one(
    hub: FuzzHub, bystander: Bystander, channel: str, role: str, sent: list[str | bytes | Large]
) -> None:
    too_large = next((i for i, f in enumerate(sent) if isinstance(f, Large) and f > WS_MAX_FRAME_BYTES), None)
    with open_channel(hub, channel, role) as ws:
        if too_large is not None:
            # The hub closes at once with 1009 (message too big), before reading the frame into memory.
            sent = sent[: too_large + 1]
            with pytest.raises(ConnectionClosed) as closed:
                for frame in sent:
                    ws.send(payload(frame))
                while True:
                    ws.recv(timeout=10)
            # 1009 (message too big); a frame of megabytes may still be on its way when the hub
            # closes, and then the client's side sees the connection reset (1006) instead.
            codes = (1009, 1006) if sent[-1] > 1 << 20 else (1009,)
            assert ws.close_code in codes, (ws.close_code, ws.close_reason, closed.value)
            sent = []
        for frame in sent:
            ws.send(payload(frame))
        if channel == "/ws/worker":
            # One answer per frame, in order: a receipt, or an error saying what was wrong.
            for frame in sent:
                answer = receive_json(ws, frame)
                while answer.get("type") in ("instruction", "amended", "cancelled", "renotify", "notice"):
                    answer = receive_json(ws, frame)
                assert answer["type"] in ("receipt", "error"), (frame, answer)
                if answer["type"] == "error":
                    assert answer["status"] in (404, 409, 422) and answer["detail"], (frame, answer)
        # The socket still works: the feed still delivers, the others still answer a ping.
        entry = journal(hub, f"after {len(sent)} frames on {channel}")
        if channel == "/ws/events" and too_large is None:
            got: list[int] = []
            while entry not in got:
                msg = receive_json(ws)
                got += [e["id"] for e in msg] if isinstance(msg, list) else []
        elif too_large is None:
            ws.ping(b"fuzz").wait(10)
    assert bystander.wait_for(entry), f"the bystander's feed missed entry {entry}: {bystander.closed}"
